"""Server settings: read once at start-up from `POND_*` variables or `pond.toml`.

`load_settings()` is the only entry point; it turns every validation failure into
a `ConfigError` naming the variable and what it accepts. Nothing reads the
environment at import time.
"""

from __future__ import annotations

import re
import tomllib
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from pond.entities.configured import EntityConfig
from pond.errors import ConfigError
from pond.webhooks.addresses import parse_networks

ENV_PREFIX = "POND_"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Settings(BaseSettings):
    """Every server setting, with its default. Documented in docs/settings.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        toml_file="pond.toml",
        extra="ignore",
        frozen=True,
    )

    data_dir: Path = Field(
        default=Path("pond-data"),
        description="Where the embedded database, keys and local objects live.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL; unset starts the embedded server in DATA_DIR/pg.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL written into hrefs; unset takes it from each request.",
    )
    part_max_rows: int = Field(
        default=1_000_000, ge=1, description="Most data rows in one exported part."
    )
    export_streams: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Parts one export job exports at once, each on its own connection.",
    )
    export_helpers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Helper jobs asked to share a snapshot's parts with its export job.",
    )
    link_ttl: int = Field(
        default=3600, ge=1, description="Lifetime of a signed download link, seconds."
    )
    token_ttl: int = Field(
        default=3600, ge=1, description="Lifetime of an access token, seconds (expires_in)."
    )
    retention_days: float = Field(
        default=7, gt=0, description="How long a snapshot and its files are kept, days."
    )
    storage_url: str | None = Field(
        default=None,
        description="file:///path for local objects (default DATA_DIR/objects).",
    )
    worker_concurrency: int = Field(
        default=2, ge=1, le=64, description="Export jobs one worker process runs at once."
    )
    log_format: str = Field(
        default="auto",
        pattern="^(auto|json|console)$",
        description="auto: pretty on a terminal, JSON otherwise.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3-compatible server for s3:// storage; unset: AWS S3.",
    )
    s3_region: str | None = Field(
        default=None,
        pattern="^[a-z0-9-]{1,32}$",
        description="Region of the s3:// bucket; unset: the AWS default chain.",
    )
    rate_limit_per_minute: int = Field(
        default=0,
        ge=0,
        description="Snapshot API requests one client may make per minute; 0: no limit.",
    )
    max_active_snapshots: int = Field(
        default=20,
        ge=0,
        description="Pending and running snapshots one organisation may have; 0: no cap.",
    )
    token_failure_limit: int = Field(
        default=10,
        ge=0,
        description="Failed token requests per client id or IP in a window before 429; 0: off.",
    )
    token_failure_window: int = Field(
        default=60, ge=1, description="The window of POND_TOKEN_FAILURE_LIMIT, seconds."
    )
    header_timeout: float = Field(
        default=10,
        gt=0,
        le=3600,
        description="Seconds a client has to send a complete request head; then 408.",
    )
    body_timeout: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="Seconds a request body may take to arrive once pond reads it; then 408.",
    )
    entities: dict[str, EntityConfig] = Field(
        default_factory=dict,
        description="Operator entities: [entities.NAME] tables of pond.toml, or JSON.",
    )
    db_pool_size: int = Field(
        default=20,
        ge=2,
        le=500,
        description="Most database connections the API of one process holds.",
    )
    webhook_allow_cidrs: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(),
        description="Ranges webhooks may reach besides public addresses (CIDRs, comma-separated).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then the environment, then pond.toml.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://pond.example.com")
        return value.rstrip("/")

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme == "s3":
            if not _BUCKET.match(parts.netloc) or parts.query or parts.fragment:
                raise ValueError(
                    "must be s3://bucket or s3://bucket/prefix with a valid bucket name"
                    " (3-63 lower-case letters, digits, dots and hyphens)"
                )
            return value.rstrip("/")
        if parts.scheme != "file":
            raise ValueError("must be a file:///path or s3://bucket/prefix URL")
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError("must be an absolute file URL with three slashes: file:///srv/pond")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _check_s3_endpoint_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as http://127.0.0.1:9000")
        return value.rstrip("/")

    @field_validator("webhook_allow_cidrs", mode="before")
    @classmethod
    def _check_webhook_allow_cidrs(cls, value: object) -> object:
        # Comma-separated text in the environment, a list of strings in pond.toml.
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple) and all(isinstance(i, str) for i in items):
            return parse_networks(items)
        return value

    @property
    def objects_dir(self) -> Path:
        """Directory of the local object store."""
        if self.storage_url and self.storage_url.startswith("file:"):
            return Path(urlsplit(self.storage_url).path)
        return self.data_dir / "objects"

    @property
    def retention_seconds(self) -> int:
        return int(self.retention_days * 86400)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings, or raise `ConfigError` naming the bad variable."""
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"pond.toml is not valid TOML: {exc}", hint="fix the file or remove it"
        ) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = ENV_PREFIX + field.upper()
            given = error.get("input")
            problems.append(f"{name}: {error['msg']} (got {given!r})")
        raise ConfigError(
            "invalid setting: " + "; ".join(problems),
            hint="fix the variable (or its key in pond.toml); see docs/settings.md",
        ) from None

"""Where the client finds its credentials and endpoints.

Each setting comes from the first of: an argument, the environment
(`POND_CLIENT_ID`, `POND_CLIENT_SECRET`, `POND_API_URL`, `POND_TOKEN_URL`),
a profile of the config file (`pond configure` writes it, mode 0600), or the
default: the hosted service's documented endpoints. When the API URL is not
the hosted one and no token URL is set, the token URL is the API's own
`/oauth2/token`, so credentials for one server are never sent to another.

The config file is `$POND_CONFIG`, else `$XDG_CONFIG_HOME/pond/config.toml`,
else `~/.config/pond/config.toml`; the profile is `$POND_PROFILE` or `default`.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pond.client.errors import ConfigurationError

DEFAULT_API_URL = "https://api.sgipond.com"
DEFAULT_TOKEN_URL = "https://sgipond.auth.us-west-2.amazoncognito.com/oauth2/token"  # noqa: S105 -- an URL
DEFAULT_SCOPE = "pond/insights.snapshots"
DEFAULT_PROFILE = "default"
KEYS = ("client_id", "client_secret", "api_url", "token_url")
_ENV = {key: f"POND_{key.upper()}" for key in KEYS}


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class ClientConfig:
    """Credentials and endpoints for one POND Snapshots API; the secret never prints."""

    client_id: str
    client_secret: Secret
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    scope: str = DEFAULT_SCOPE
    profile: str | None = field(default=None, compare=False)

    @property
    def hosted(self) -> bool:
        """True when the API is the hosted service, which knows none of pond's extensions."""
        return _is_hosted(self.api_url)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file the client reads and `pond configure` writes."""
    env = os.environ if env is None else env
    if env.get("POND_CONFIG"):
        return Path(env["POND_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "pond" / "config.toml"


def read_profiles(path: Path) -> dict[str, dict[str, str]]:
    """Every profile in the config file at `path` (empty when it does not exist).

    Raises `ConfigurationError` when the file is not valid TOML or has a bad shape.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the config file {path}: {exc}",
            hint="fix or delete it, then run `pond configure`",
        ) from None
    profiles: dict[str, dict[str, str]] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigurationError(
                f"{path}: {name!r} is not a profile table",
                hint="run `pond configure` to rewrite it",
            )
        profiles[name] = {k: str(v) for k, v in table.items() if k in KEYS}
    return profiles


def write_profile(path: Path, profile: str, values: Mapping[str, str]) -> None:
    """Set `profile` in the config file to `values`, keeping the other profiles.

    The file is written whole, replaced atomically, with mode 0600.
    """
    if not profile.replace("-", "").replace("_", "").isalnum():
        raise ConfigurationError(
            f"bad profile name {profile!r}", hint="use letters, digits, '-' and '_'"
        )
    profiles = read_profiles(path)
    profiles[profile] = {k: v for k, v in values.items() if k in KEYS and v}
    lines: list[str] = []
    for name, table in profiles.items():
        lines.append(f"[{name}]")
        # TOML basic strings accept JSON's escapes when non-ASCII is left as is.
        lines.extend(f"{key} = {json.dumps(table[key], ensure_ascii=False)}" for key in table)
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def _is_hosted(api_url: str) -> bool:
    return urlsplit(api_url).hostname == urlsplit(DEFAULT_API_URL).hostname


def resolve(
    *,
    client_id: str | None = None,
    client_secret: str | Secret | None = None,
    api_url: str | None = None,
    token_url: str | None = None,
    profile: str | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientConfig:
    """The configuration from arguments, then environment, then the profile, then defaults.

    Raises `ConfigurationError` when the credentials are missing, a named
    profile does not exist, or an URL is not http(s).
    """
    env = os.environ if env is None else env
    secret = client_secret.reveal() if isinstance(client_secret, Secret) else client_secret
    given = {"client_id": client_id, "client_secret": secret, "api_url": api_url}
    given["token_url"] = token_url
    path = config_file or config_path(env)
    name = profile or env.get("POND_PROFILE") or DEFAULT_PROFILE
    profiles = read_profiles(path)
    if name not in profiles and (profile or env.get("POND_PROFILE")):
        raise ConfigurationError(
            f"no profile {name!r} in {path}", hint=f"run `pond configure --profile {name}`"
        )
    stored = profiles.get(name, {})
    values = {key: given[key] or env.get(_ENV[key]) or stored.get(key) for key in KEYS}

    missing = [_ENV[key] for key in ("client_id", "client_secret") if not values[key]]
    if missing:
        raise ConfigurationError(
            f"no client credentials: {' and '.join(missing)} not set",
            hint="run `pond configure`, or set POND_CLIENT_ID and POND_CLIENT_SECRET",
        )
    resolved_api = (values["api_url"] or DEFAULT_API_URL).rstrip("/")
    resolved_token = values["token_url"] or (
        DEFAULT_TOKEN_URL if _is_hosted(resolved_api) else f"{resolved_api}/oauth2/token"
    )
    for label, url in (("API URL", resolved_api), ("token URL", resolved_token)):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"the {label} {url!r} is not an http(s) URL",
                hint="set it with POND_API_URL / POND_TOKEN_URL or `pond configure`",
            )
    return ClientConfig(
        client_id=str(values["client_id"]),
        client_secret=Secret(str(values["client_secret"])),
        api_url=resolved_api,
        token_url=resolved_token,
        profile=name if stored else None,
    )

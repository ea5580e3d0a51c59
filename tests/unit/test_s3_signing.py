"""S3 pre-signed links and S3 settings, with no S3 server: signing is local.

The test server (moto) does not check signatures or expiry, so the SigV4 query
signature is recomputed here from the AWS specification and compared.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from pond.errors import ConfigError
from pond.settings import load_settings
from pond.storage.factory import open_s3_store
from pond.storage.s3 import MAX_LINK_SECONDS, S3Store

SECRET = "pond-unit-secret"
SID = uuid.UUID("0b0e4a8e-1f40-4f5c-9d55-6d1f0c0a1b2c")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Only the AWS variables of this test count: no config files, no instance metadata."""
    for name in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPONDUNIT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    return monkeypatch


@pytest.fixture
def store(aws_env: pytest.MonkeyPatch) -> S3Store:
    settings = load_settings(storage_url="s3://pond-exports/prod/", s3_region="eu-west-1")
    made = open_s3_store(settings)
    assert isinstance(made, S3Store)
    return made


def sigv4_signature(url: str, secret: str) -> str:
    """The X-Amz-Signature that `url` should carry, per AWS's SigV4 query-string rules."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    params = dict(query)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(query)
        if k != "X-Amz-Signature"
    )
    canonical = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    _, date, region, service, _ = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for step in (date, region, service, "aws4_request"):
        key = hmac.new(key, step.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def sign(store: S3Store, name: str = "event_000", seconds: float = 3600) -> str:
    expires_at = datetime.now(UTC) + timedelta(seconds=seconds)
    return store.signed_url(f"{SID}/{name}", expires_at=expires_at, base_url="http://unused")


def test_link_points_at_the_bucket_and_prefix(store: S3Store) -> None:
    url = urlsplit(sign(store))
    assert url.scheme == "https"
    assert url.netloc == "pond-exports.s3.eu-west-1.amazonaws.com"
    assert url.path == f"/prod/{SID}/event_000"


def test_link_is_sigv4_signed_and_the_signature_covers_the_file_name(store: S3Store) -> None:
    url = sign(store)
    params = query(url)
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Credential"].startswith("AKIDPONDUNIT/")
    assert params["response-content-disposition"] == 'attachment; filename="event_000.csv"'
    assert params["response-content-type"] == "text/csv"
    assert params["X-Amz-Signature"] == sigv4_signature(url, SECRET)
    renamed = url.replace("event_000.csv", "other.csv")
    assert query(renamed)["response-content-disposition"].endswith('"other.csv"')
    assert query(renamed)["X-Amz-Signature"] != sigv4_signature(renamed, SECRET)
    assert params["X-Amz-Signature"] != sigv4_signature(url, "another-secret")


def test_named_files_keep_their_extension(store: S3Store) -> None:
    params = query(sign(store, "event_000.csv.gz"))
    assert params["response-content-disposition"] == 'attachment; filename="event_000.csv.gz"'
    assert params["response-content-type"] == "application/gzip"


@pytest.mark.parametrize("seconds", [3600, 600, 90.5])
def test_link_never_outlives_expires_at(store: S3Store, seconds: float) -> None:
    before = datetime.now(UTC)
    params = query(sign(store, seconds=seconds))
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    ends = signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))
    assert ends <= before + timedelta(seconds=seconds)
    assert int(params["X-Amz-Expires"]) >= int(seconds) - 2


def test_link_is_capped_at_what_sigv4_allows(store: S3Store) -> None:
    assert int(query(sign(store, seconds=30 * 86400))["X-Amz-Expires"]) == MAX_LINK_SECONDS


def test_signature_changes_with_the_key(store: S3Store) -> None:
    first, second = sign(store, "event_000"), sign(store, "event_001")
    assert query(first)["X-Amz-Signature"] != query(second)["X-Amz-Signature"]
    assert query(second)["X-Amz-Signature"] == sigv4_signature(second, SECRET)


@pytest.mark.parametrize("key", ["../etc/passwd", f"{SID}/../x", "x/event_000", f"{SID}/A"])
def test_malformed_keys_are_refused(store: S3Store, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        store.signed_url(key, expires_at=datetime.now(UTC), base_url="")


def test_local_path_is_none(store: S3Store) -> None:
    assert store.local_path(f"{SID}/event_000") is None


def test_s3_settings_are_read_and_checked(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.setenv("POND_STORAGE_URL", "s3://pond-exports/a/b/")
    aws_env.setenv("POND_S3_ENDPOINT_URL", "http://127.0.0.1:9000/")
    aws_env.setenv("POND_S3_REGION", "eu-central-1")
    settings = load_settings()
    assert settings.storage_url == "s3://pond-exports/a/b"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.s3_region == "eu-central-1"
    store = open_s3_store(settings)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == ("pond-exports", "a/b")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POND_STORAGE_URL", "s3://Bad_Bucket/x"),
        ("POND_STORAGE_URL", "s3:///no-bucket"),
        ("POND_STORAGE_URL", "gs://bucket/x"),
        ("POND_S3_ENDPOINT_URL", "minio:9000"),
        ("POND_S3_REGION", "EU WEST"),
    ],
)
def test_bad_s3_settings_name_the_variable(
    aws_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    aws_env.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_missing_credentials_stop_start_up(aws_env: pytest.MonkeyPatch) -> None:
    aws_env.delenv("AWS_ACCESS_KEY_ID")
    aws_env.delenv("AWS_SECRET_ACCESS_KEY")
    settings = load_settings(storage_url="s3://pond-exports")
    with pytest.raises(ConfigError, match="no AWS credentials") as caught:
        open_s3_store(settings)
    assert caught.value.hint is not None
    assert "AWS_ACCESS_KEY_ID" in caught.value.hint

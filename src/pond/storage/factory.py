"""Pick the object store the settings ask for."""

from __future__ import annotations

from urllib.parse import urlsplit

from pond.downloads.signing import LinkSigner
from pond.errors import ConfigError, StorageUnavailable
from pond.settings import Settings
from pond.storage.base import ObjectStore
from pond.storage.local import LocalStore


def open_store(settings: Settings, signer: LinkSigner) -> ObjectStore:
    """The configured store: an `S3Store` for `s3://` URLs, else local files.

    The local store signs its links with `signer`. Raises `ConfigError` when S3
    storage is asked for and no AWS credentials are found; nothing is sent to S3
    here (`check_at_start` does that).
    """
    if settings.storage_url and settings.storage_url.startswith("s3:"):
        return open_s3_store(settings)
    root = settings.objects_dir.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return LocalStore(root, signer)


def open_s3_store(settings: Settings) -> ObjectStore:
    """An `S3Store` for `POND_STORAGE_URL=s3://bucket/prefix`, credentials from the AWS chain."""
    # Imported here: boto3 takes a while to import and local storage never needs it.
    import boto3
    from botocore.config import Config

    from pond.storage.s3 import S3Store

    assert settings.storage_url is not None
    url = urlsplit(settings.storage_url)
    session = boto3.session.Session(region_name=settings.s3_region)
    if session.get_credentials() is None:
        raise ConfigError(
            f"POND_STORAGE_URL is {settings.storage_url} but no AWS credentials were found",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a role)",
        )
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": 5},
        # AWS: bucket.s3.<region>.amazonaws.com, so SigV4 links work in every region.
        # S3-compatible servers (MinIO, Ceph, moto, ...): bucket in the path.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "virtual"},
        max_pool_connections=32,
        # Checksums only where S3 requires them: many S3-compatible servers
        # reject the newer default (CRC32 trailers) on uploads.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client = session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
    # The start-up and readiness check: an answer within seconds, or a clear failure.
    quick = config.merge(
        Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 1})
    )
    probe = session.client("s3", endpoint_url=settings.s3_endpoint_url, config=quick)
    return S3Store(client, url.netloc, url.path, probe=probe)


def check_at_start(store: ObjectStore) -> None:
    """Stop start-up with a `ConfigError` (exit 8) that says what to fix when `store`
    cannot be used: S3 unreachable, credentials refused, no such bucket."""
    try:
        store.check()
    except StorageUnavailable as exc:
        raise ConfigError(exc.message, hint=exc.hint) from exc

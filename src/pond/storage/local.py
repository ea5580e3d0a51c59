"""Objects as files under one directory; links signed by pond and served by pond."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from pond.downloads.signing import LinkSigner
from pond.errors import StorageUnavailable
from pond.storage.base import StoredObject

# A part's name: `event_000`, `event_000.csv.gz`, `event_000.parquet`; the OpenAPI
# description states it too.
PART_NAME = r"[a-z][a-z0-9_]{0,62}(\.[a-z0-9.]{1,16})?"
_KEY = re.compile(rf"^[0-9a-f-]{{36}}/{PART_NAME}$")
_STAGING_PREFIX = ".staging-"
_DELETE_THREADS = 8  # directories deleted at once by `delete_prefixes`


def check_key(key: str) -> str:
    """`key` if it is a well-formed object key; ValueError otherwise (no path tricks)."""
    if not _KEY.match(key):
        raise ValueError(f"invalid object key {key!r}")
    return key


CONTENT_TYPES = {
    ".gz": "application/gzip",
    ".csv": "text/csv",
    ".parquet": "application/vnd.apache.parquet",
    ".ndjson": "application/x-ndjson",
}


def content_type(name: str) -> str:
    """A part's media type by its file name: `text/csv`, `application/gzip` for `.csv.gz`
    and `.ndjson.gz`, `application/vnd.apache.parquet`, `application/x-ndjson`."""
    for suffix, media_type in CONTENT_TYPES.items():
        if name.endswith(suffix):
            return media_type
    return "application/octet-stream"


class LocalWriter:
    def __init__(self, final: Path, key: str) -> None:
        self._final = final
        self._key = key
        self._tmp = final.with_name(f"{_STAGING_PREFIX}{secrets.token_hex(6)}-{final.name}")
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in commit or abort
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes | bytearray) -> None:
        self._file.write(data)
        self._hash.update(data)
        self._size += len(data)

    def commit(self) -> StoredObject:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self._final)
        return StoredObject(key=self._key, size=self._size, sha256=self._hash.hexdigest())

    def abort(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


class LocalStore:
    """The default store: `<root>/<snapshot id>/<part>` files."""

    def __init__(self, root: Path, signer: LinkSigner) -> None:
        self.root = root
        self._signer = signer

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def stage(self, key: str) -> LocalWriter:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return LocalWriter(path, key)

    def rename(self, src_key: str, dst_key: str) -> None:
        """`os.replace`: atomic, and made durable by syncing the directory."""
        source, target = self._path(src_key), self._path(dst_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except FileNotFoundError:
            if source != target and target.exists():
                return  # moved already, by a publication cut short after its rename
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.root / prefix, ignore_errors=True)

    def delete_prefixes(self, prefixes: Sequence[str]) -> None:
        """Several directories at once: each deletion mostly waits on the file system, and
        one after another they take several times longer."""
        if prefixes:
            with ThreadPoolExecutor(min(_DELETE_THREADS, len(prefixes))) as pool:
                list(pool.map(self.delete_prefix, prefixes))

    def discard_unfinished(self, prefix: str) -> None:
        for staged in (self.root / prefix).glob(f"{_STAGING_PREFIX}*"):
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def signed_url(self, key: str, *, expires_at: datetime, base_url: str) -> str:
        return self._signer.url(key, expires_at=expires_at, base_url=base_url)

    def check(self) -> None:
        """The object directory exists and pond may write in it."""
        if not (self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)):
            raise StorageUnavailable(
                f"the object directory {self.root} is missing or not writable",
                hint="check POND_STORAGE_URL (or POND_DATA_DIR) and the directory's permissions",
            )

"""The object store interface every backend implements.

Keys look like `<snapshot id>/<part name>`. Writing goes through a staged
writer: nothing is visible under its key until `commit()`, so a job that dies
halfway leaves no half-written object behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class StagedWriter(Protocol):
    def write(self, data: bytes | bytearray) -> None:
        """Append `data`; raises OSError (disk full, ...) on failure."""

    def commit(self) -> StoredObject:
        """Publish the object under its key, replacing any earlier one."""

    def abort(self) -> None:
        """Throw away what was written."""


class ObjectStore(Protocol):
    def stage(self, key: str) -> StagedWriter:
        """A writer for a new object at `key` (invisible until committed)."""

    def rename(self, src_key: str, dst_key: str) -> None:
        """Move the committed object at `src_key` to `dst_key`, replacing any object there.

        Afterwards `dst_key` downloads under its own name and type, and `src_key`
        is gone. Done again, it does nothing: when `src_key` is gone and `dst_key`
        is there, the object was moved already. OSError when there is no object at
        either key, or the store fails.
        """

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object whose key starts with `prefix/`."""

    def delete_prefixes(self, prefixes: Sequence[str]) -> None:
        """`delete_prefix` of each of `prefixes`, in as few requests as the store allows."""

    def discard_unfinished(self, prefix: str) -> None:
        """Delete what writers under `prefix/` staged and never committed (a writer that
        died); committed objects stay."""

    def local_path(self, key: str) -> Path | None:
        """The file behind `key` where objects are local files, else None."""

    def signed_url(self, key: str, *, expires_at: datetime, base_url: str) -> str:
        """A URL that downloads `key` with no token until `expires_at`."""

    def check(self) -> None:
        """Raise `StorageUnavailable`, saying what to fix, when the store cannot be used."""

"""Downloading one part, without the network: file names, Range requests, what each answer means.

A part `event_000` is streamed to `event_000.csv.part` in the output
directory, continued with `Range` after an interruption, checked against the
size, rows and checksum the server gave, then renamed to `event_000.csv`.
A finished `.csv` of the right size is never fetched again. A gzipped part
keeps its name (`event_000.csv.gz`) and is stored as the server sent it, as do
Parquet and JSON Lines parts (`event_000.parquet`, `event_000.ndjson[.gz]`).
"""

from __future__ import annotations

import json
import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from pond.client.backoff import retry_after
from pond.client.errors import (
    ClientError,
    LinkRefused,
    ServiceUnavailable,
    SnapshotExpired,
    SnapshotNotReady,
    UsageError,
)
from pond.client.integrity import Scan, Scanner, scanner_for, verify, verify_scanned
from pond.client.models import Item, Snapshot

PARTIAL_SUFFIX = ".part"
# Part names that already say their format; any other (`event_000`) is a CSV.
KNOWN_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".ndjson", ".ndjson.gz")
MANIFEST = ".pond-snapshot.json"  # which snapshot the files in a directory belong to
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")
PART_HEADERS = {"Accept-Encoding": "identity"}  # the bytes as stored, so `size` holds


class Cancelled(Exception):
    """Another part failed, or the caller was interrupted: stop this one."""


@dataclass(frozen=True)
class PartProgress:
    """Bytes of one part on disk so far; `total` is None when the server did not say."""

    name: str
    done: int
    total: int | None
    finished: bool = False


ProgressCallback = Callable[[PartProgress], None]


@dataclass
class Part:
    """One item of a complete snapshot and where it goes on disk."""

    index: int
    name: str
    item: Item
    directory: Path
    etag: str | None = field(default=None, repr=False)
    # The check of the partial file's bytes as they were written, when they were.
    _scanner: Scanner | None = field(default=None, init=False, repr=False, compare=False)
    _scanned_item: Item | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def href(self) -> str:
        if not self.item.href:
            raise SnapshotNotReady(f"part {self.name} has no download link")
        return self.item.href

    @property
    def final(self) -> Path:
        keep = self.name.endswith(KNOWN_SUFFIXES)
        return self.directory / (self.name if keep else f"{self.name}.csv")

    @property
    def partial(self) -> Path:
        return self.final.with_name(self.final.name + PARTIAL_SUFFIX)

    def have(self) -> int:
        """Bytes already in the partial file."""
        try:
            return self.partial.stat().st_size
        except FileNotFoundError:
            return 0

    def is_done(self) -> bool:
        """True when the final file is there with the size the server gave."""
        try:
            size = self.final.stat().st_size
        except FileNotFoundError:
            return False
        return self.item.size is None or size == self.item.size

    def request_headers(self) -> dict[str, str]:
        """`Range` (and `If-Range` when the ETag is known) to continue the partial file."""
        have = self.have()
        if have == 0:
            return {}
        headers = {"Range": f"bytes={have}-"}
        if self.etag:
            headers["If-Range"] = self.etag
        return headers

    def begin_check(self, offset: int) -> None:
        """Check the bytes as they are written from `offset`, after those already on disk.

        `commit` then needs no second read of the file. When the bytes on disk
        cannot be read, or a chunk is not what a check can take (not gzip),
        `commit` reads the file instead.
        """
        scanner: Scanner | None = scanner_for(self.item, self.name)
        if offset and scanner is not None:
            try:
                scanner.feed_file(self.partial, offset)
            except (OSError, zlib.error):
                scanner = None
            if scanner is not None and scanner.size != offset:
                scanner = None  # the file is shorter than it should be: read it at the end
        self._scanner, self._scanned_item = scanner, self.item

    def checked(self, chunk: bytes | memoryview) -> None:
        """Feed a chunk just written to the partial file to the check begun by `begin_check`."""
        if self._scanner is None:
            return
        try:
            self._scanner.feed(chunk)
        except zlib.error:
            self._scanner = None

    def _verify(self) -> Scan:
        scanner, self._scanner = self._scanner, None
        if scanner is not None and self._scanned_item is self.item and scanner.size == self.have():
            return verify_scanned(scanner, self.item, self.name)
        return verify(self.partial, self.item, self.name)

    def commit(self) -> Scan:
        """Verify the partial file, then rename it into place.

        The bytes were checked as they were written when `begin_check` was
        called; otherwise the file is read. Raises `IntegrityError` (the
        partial file is removed, so a retry starts afresh).
        """
        try:
            result = self._verify()
        except ClientError:
            self.partial.unlink(missing_ok=True)
            raise
        with disk_errors(self.final):
            os.replace(self.partial, self.final)
        return result

    def discard(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.etag = None
        self._scanner = None


def claim(directory: Path, snapshot: Snapshot, *, replace: bool = False) -> bool:
    """Mark `directory` as holding `snapshot`; True when files already there are its own.

    Raises `UsageError` when the directory holds another snapshot's files,
    unless `replace` (then they may be overwritten).
    """
    marker = directory / MANIFEST
    try:
        held = json.loads(marker.read_text(encoding="utf-8")).get("snapshot")
    except (OSError, ValueError, AttributeError):
        held = None
    if held is not None and _snapshot_key(str(held)) == _snapshot_key(snapshot.href):
        return True
    if held is not None and not replace:
        raise UsageError(
            f"{directory} holds the files of another snapshot ({held})",
            hint="download into an empty directory, or remove that one",
        )
    directory.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_name(marker.name + ".tmp")
    temporary.write_text(json.dumps({"snapshot": snapshot.href}) + "\n", encoding="utf-8")
    os.replace(temporary, marker)
    return False


def _snapshot_key(href: str) -> str:
    return urlsplit(href).path.rstrip("/")


def plan(snapshot: Snapshot, directory: Path, *, replace: bool = False) -> list[Part]:
    """The parts of a complete snapshot, named as their links end (`event_000`, ...).

    Files in `directory` are continued only if they belong to this snapshot
    (see `claim`); others of the same names are fetched anew. Raises
    `SnapshotNotReady` unless every item is complete with a link.
    """
    if not snapshot.is_complete:
        raise SnapshotNotReady(
            f"snapshot {snapshot.id} is {snapshot.state}, not complete",
            hint="wait for it first (`pond snapshot wait`)",
        )
    entity = snapshot.query.entity if snapshot.query else "part"
    names = [item.name or f"{entity}_{index:03d}" for index, item in enumerate(snapshot.items)]
    if len(set(names)) != len(names):
        names = [f"{entity}_{index:03d}" for index in range(len(names))]
    parts = [
        Part(index=index, name=name, item=item, directory=directory)
        for index, (name, item) in enumerate(zip(names, snapshot.items, strict=True))
    ]
    if not claim(directory, snapshot, replace=replace):
        for part in parts:  # not ours: never continue or keep them
            part.discard()
            part.final.unlink(missing_ok=True)
    return parts


def fresh_item(snapshot: Snapshot, part: Part) -> Item:
    """`part`'s item in a newer description of the snapshot (by name, else by position)."""
    if not snapshot.is_complete:
        raise SnapshotExpired(f"snapshot {snapshot.id} is {snapshot.state} and can't be downloaded")
    for item in snapshot.items:
        if item.name == part.name:
            return item
    if part.index < len(snapshot.items):
        return snapshot.items[part.index]
    raise ClientError(f"part {part.name} is no longer in snapshot {snapshot.id}")


class Step(Enum):
    """What to do with an answer to a part request."""

    WRITE = "write"  # stream the body into the partial file from `offset`
    COMPLETE = "complete"  # the partial file already holds every byte: verify it
    REFRESH = "refresh"  # the link was refused: fetch fresh links, then ask again
    RETRY = "retry"  # a transient failure: wait, then ask again
    RESTART = "restart"  # the partial file cannot be continued: discard it, ask again


@dataclass(frozen=True)
class Decision:
    step: Step
    offset: int = 0
    server_delay: float | None = None


def decide(part: Part, status: int, headers: Mapping[str, str]) -> Decision:
    """What an answer with `status` and `headers` to `part.request_headers()` means.

    Raises `SnapshotExpired` when the object is gone and `ClientError` for an
    answer no retry can fix.
    """
    have = part.have()
    etag = headers.get("etag")
    if status == 200:
        part.etag = etag
        return Decision(Step.WRITE, offset=0)  # the whole object: start the file again
    if status == 206:
        match = _CONTENT_RANGE.match(headers.get("content-range", ""))
        if not match or int(match.group(1)) != have:
            return Decision(Step.RESTART)
        part.etag = etag or part.etag
        return Decision(Step.WRITE, offset=have)
    if status == 416:
        size = part.item.size
        return Decision(Step.COMPLETE if size is not None and have == size else Step.RESTART)
    if status == 403:
        return Decision(Step.REFRESH)
    if status in (404, 410):
        raise SnapshotExpired(
            f"part {part.name} is gone from the server ({status})",
            hint="the snapshot may have expired; schedule a new one",
            status=status,
        )
    if status in (408, 429) or status >= 500:
        return Decision(Step.RETRY, server_delay=retry_after(headers))
    raise ClientError(f"unexpected answer {status} to the download of part {part.name}")


@contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """Turn a failed file operation on `path` into a `ClientError` that says what to do."""
    try:
        yield
    except OSError as error:
        raise ClientError(
            f"cannot write {path}: {error.strerror or error}",
            hint="free some disk space or choose another --out directory, then run it again",
        ) from None


class PartWriter:
    """The partial file opened to continue at `offset`; flushed on close.

    `check`: the bytes are checked as they are written (see `Part.begin_check`).
    `sync`: the file is also synced to disk on close, so that a part renamed into
    place survives a power cut; that waits for the disk, which on many machines
    is slower than the network. A killed process loses nothing either way: what
    it wrote is in the operating system's cache, and the next run continues it.
    """

    def __init__(self, part: Part, offset: int, *, check: bool = False, sync: bool = False) -> None:
        self._path = part.partial
        self._sync = sync
        self._part = part if check else None
        with disk_errors(self._path):
            part.directory.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("r+b" if offset and self._path.exists() else "wb")
            self._file.truncate(offset)
            self._file.seek(offset)
        if self._part is not None:
            self._part.begin_check(offset)
        self.written = offset

    def write(self, chunk: bytes | memoryview) -> None:
        with disk_errors(self._path):
            self._file.write(chunk)
        self.written += len(chunk)
        if self._part is not None:
            self._part.checked(chunk)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            with disk_errors(self._path):
                self._file.flush()
                if self._sync:
                    os.fsync(self._file.fileno())
        finally:
            self._file.close()


MAX_FAILURES = 8  # attempts in a row that brought no new byte
MAX_REFRESHES = 3  # fresh links in a row that were refused too
MAX_RESTARTS = 2  # times a part may start over (a bad partial file, a failed check)


@dataclass
class Tally:
    """The setbacks of one part since its last new byte, to stop when retrying is hopeless."""

    name: str
    failures: int = 0
    refreshes: int = 0
    restarts: int = 0

    def progressed(self) -> None:
        self.failures = 0
        self.refreshes = 0

    def failed(self, reason: str) -> int:
        """Count a failure; the retry number (from 0), or `ServiceUnavailable` past the limit."""
        self.failures += 1
        if self.failures > MAX_FAILURES:
            raise ServiceUnavailable(
                f"part {self.name}: {MAX_FAILURES} attempts in a row failed ({reason})",
                hint="run the command again later: it continues from the bytes already on disk",
            )
        return self.failures - 1

    def refreshed(self) -> None:
        self.refreshes += 1
        if self.refreshes > MAX_REFRESHES:
            raise LinkRefused(
                f"part {self.name}: the server refused {MAX_REFRESHES} fresh download links",
                hint="check the computer's clock; signed links depend on it",
            )

    def restarted(self, error: ClientError) -> None:
        """Count a fresh start; re-raise `error` when the part keeps going wrong."""
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise error

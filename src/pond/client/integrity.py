"""Is a downloaded part what the server described? Size, data rows and checksum.

Rows are CSV records minus the header. A quoted field may hold newlines, so
records are counted by a scan that knows about quotes (RFC 4180: a quote
inside a quoted field is doubled, so quote parity tells whether a newline
ends a record). Files are read in chunks: memory stays flat whatever the size.
A `Scanner` takes the bytes as they are downloaded, so that a part need not be
read again once it is written.
A gzipped part (`event_000.csv.gz`) is sized and hashed as stored and its rows
are counted in the decompressed stream, as it is read. A JSON Lines part's rows
are its lines (no header; a newline inside a value is escaped). A Parquet
part's rows are in its footer, not in a stream: it is checked by its size and
checksum.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pond.client.errors import IntegrityError
from pond.client.models import Item

CHUNK = 256 << 10  # bytes read at once: a block that stays in the CPU's cache while hashed
_ALGORITHMS = ("sha256", "sha1", "md5")


# Every byte but the quote and the newline: deleted to see each line's quote parity.
_NOT_QUOTE_OR_NEWLINE = bytes(byte for byte in range(256) if byte not in b'"\n')


class RecordCounter:
    """Counts CSV records in bytes fed in any chunking."""

    def __init__(self) -> None:
        self.records = 0
        self._in_quotes = False
        self._open = False  # bytes seen since the last record ended

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if not self._in_quotes and b'"' not in chunk:
            self.records += chunk.count(b"\n")
        else:
            # Only quotes and newlines matter: each line's quote count is the length
            # of what is left of it, and an odd count toggles the quoting.
            lines = chunk.translate(None, _NOT_QUOTE_OR_NEWLINE).split(b"\n")
            last = lines.pop()
            if not self._in_quotes and not any(n % 2 for n in set(map(len, lines))):
                self.records += len(lines)  # every line closes its quotes: each ends a record
            else:
                for line in lines:
                    if len(line) % 2:
                        self._in_quotes = not self._in_quotes
                    if not self._in_quotes:
                        self.records += 1
            if len(last) % 2:
                self._in_quotes = not self._in_quotes
        self._open = self._in_quotes or not chunk.endswith(b"\n")

    def total(self) -> int:
        """Records so far, counting a last record that lacks its newline."""
        return self.records + (1 if self._open else 0)


class LineCounter:
    """Counts lines (JSON Lines records) in bytes fed in any chunking."""

    def __init__(self) -> None:
        self.records = 0
        self._open = False

    def feed(self, chunk: bytes) -> None:
        if chunk:
            self.records += chunk.count(b"\n")
            self._open = not chunk.endswith(b"\n")

    def total(self) -> int:
        """Lines so far, counting a last one that lacks its newline."""
        return self.records + (1 if self._open else 0)


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    hexdigest: str


def expected_checksum(item: Item) -> Checksum | None:
    """The checksum the server gave for `item`, if any.

    Read from `checksum` (`"sha256:<hex>"`) or a field named for the algorithm
    (`"sha256": "<hex>"`).
    """
    value: Any = item.extra.get("checksum")
    if isinstance(value, str) and ":" in value:
        algorithm, _, digest = value.partition(":")
        if algorithm.lower() in _ALGORITHMS:
            return Checksum(algorithm.lower(), digest.lower())
    for algorithm in _ALGORITHMS:
        named = item.extra.get(algorithm)
        if isinstance(named, str) and named:
            return Checksum(algorithm, named.lower())
    return None


@dataclass(frozen=True)
class Scan:
    size: int
    rows: int | None  # None: not counted (a matching digest already proves them)
    hexdigest: str | None


class _Gunzip:
    """Decompresses gzip bytes fed in any chunking, member after member."""

    def __init__(self) -> None:
        self._stream = zlib.decompressobj(wbits=31)

    def feed(self, chunk: bytes | memoryview) -> bytes:
        out = [self._stream.decompress(chunk, CHUNK)]
        while self._stream.unconsumed_tail or (self._stream.eof and self._stream.unused_data):
            if self._stream.eof:  # another gzip member follows
                rest = self._stream.unused_data
                self._stream = zlib.decompressobj(wbits=31)
                out.append(self._stream.decompress(rest, CHUNK))
            else:
                out.append(self._stream.decompress(self._stream.unconsumed_tail, CHUNK))
        return b"".join(out)

    def check_end(self) -> None:
        if not self._stream.eof:
            raise zlib.error("the gzip stream ends before its trailer")


class Scanner:
    """Size, data rows and optionally a digest of bytes fed in order, as they arrive.

    `gzipped`: rows are counted in the decompressed data (`zlib.error` if it is not gzip).
    `count_rows=False` skips the rows (and the decompression): `Scan.rows` is None.
    Digests of large chunks are computed without holding the GIL, so parts
    downloaded in parallel are checked in parallel too.
    """

    def __init__(
        self,
        algorithm: str | None = None,
        *,
        gzipped: bool = False,
        count_rows: bool = True,
        lines: bool = False,
    ) -> None:
        self._counter: RecordCounter | LineCounter | None = None
        if count_rows:
            self._counter = LineCounter() if lines else RecordCounter()
        self._digest = hashlib.new(algorithm) if algorithm else None
        self._gunzip = _Gunzip() if gzipped and count_rows else None
        self.size = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self._digest is not None:
            self._digest.update(chunk)
        if self._counter is not None:
            data = self._gunzip.feed(chunk) if self._gunzip else bytes(chunk)
            self._counter.feed(data)

    def feed_file(self, path: Path, limit: int | None = None) -> None:
        """Feed the first `limit` bytes of `path` (all of it when None)."""
        buffer = memoryview(bytearray(CHUNK))  # one buffer for the whole file: see `wire`
        with path.open("rb", buffering=0) as stream:
            while limit is None or self.size < limit:
                want = CHUNK if limit is None else min(CHUNK, limit - self.size)
                count = stream.readinto(buffer[:want])
                if not count:
                    break
                self.feed(buffer[:count])

    def result(self) -> Scan:
        if self._gunzip is not None:
            self._gunzip.check_end()
        digest = self._digest.hexdigest() if self._digest is not None else None
        rows = None
        if isinstance(self._counter, LineCounter):
            rows = self._counter.total()
        elif self._counter is not None:
            rows = max(0, self._counter.total() - 1)  # less the header
        return Scan(self.size, rows, digest)


def scanner_for(item: Item, name: str) -> Scanner:
    """A `Scanner` computing what `check` needs for `item` (a part named `name`).

    Where the server gives the part's digest, a match proves every byte, and so its
    rows and its gzip framing: only the size and the digest are computed then, which
    keeps a fast link from waiting on CSV parsing. Without one, rows are counted.
    """
    checksum = expected_checksum(item)
    if checksum is not None:
        return Scanner(checksum.algorithm, count_rows=False)
    if name.endswith(".parquet"):
        return Scanner(None, count_rows=False)
    lines = name.endswith((".ndjson", ".ndjson.gz"))
    return Scanner(None, gzipped=name.endswith(".gz"), lines=lines)


def scan(
    path: Path, algorithm: str | None = None, *, gzipped: bool = False, lines: bool = False
) -> Scan:
    """Bytes, data rows (records minus the header, or `lines`) and optionally a digest of `path`.

    `gzipped`: rows are counted in the decompressed data; `zlib.error` if it is not gzip.
    """
    scanner = Scanner(algorithm, gzipped=gzipped, lines=lines)
    scanner.feed_file(path)
    return scanner.result()


def _not_gzip(name: str, exc: zlib.error) -> IntegrityError:
    return IntegrityError(
        f"part {name} is not a whole gzip file ({exc})",
        hint="run the download again: the part is fetched anew",
    )


def verify(path: Path, item: Item, name: str) -> Scan:
    """Check `path` against `item`'s size, count and checksum; `IntegrityError` on a mismatch.

    A part named `*.gz` must be gzip: its rows are counted decompressed.
    """
    scanner = scanner_for(item, name)
    try:
        scanner.feed_file(path)
        result = scanner.result()
    except zlib.error as exc:
        raise _not_gzip(name, exc) from None
    return check(result, item, name)


def verify_scanned(scanner: Scanner, item: Item, name: str) -> Scan:
    """`verify` for bytes already fed to `scanner` (from `scanner_for(item, name)`)."""
    try:
        result = scanner.result()
    except zlib.error as exc:
        raise _not_gzip(name, exc) from None
    return check(result, item, name)


def check(result: Scan, item: Item, name: str) -> Scan:
    """`result` if it matches `item`'s size, count and checksum; `IntegrityError` if not."""
    checksum = expected_checksum(item)
    problems = []
    if item.size is not None and result.size != item.size:
        problems.append(f"{result.size} bytes where the server said {item.size}")
    if item.count is not None and result.rows is not None and result.rows != item.count:
        problems.append(f"{result.rows} data rows where the server said {item.count}")
    if checksum is not None and result.hexdigest != checksum.hexdigest:
        said = checksum.hexdigest
        problems.append(f"{checksum.algorithm} {result.hexdigest} where the server said {said}")
    if problems:
        raise IntegrityError(
            f"part {name} failed its integrity check: {'; '.join(problems)}",
            hint="run the download again: the part is fetched anew",
        )
    return result


def header_end(stream: BinaryIO) -> int:
    """The offset just past the first record (the header) of a CSV stream."""
    in_quotes = False
    offset = 0
    while chunk := stream.read(CHUNK):
        for index, byte in enumerate(chunk):
            if byte == 0x22:  # a quote
                in_quotes = not in_quotes
            elif byte == 0x0A and not in_quotes:
                return offset + index + 1
        offset += len(chunk)
    return offset

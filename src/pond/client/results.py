"""What a finished download gives: the part files, their rows streamed, one merged CSV.

The part files are plain CSV with a header row, so any tool can read them
(`pandas.read_csv`, `polars.scan_csv(paths)`, DuckDB's `read_csv([...])`); gzipped
parts (`*.csv.gz`) are read through gzip here, and merged into one plain CSV.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pond.client.errors import IntegrityError
from pond.client.integrity import header_end
from pond.client.models import Snapshot


@dataclass(frozen=True)
class Download:
    """The verified part files of a snapshot, in part order."""

    snapshot: Snapshot
    directory: Path
    files: tuple[Path, ...]

    @property
    def rows(self) -> int | None:
        """Data rows over all parts, as the server counted (and the client checked) them."""
        return self.snapshot.count

    @property
    def size(self) -> int | None:
        return self.snapshot.size

    def iter_rows(self) -> Iterator[dict[str, str]]:
        """Every data row of every part, in order, as `{column: value}`; one row in memory."""
        return iter_rows(self.files)

    def merge(self, destination: Path) -> Path:
        """Write all parts into `destination` as one CSV with one header; see `merge`."""
        return merge(self.files, destination)


def open_part(path: Path) -> BinaryIO:
    """The CSV bytes of a part file, decompressed when it is `*.gz`."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is binary IO
    return path.open("rb")


def iter_rows(files: Sequence[Path]) -> Iterator[dict[str, str]]:
    """The data rows of the CSV `files`, in order, parsed with the header of each file."""
    for path in files:
        with open_part(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            yield from csv.DictReader(text)


def merge(files: Sequence[Path], destination: Path) -> Path:
    """Concatenate CSV `files` into `destination` with the first header only, in order.

    Bytes are copied as they are (no re-quoting). Raises `IntegrityError` when
    the parts do not share one header; `destination` is only replaced once
    the merged file is whole.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.tmp")
    header: bytes | None = None
    try:
        with temporary.open("w+b") as out:
            ends_with_newline = True
            for path in files:
                with open_part(path) as part:
                    end = header_end(part)
                    part.seek(0)
                    part_header = part.read(end)
                    if header is None:
                        header = part_header
                        out.write(header)
                        ends_with_newline = header.endswith(b"\n")
                    elif part_header.rstrip(b"\r\n") != header.rstrip(b"\r\n"):
                        raise IntegrityError(
                            f"{path.name} has a different header from {files[0].name}",
                            hint="merge only parts of one snapshot",
                        )
                    if not ends_with_newline:
                        out.write(b"\n")
                    before = out.tell()
                    shutil.copyfileobj(part, out, 1 << 20)
                    if out.tell() > before:
                        out.seek(-1, os.SEEK_CUR)
                        ends_with_newline = out.read(1) == b"\n"
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination

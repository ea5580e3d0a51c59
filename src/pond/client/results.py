"""What a finished download gives: the part files, their rows streamed, one merged file,
and the rows as a typed table in Arrow, pandas, Polars or DuckDB.

CSV parts are plain CSV with a header row, so any tool can read them
(`pandas.read_csv`, `polars.scan_csv(paths)`, DuckDB's `read_csv([...])`); gzipped
parts (`*.csv.gz`) are read through gzip here, and merged into one plain CSV.
Parquet parts (`*.parquet`) merge into one Parquet file, JSON Lines parts
(`*.ndjson[.gz]`) into one plain JSON Lines file.

The table readers (`to_arrow`, `to_pandas`, `to_polars`, `to_duckdb`,
`iter_batches`) type every column as the server described it, CSV included;
each imports its library only when called (the client's extras).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pond.client import tables
from pond.client.errors import IntegrityError, UsageError
from pond.client.integrity import header_end
from pond.client.models import Snapshot

if TYPE_CHECKING:
    import pyarrow as pa


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

    @property
    def columns(self) -> tables.Columns | None:
        """The columns and their Arrow types, as the server described the parts (or None)."""
        return tables.described_columns(self.snapshot)

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Every data row of every part, in order, as `{column: value}`; one row in memory.

        CSV values are strings, as in the file; JSON Lines and Parquet values are typed.
        """
        return iter_rows(self.files)

    def iter_batches(self) -> Iterator[pa.RecordBatch]:
        """Every row, in order, as typed Arrow record batches; one batch in memory (pyarrow)."""
        return tables.iter_batches(self.files, self.columns)

    def to_arrow(self) -> pa.Table:
        """All rows as one typed Arrow table (pyarrow: the `arrow` extra)."""
        return tables.read_table(self.files, self.columns)

    def to_pandas(self) -> Any:
        """All rows as a pandas DataFrame, typed as `to_arrow` (the `pandas` extra)."""
        return self.to_arrow().to_pandas()

    def to_polars(self) -> Any:
        """All rows as a Polars DataFrame (the `polars` extra); Parquet is read by Polars itself."""
        try:
            import polars
        except ImportError:
            raise UsageError("to_polars needs polars", hint="pip install 'pond[polars]'") from None
        if self.files and all(tables.part_format(p) == "parquet" for p in self.files):
            return polars.read_parquet(list(self.files))
        return polars.from_arrow(self.to_arrow())

    def to_duckdb(self, connection: Any = None) -> Any:
        """The rows as a DuckDB relation on `connection` (default: DuckDB's own), typed as
        `to_arrow`; Parquet parts are scanned by DuckDB where they are (the `duckdb` extra)."""
        try:
            import duckdb
        except ImportError:
            raise UsageError("to_duckdb needs duckdb", hint="pip install 'pond[duckdb]'") from None
        con = connection if connection is not None else duckdb.default_connection()
        if self.files and all(tables.part_format(p) == "parquet" for p in self.files):
            return con.read_parquet([str(p) for p in self.files])
        return con.from_arrow(self.to_arrow())

    def merge(self, destination: Path) -> Path:
        """Write all parts into `destination` as one file of their format; see `merge`."""
        return merge(self.files, destination)


def open_part(path: Path) -> BinaryIO:
    """The CSV bytes of a part file, decompressed when it is `*.gz`."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is binary IO
    return path.open("rb")


def iter_rows(files: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """The data rows of the part `files`, in order, as `{column: value}`.

    CSV is parsed with the header of each file (values are strings); JSON Lines
    with `json` (numbers are `int` or `Decimal`); Parquet with pyarrow (typed).
    """
    for path in files:
        kind = tables.part_format(path)
        if kind == "parquet":
            for batch in tables.iter_batches([path], None):
                yield from batch.to_pylist()
            continue
        with open_part(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
            if kind == "ndjson":
                yield from (json.loads(line, parse_float=Decimal) for line in text if line.strip())
            else:
                yield from csv.DictReader(text)


def merge(files: Sequence[Path], destination: Path) -> Path:
    """Write the part `files` into `destination` as one file, in order.

    Parquet parts become one Parquet file, row group after row group (pyarrow);
    JSON Lines parts one plain JSON Lines file; CSV parts one plain CSV with the
    first header only, bytes copied as they are (no re-quoting). Raises
    `IntegrityError` when the parts do not share one header (CSV) or schema
    (Parquet); `destination` is only replaced once the merged file is whole.
    """
    kind = tables.part_format(files[0]) if files else "csv"
    write = {"parquet": _merge_parquet, "ndjson": _merge_lines}.get(kind, _merge_csv)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.tmp")
    try:
        write(files, temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def _merge_parquet(files: Sequence[Path], target: Path) -> None:
    tables.arrow()
    import pyarrow.parquet as pq

    first = pq.ParquetFile(files[0])
    with pq.ParquetWriter(target, first.schema_arrow, compression="zstd") as out:
        for path in files:
            part = pq.ParquetFile(path)
            if not part.schema_arrow.equals(first.schema_arrow):
                raise IntegrityError(
                    f"{path.name} has other columns than {files[0].name}",
                    hint="merge only parts of one snapshot",
                )
            for group in range(part.num_row_groups):  # one row group in memory at a time
                out.write_table(part.read_row_group(group))


def _merge_lines(files: Sequence[Path], target: Path) -> None:
    with target.open("wb") as out:
        for path in files:
            with open_part(path) as part:
                shutil.copyfileobj(part, out, 1 << 20)


def _merge_csv(files: Sequence[Path], target: Path) -> None:
    header: bytes | None = None
    with target.open("w+b") as out:
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

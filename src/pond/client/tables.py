"""Downloaded parts read as typed tables: Arrow record batches, whatever their format.

The server describes each part's columns with their Arrow types (`?details=true`:
`"columns": [{"name": "id", "type": "int64", ...}]`), so every format is read
into the same typed schema: Parquet as it is, CSV parsed by Arrow's CSV reader
with those types (PostgreSQL's CSV: `t`/`f` booleans, an empty field is NULL and
`""` the empty string), JSON Lines converted column by column. Without a
description (a server that gives none), Arrow infers the CSV's types.

pyarrow is imported only here, and only when a caller reads a table: it is the
`arrow` extra (`pip install 'pond[arrow]'`). Everything streams in record
batches: memory holds one batch, not the snapshot.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pond.client.errors import UsageError
from pond.client.models import Snapshot

if TYPE_CHECKING:
    import pyarrow as pa

Columns = list[tuple[str, str]]  # (name, Arrow type name) of each column, in order
_DECIMAL = re.compile(r"^decimal128\((\d+), (\d+)\)$")
_BATCH_ROWS = 65_536  # JSON Lines rows converted at once
_CSV_BLOCK = 4 << 20


def arrow() -> Any:
    """pyarrow, or a `UsageError` saying which extra brings it."""
    try:
        import pyarrow
    except ImportError:
        raise UsageError(
            "reading parts as tables needs pyarrow",
            hint="pip install 'pond[arrow]' (or pond[pandas], pond[duckdb])",
        ) from None
    return pyarrow


def part_format(path: Path) -> str:
    """`parquet`, `ndjson` or `csv`, by the part's file name."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".ndjson"):
        return "ndjson"
    return "csv"


def _is_column(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("type"), str)
    )


def described_columns(snapshot: Snapshot) -> Columns | None:
    """The columns and types the server gave for the snapshot's parts, if it gave them."""
    for item in snapshot.items:
        columns = item.extra.get("columns")
        if isinstance(columns, list) and all(
            isinstance(c, dict)
            and isinstance(c.get("name"), str)
            and isinstance(c.get("type"), str)
            for c in columns
        ):
            return [(str(c["name"]), str(c["type"])) for c in columns]
    return None


def known_arrow_type(name: str) -> pa.DataType | None:
    """The pyarrow type a column's `type` names (`int64`, `timestamp[us, tz=UTC]`, ...);
    None for a name this release does not know. The server writes Parquet with it too."""
    pa = arrow()
    simple = {
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "bool": pa.bool_(),
        "string": pa.string(),
        "date32[day]": pa.date32(),
        "time64[us]": pa.time64("us"),
        "timestamp[us]": pa.timestamp("us"),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    if name in simple:
        return simple[name]
    found = _DECIMAL.match(name)
    if found is not None:
        return pa.decimal128(int(found.group(1)), int(found.group(2)))
    return None


def arrow_type(name: str) -> pa.DataType:
    """The pyarrow type a column's `type` names; a type this client does not know is read
    as its text, never a failure."""
    known = known_arrow_type(name)
    return arrow().string() if known is None else known


def schema(columns: Columns | None) -> pa.Schema | None:
    if columns is None:
        return None
    pa = arrow()
    return pa.schema([pa.field(name, arrow_type(kind)) for name, kind in columns])


def _csv_batches(path: Path, typed: pa.Schema | None) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(
        true_values=["t", "true"],
        false_values=["f", "false"],
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        column_types=typed,
    )
    # Arrow decompresses `.gz` by the name; a value may span lines (it is quoted).
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=convert,
    )
    yield from reader


def _text(value: Any) -> str | None:
    """A JSON value as the text Arrow casts from: nested values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        # Numbers inside a JSON document were read as Decimal: written back as numbers.
        return json.dumps(value, ensure_ascii=False, default=float)
    return str(value)


def _ndjson_batches(path: Path, typed: pa.Schema | None) -> Iterator[pa.RecordBatch]:
    pa = arrow()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        rows: list[dict[str, Any]] = []
        for line in lines:
            if line.strip():
                rows.append(json.loads(line, parse_float=Decimal))
            if len(rows) == _BATCH_ROWS:
                yield _ndjson_batch(pa, rows, typed)
                rows = []
        if rows or typed is not None:
            yield _ndjson_batch(pa, rows, typed)


def _ndjson_batch(pa: Any, rows: list[dict[str, Any]], typed: pa.Schema | None) -> pa.RecordBatch:
    names = typed.names if typed is not None else list(rows[0]) if rows else []
    arrays = []
    for index, name in enumerate(names):
        values = [_text(row.get(name)) for row in rows]
        kind = None if typed is None else typed.field(index).type
        if kind is not None and pa.types.is_time(kind):  # Arrow casts no text to a time
            times = [None if v is None else time.fromisoformat(v) for v in values]
            arrays.append(pa.array(times, type=kind))
            continue
        texts = pa.array(values, type=pa.string())
        arrays.append(texts if kind is None else texts.cast(kind))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def iter_batches(files: Sequence[Path], columns: Columns | None) -> Iterator[pa.RecordBatch]:
    """The rows of the part `files`, in order, as Arrow record batches typed by `columns`."""
    typed = schema(columns)
    for path in files:
        kind = part_format(path)
        if kind == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches()
        elif kind == "ndjson":
            yield from _ndjson_batches(path, typed)
        else:
            yield from _csv_batches(path, typed)


def read_table(files: Sequence[Path], columns: Columns | None) -> pa.Table:
    """All the rows of the part `files` as one Arrow table (it holds them all in memory)."""
    pa = arrow()
    batches = list(iter_batches(files, columns))
    typed = schema(columns)
    if not batches:
        if typed is None:
            raise UsageError("the snapshot has no rows and the server gave no columns")
        return typed.empty_table()
    return pa.Table.from_batches(batches, schema=typed or batches[0].schema)

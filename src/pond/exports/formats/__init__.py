"""The formats a part is written in: CSV, Parquet and JSON Lines, from one part's SELECT.

`write_part` is what the exporter calls for each part, on a connection inside the
export's snapshot transaction (`TIME ZONE 'UTC'`). Every format streams: rows
come from one `COPY ... TO STDOUT` read in large blocks, and go to the part's
writer as they come (Parquet: a row group at a time), so memory stays flat
whatever the part's size.

- `csv`: PostgreSQL's own CSV with a header, byte for byte (`csv.py`);
- `ndjson`: one JSON object per line, made by PostgreSQL (`ndjson.py`);
- `parquet`: the CSV parsed by Arrow into typed columns (`parquet.py`), typed as
  `types.py` maps the entity's PostgreSQL columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from pond.entities import Entity
from pond.exports.formats.columns import Column, columns_of
from pond.exports.options import ExportOptions
from pond.storage.base import StagedWriter

__all__ = ["Column", "columns_of", "write_part"]


def write_part(
    conn: psycopg.Connection[Any],
    select: psycopg.sql.Composed,
    params: list[Any],
    entity: Entity,
    options: ExportOptions,
    writer: StagedWriter,
    count: Callable[[int], None],
) -> int:
    """Write the rows of `select` (bound with `params`) to `writer` in the options' format.

    `count(n)` is called as rows stream, for progress; returns the number of
    data rows written. The caller commits or aborts `writer`. Raises psycopg's
    errors, and for Parquet pyarrow's when a value does not fit its type (a
    numeric `NaN` in a decimal column, say).
    """
    if options.format == "parquet":
        from pond.exports.formats import parquet

        return parquet.write_part(
            conn, select, params, columns_of(entity, options), options.parquet_codec, writer, count
        )
    if options.format == "ndjson":
        from pond.exports.formats import ndjson

        return ndjson.write_part(conn, select, params, columns_of(entity, options), writer, count)
    from pond.exports.formats import csv

    return csv.write_part(conn, select, params, writer, count)

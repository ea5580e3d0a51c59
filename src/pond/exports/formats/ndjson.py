"""JSON Lines parts: one JSON object per row, each on its own line, made by PostgreSQL.

`row_to_json` writes each row as an object keyed by column name: numbers as
numbers, timestamps as ISO 8601 strings (`2019-03-13T18:00:00.123+00:00`),
`json`/`jsonb` values nested as they are, NULL as `null`. JSON escapes every
control character inside strings, so an object never holds a raw newline; the
one way one could is a `json` value's own whitespace, which is why `json`
columns pass through `jsonb` (compact) first.

COPY in CSV format would quote the objects (they hold quotes and commas), so
it runs with a delimiter and a quote character that JSON text never holds raw
(the control characters 0x01 and 0x02): PostgreSQL then writes each object as
it is, followed by a newline. The COPY's bytes are the file: nothing is parsed
or rewritten here, and each message is one row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from pond.exports.copy_out import copy_out
from pond.exports.formats.columns import Column
from pond.storage.base import StagedWriter

BLOCK = 1 << 20  # bytes gathered before one write to storage
_COPY = (
    "COPY (SELECT row_to_json(p) FROM ({}) p)"
    " TO STDOUT (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
)


def _rows(select: sql.Composable, columns: list[Column]) -> sql.Composable:
    """`select`, with its `json` columns turned compact (`jsonb`): no raw newline in a row."""
    if not any(column.db_type == "json" for column in columns):
        return select
    fields = [
        sql.SQL("s.{name}::jsonb AS {name}" if column.db_type == "json" else "s.{name}").format(
            name=sql.Identifier(column.name)
        )
        for column in columns
    ]
    return sql.SQL("SELECT {} FROM ({}) s").format(sql.SQL(", ").join(fields), select)


def copy_statement(select: sql.Composable, columns: list[Column]) -> sql.Composed:
    """The COPY that writes the rows of `select` (of `columns`) as JSON Lines."""
    return sql.SQL(_COPY).format(_rows(select, columns))


def write_part(
    conn: psycopg.Connection[Any],
    select: sql.Composed,
    params: list[Any],
    columns: list[Column],
    writer: StagedWriter,
    count: Callable[[int], None],
) -> int:
    """Stream the rows of `select` (of `columns`) as JSON Lines into `writer`; return the rows."""
    return copy_out(
        conn,
        copy_statement(select, columns),
        params,
        writer.write,
        block_size=BLOCK,
        on_block=count,
    )

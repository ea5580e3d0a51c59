"""CSV parts: PostgreSQL's own `COPY ... (FORMAT csv, HEADER)`, byte for byte.

PostgreSQL sends each row of a COPY as one message, and the header as the
first, so rows are counted without parsing the CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from pond.exports.copy_out import copy_out
from pond.storage.base import StagedWriter

BLOCK = 1 << 20  # bytes gathered before one write to storage


def write_part(
    conn: psycopg.Connection[Any],
    select: psycopg.sql.Composed,
    params: list[Any],
    writer: StagedWriter,
    count: Callable[[int], None],
) -> int:
    """Stream the rows of `select` as CSV with a header into `writer`; return the data rows."""
    query = psycopg.sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(select)
    seen = 0

    def counted(messages: int) -> None:
        nonlocal seen
        # The first message of the COPY is the header, not a row.
        count(messages - 1 if seen == 0 else messages)
        seen += messages

    messages = copy_out(conn, query, params, writer.write, block_size=BLOCK, on_block=counted)
    return messages - 1

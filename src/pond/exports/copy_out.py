"""Read a `COPY ... TO STDOUT` at the speed of libpq, in large blocks.

psycopg's `Copy` object hands out one row per iteration, through a stack of
Python generators: about 1.5 µs of CPU a row, which for a large export is more
than PostgreSQL spends making the CSV. This module drives the same COPY through
psycopg's own libpq wrapper (`Connection.pgconn`, its documented low-level
interface): `PQgetCopyData` in a tight loop, rows gathered into blocks of about
`block_size` bytes. A fifth of the CPU, for the same bytes.

The connection is left as psycopg expects it: the COPY's final result is read,
and an error is raised as psycopg's exception for its SQLSTATE.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq

_COPY_OUT = pq.ExecStatus.COPY_OUT
_FAILED = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE)


def copy_out(
    conn: psycopg.Connection[Any],
    query: psycopg.sql.Composed | psycopg.sql.SQL,
    params: list[Any],
    write: Callable[[bytearray], None],
    *,
    block_size: int = 1 << 20,
    on_block: Callable[[int], None] | None = None,
) -> int:
    """Run `query` (a `COPY ... TO STDOUT`) and pass its bytes to `write` in blocks.

    `on_block(rows)` follows each `write` with the number of messages (rows, and
    the header if any) in the block. Returns the number of messages.
    """
    # COPY takes no bind parameters: they are merged in on the client, as psycopg does.
    statement = psycopg.ClientCursor(conn).mogrify(query, params).encode(conn.info.encoding)
    pgconn = conn.pgconn
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN)
    pgconn.send_query(statement)
    while pgconn.flush():  # whatever did not fit in the socket's buffer
        select.select([], [pgconn.socket], [])
    result = _next_result(pgconn, poller)
    if result is None or result.status != _COPY_OUT:
        _finish(conn, pgconn, poller, result)
        raise psycopg.ProgrammingError("copy_out needs a COPY ... TO STDOUT statement")

    get_copy_data = pgconn.get_copy_data
    block = bytearray()
    in_block = 0
    messages = 0
    while True:
        size, data = get_copy_data(1)  # 1: never block inside libpq
        if size > 0:
            block += data
            in_block += 1
            if len(block) >= block_size:
                write(block)
                messages += in_block
                if on_block is not None:
                    on_block(in_block)
                block = bytearray()
                in_block = 0
        elif size == 0:  # nothing buffered: wait for the server
            poller.poll()
            pgconn.consume_input()
        else:  # -1: the COPY is over; -2: it failed (the result says why)
            break
    if block or in_block:
        write(block)
        messages += in_block
        if on_block is not None:
            on_block(in_block)
    _finish(conn, pgconn, poller, _next_result(pgconn, poller))
    return messages


def _next_result(pgconn: Any, poller: select.poll) -> Any:
    """The next result of the running command, waiting for it without blocking in libpq."""
    while pgconn.is_busy():
        poller.poll()
        pgconn.consume_input()
    return pgconn.get_result()


def _finish(conn: psycopg.Connection[Any], pgconn: Any, poller: select.poll, first: Any) -> None:
    """Read every remaining result; raise the first error among them."""
    error = None
    result = first
    while result is not None:
        if result.status in _FAILED and error is None:
            error = psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
        result = _next_result(pgconn, poller)
    if error is not None:
        raise error

"""Read a `COPY ... TO STDOUT` at the speed of libpq, in large blocks.

psycopg's `Copy` object hands out one row per iteration, through a stack of
Python generators: about 1.5 µs of CPU a row, which for a large export is more
than PostgreSQL spends making the CSV. This module drives the same COPY through
psycopg's own libpq wrapper (`Connection.pgconn`, its documented low-level
interface): `PQgetCopyData` in a tight loop, rows gathered into blocks of about
`block_size` bytes. A fifth of the CPU, for the same bytes.

Having caught up with the server, the reader naps for half a millisecond
rather than waiting in `poll()`. Waiting, it would be woken for each 8 kB the
server sends, and the wake-ups cost both processes more CPU than the rows they
bring. After a nap it reads the tens of kilobytes the server wrote meanwhile,
libpq's buffer after buffer with no wait in between. Measured on a COPY of a
million rows from a local server: 40% less CPU in this process and 20% less in
the server's, and no slower. A nap that brings no row (a server still
planning, or slowed down) is followed by a wait in `poll()`, so a slow COPY
costs no more wake-ups than before.

The connection is left as psycopg expects it: the COPY's final result is read,
and an error is raised as psycopg's exception for its SQLSTATE.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq

_COPY_OUT = pq.ExecStatus.COPY_OUT
# How long the reader sleeps when it has caught up with the server (see the module doc).
_NAP_SECONDS = 0.0005
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
    idle = 0  # reads in a row that brought no complete row
    while True:
        size, data = get_copy_data(1)  # 1: never block inside libpq
        if size > 0:
            idle = 0
            block += data
            in_block += 1
            if len(block) >= block_size:
                write(block)
                messages += in_block
                if on_block is not None:
                    on_block(in_block)
                block = bytearray()
                in_block = 0
        elif size == 0:  # libpq holds no complete row: read the socket, or wait
            if idle == 1:  # the socket was empty: let the server fill it for a moment
                time.sleep(_NAP_SECONDS)
            elif idle > 1:  # the server is slow to answer: wait until it does
                poller.poll()
            idle += 1
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

"""`copy_out`: the fast COPY reader gives psycopg's bytes, and fails as psycopg would."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from pond.exports.copy_out import copy_out


def psycopg_copy(conn: psycopg.Connection[tuple[object, ...]], query: sql.Composed) -> bytes:
    with conn.cursor() as cur, cur.copy(query) as copy:
        return b"".join(bytes(block) for block in copy)


def test_the_bytes_and_rows_are_those_of_psycopg_copy(conninfo: str) -> None:
    query = sql.SQL(
        "COPY (SELECT g, 'row ' || g, now()::date, %s::text FROM generate_series(1, 5000) g)"
        " TO STDOUT (FORMAT csv, HEADER)"
    )
    blocks: list[bytes] = []
    counts: list[int] = []
    with psycopg.connect(conninfo) as conn:
        messages = copy_out(
            conn,
            query,
            ['a "quoted", value\nover two lines'],
            lambda block: blocks.append(bytes(block)),
            block_size=4096,
            on_block=counts.append,
        )
        with psycopg.ClientCursor(conn) as cur:
            literal = cur.mogrify(query, ['a "quoted", value\nover two lines'])
        expected = psycopg_copy(conn, sql.Composed([sql.SQL(literal)]))
        # The connection is usable afterwards.
        assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
    assert b"".join(blocks) == expected
    assert messages == sum(counts) == 5001  # the header and 5,000 rows
    assert len(blocks) > 1
    assert all(len(block) >= 4096 for block in blocks[:-1])


def test_an_error_in_the_middle_of_the_copy_is_raised_and_leaves_the_connection_sane(
    conninfo: str,
) -> None:
    query = sql.SQL(
        "COPY (SELECT 1 / (g - 3000) FROM generate_series(1, 5000) g) TO STDOUT (FORMAT csv)"
    )
    written: list[int] = []
    with psycopg.connect(conninfo) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            copy_out(conn, query, [], lambda block: written.append(len(block)), block_size=1024)
        conn.rollback()
        assert conn.execute("SELECT 'still here'").fetchone() == ("still here",)


def test_a_statement_that_is_not_a_copy_out_is_refused(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        with pytest.raises(psycopg.ProgrammingError, match="COPY"):
            copy_out(conn, sql.SQL("SELECT 1"), [], lambda block: None)
        assert conn.execute("SELECT 2").fetchone() == (2,)

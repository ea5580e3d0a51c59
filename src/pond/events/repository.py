"""SQL for getting rows into `events`: CSV loaded all or none, and `pond seed`'s binary COPY.

A CSV load (`pond import` and `POST /insights/events`) goes through a staging
table holding the events' columns: `COPY` into it, then one `INSERT` into
`events` for the organisation. PostgreSQL checks every row before any is kept,
and its complaint names the line of the COPY (see `pond.events.importing.rejected`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import Copy, LibpqWriter

from pond.entities import EVENT

Conn = psycopg.AsyncConnection[Any]
SyncConn = psycopg.Connection[Any]

# The update changes nothing; it makes RETURNING give the ids of existing organisations too.
ENSURE_ORGS = (
    "INSERT INTO organisations (slug) SELECT unnest(%s::text[])"
    " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING slug, id"
)

# The staging table: events' columns, the organisation and id filled in on insert.
# Naive timestamps are read as UTC, whatever the server's zone.
_STAGE = (
    "SET LOCAL TIME ZONE 'UTC'",
    "CREATE TEMP TABLE incoming_events (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP",
    "ALTER TABLE incoming_events ALTER COLUMN org_id DROP NOT NULL, ALTER COLUMN id DROP NOT NULL",
)
# Keep the identity ahead of ids that came from the file.
_ADVANCE_IDS = (
    "SELECT setval(pg_get_serial_sequence('events', 'id'),"
    " greatest((SELECT max(id) FROM events), 1))"
)


def _names(columns: Iterable[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


async def load(conn: Conn, org_id: int, columns: list[str], blocks: Iterable[bytes]) -> int:
    """Load CSV `blocks` (the export's format, header first, naming `columns`) into the
    organisation's events, in one transaction; how many rows. A bad row loads none: the
    `psycopg.Error` of PostgreSQL's complaint is raised."""
    targets = [c for c in EVENT.columns if c in columns]
    copy_in = sql.SQL("COPY incoming_events ({}) FROM STDIN (FORMAT csv, HEADER true)")
    move = sql.SQL(
        "INSERT INTO events (org_id, {cols}) SELECT %s, {cols} FROM incoming_events"
    ).format(cols=_names(targets))
    async with conn.transaction():
        for statement in _STAGE:
            await conn.execute(statement)
        async with conn.cursor() as cur, cur.copy(copy_in.format(_names(columns))) as copy:
            for block in blocks:
                await copy.write(block)
        loaded = (await conn.execute(move, (org_id,))).rowcount
        if "id" in columns:
            await conn.execute(_ADVANCE_IDS)
    return int(loaded)


def ensure_orgs(conn: SyncConn, slugs: list[str]) -> dict[str, int]:
    """The id of each organisation of `slugs`, created if new (as
    `pond.clients.repository.ensure_org` does one, on a sync connection)."""
    rows = conn.execute(ENSURE_ORGS, (slugs,)).fetchall()
    return {str(slug): int(org_id) for slug, org_id in rows}


@contextlib.contextmanager
def copy_binary(
    conn: SyncConn, columns: Iterable[str], writer: type[LibpqWriter]
) -> Iterator[Copy]:
    """A binary `COPY events (columns) FROM STDIN`, sent by a `writer` made on its cursor;
    write the rows' bytes to what it yields."""
    statement = sql.SQL("COPY events ({}) FROM STDIN (FORMAT BINARY)").format(_names(columns))
    with conn.cursor() as cur, cur.copy(statement, writer=writer(cur)) as copy:
        yield copy

"""SQL the console needs beyond the API's: listings, operators, the newest jobs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from pond.snapshots.repository import Conn


@dataclass(frozen=True)
class SnapshotSummary:
    """One row of a snapshot listing, with the totals of its parts."""

    id: uuid.UUID
    org: str
    entity: str
    created_at_from: datetime
    created_at_to: datetime
    state: str
    reason: str | None
    created_at: datetime
    expires_at: datetime
    parts: int
    size: int | None
    rows: int | None


_SUMMARY = """
SELECT s.id, o.slug AS org, s.entity, s.created_at_from, s.created_at_to, s.state, s.reason,
       s.created_at, s.expires_at, count(p.seq)::int AS parts,
       sum(p.size)::bigint AS size, sum(p.row_count)::bigint AS rows
FROM snapshots s
JOIN organisations o ON o.id = s.org_id
LEFT JOIN snapshot_parts p ON p.snapshot_id = s.id
"""
_GROUP = " GROUP BY s.id, o.slug ORDER BY s.created_at DESC, s.id LIMIT %s"


async def org_snapshots(conn: Conn, org_id: int, *, limit: int = 200) -> list[SnapshotSummary]:
    """The organisation's live snapshots (neither expired nor deleted), newest first."""
    async with conn.cursor(row_factory=class_row(SnapshotSummary)) as cur:
        await cur.execute(
            _SUMMARY
            + " WHERE s.org_id = %s AND s.state NOT IN ('expired', 'deleted')"
            + " AND s.expires_at > now()"
            + _GROUP,
            (org_id, limit),
        )
        return await cur.fetchall()


async def recent_snapshots(
    conn: Conn, *, failed_only: bool = False, limit: int = 20
) -> list[SnapshotSummary]:
    """The newest snapshots of every organisation (only failed ones with `failed_only`)."""
    where = " WHERE s.state = 'failed'" if failed_only else ""
    async with conn.cursor(row_factory=class_row(SnapshotSummary)) as cur:
        await cur.execute(_SUMMARY + where + _GROUP, (limit,))
        return await cur.fetchall()


@dataclass(frozen=True)
class JobSummary:
    """One job of the queue, newest first."""

    id: int
    task_name: str
    status: str
    attempts: int
    queue_name: str
    args: str
    scheduled_at: datetime | None


async def recent_jobs(conn: Conn, *, limit: int = 20) -> list[JobSummary]:
    """The newest procrastinate jobs, whatever their status."""
    async with conn.cursor(row_factory=class_row(JobSummary)) as cur:
        await cur.execute(
            "SELECT id, task_name, status::text AS status, attempts, queue_name,"
            " args::text AS args, scheduled_at FROM procrastinate_jobs ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        return await cur.fetchall()


async def insert_operator(conn: Conn, name: str, password_hash: str) -> bool:
    """Add an operator; False if the name is taken."""
    cur = await conn.execute(
        "INSERT INTO console_operators (name, password_hash) VALUES (%s, %s)"
        " ON CONFLICT (name) DO NOTHING",
        (name, password_hash),
    )
    return cur.rowcount == 1


async def operator_hash(conn: Conn, name: str) -> str | None:
    """The stored password hash of operator `name`, or None if there is no such operator."""
    row = await (
        await conn.execute("SELECT password_hash FROM console_operators WHERE name = %s", (name,))
    ).fetchone()
    return None if row is None else str(row[0])


async def touch_operator(conn: Conn, name: str) -> None:
    """Record that operator `name` signed in now."""
    await conn.execute(
        "UPDATE console_operators SET last_login_at = now() WHERE name = %s", (name,)
    )

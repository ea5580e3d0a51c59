"""SQL for what the service reports of itself: readiness, and the figures that `/metrics`,
`pond status` and the operator's console show (the same for every process)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True)
class Stored:
    """The published parts of the snapshots kept: how many, their data rows and bytes."""

    parts: int
    rows: int
    bytes: int


async def ping(conn: Conn) -> None:
    """Pass if the database answers on `conn`; `psycopg.Error` if not."""
    await conn.execute("SELECT 1")


async def snapshot_counts(conn: Conn) -> dict[str, int]:
    """How many snapshots are in each state that has any, by state."""
    cur = await conn.execute("SELECT state, count(*) FROM snapshots GROUP BY state ORDER BY state")
    return {str(state): int(count) for state, count in await cur.fetchall()}


async def job_counts(conn: Conn) -> dict[str, int]:
    """How many jobs of the queue are in each status, every status named (0 if none)."""
    cur = await conn.execute(
        "SELECT s::text, count(j.id) FROM unnest(enum_range(NULL::procrastinate_job_status)) s"
        " LEFT JOIN procrastinate_jobs j ON j.status = s GROUP BY s ORDER BY 1"
    )
    return {str(status): int(count) for status, count in await cur.fetchall()}


async def queue_depth(conn: Conn) -> dict[str, int]:
    """How many jobs of the queue are in each status that has any."""
    return {status: count for status, count in (await job_counts(conn)).items() if count}


async def stored(conn: Conn) -> Stored:
    """The totals of every published part."""
    cur = await conn.execute(
        "SELECT count(*), coalesce(sum(row_count), 0), coalesce(sum(size), 0) FROM snapshot_parts"
    )
    row = await cur.fetchone()
    assert row is not None
    return Stored(int(row[0]), int(row[1]), int(row[2]))

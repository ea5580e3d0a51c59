"""SQL for snapshots and their parts."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.AsyncConnection[Any]

EXPORT_TASK = "pond.export_snapshot"
EXPORT_QUEUE = "exports"


@dataclass(frozen=True)
class SnapshotRecord:
    id: uuid.UUID
    org_id: int
    client_id: str
    entity: str
    created_at_from: datetime
    created_at_to: datetime
    state: str
    reason: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PartRecord:
    seq: int
    name: str
    size: int
    row_count: int
    sha256: str


async def insert_and_schedule(
    conn: Conn,
    *,
    snapshot_id: uuid.UUID,
    org_id: int,
    client_id: str,
    entity: str,
    start: datetime,
    end: datetime,
    retention_seconds: int,
) -> SnapshotRecord:
    """Create a pending snapshot and queue its export, in one transaction."""
    async with conn.transaction():
        async with conn.cursor(row_factory=class_row(SnapshotRecord)) as cur:
            await cur.execute(
                "INSERT INTO snapshots"
                " (id, org_id, client_id, entity, created_at_from, created_at_to, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))"
                " RETURNING id, org_id, client_id, entity, created_at_from, created_at_to,"
                " state, reason, created_at, expires_at",
                (snapshot_id, org_id, client_id, entity, start, end, retention_seconds),
            )
            record = await cur.fetchone()
        assert record is not None
        # procrastinate's own defer function, called inside our transaction: the job
        # exists if and only if the snapshot does.
        row = await (
            await conn.execute(
                "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
                "%s, %s, 0, NULL, NULL, %s::jsonb, NULL"
                ")]::procrastinate_job_to_defer_v1[]))",
                (EXPORT_QUEUE, EXPORT_TASK, json.dumps({"snapshot_id": str(snapshot_id)})),
            )
        ).fetchone()
        assert row is not None
        await conn.execute("UPDATE snapshots SET job_id = %s WHERE id = %s", (row[0], snapshot_id))
    return record


async def get_for_org(conn: Conn, snapshot_id: uuid.UUID, org_id: int) -> SnapshotRecord | None:
    async with conn.cursor(row_factory=class_row(SnapshotRecord)) as cur:
        await cur.execute(
            "SELECT id, org_id, client_id, entity, created_at_from, created_at_to, state, reason,"
            " created_at, expires_at FROM snapshots WHERE id = %s AND org_id = %s",
            (snapshot_id, org_id),
        )
        return await cur.fetchone()


async def parts(conn: Conn, snapshot_id: uuid.UUID) -> list[PartRecord]:
    async with conn.cursor(row_factory=class_row(PartRecord)) as cur:
        await cur.execute(
            "SELECT seq, name, size, row_count, sha256 FROM snapshot_parts"
            " WHERE snapshot_id = %s ORDER BY seq",
            (snapshot_id,),
        )
        return await cur.fetchall()

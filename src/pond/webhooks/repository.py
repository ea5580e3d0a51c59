"""SQL for webhook endpoints and their deliveries.

The API's routes use an async connection; queuing an event's deliveries runs in the
export job's thread, on a sync one (`SyncConn`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.AsyncConnection[Any]
SyncConn = psycopg.Connection[Any]

DELIVER_TASK = "pond.deliver_webhook"
WEBHOOK_QUEUE = "webhooks"


@dataclass(frozen=True)
class EndpointRecord:
    id: uuid.UUID
    org_id: int
    org: str
    url: str
    secret: str = field(repr=False)
    events: list[str]
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True)
class DeliveryRecord:
    """One event for one endpoint, with what the job needs to send it."""

    id: int
    event_id: str
    snapshot_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    url: str
    secret: str = field(repr=False)
    endpoint_disabled: bool


_ENDPOINT = """
SELECT e.id, e.org_id, o.slug AS org, e.url, e.secret, e.events, e.created_at, e.disabled_at
FROM webhook_endpoints e JOIN organisations o ON o.id = e.org_id
"""


async def insert(
    conn: Conn, *, endpoint_id: uuid.UUID, org_id: int, url: str, secret: str, events: list[str]
) -> EndpointRecord:
    """Store a new active endpoint; the endpoint as stored."""
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, org_id, url, secret, events)"
        " VALUES (%s, %s, %s, %s, %s)",
        (endpoint_id, org_id, url, secret, events),
    )
    found = await get(conn, endpoint_id)
    assert found is not None
    return found


async def get(conn: Conn, endpoint_id: uuid.UUID) -> EndpointRecord | None:
    """The endpoint, disabled or not; None for an unknown id."""
    async with conn.cursor(row_factory=class_row(EndpointRecord)) as cur:
        await cur.execute(_ENDPOINT + " WHERE e.id = %s", (endpoint_id,))
        return await cur.fetchone()


async def list_active(conn: Conn, org_id: int | None = None) -> list[EndpointRecord]:
    """The active endpoints of one organisation (or of all), oldest first."""
    where = " WHERE e.disabled_at IS NULL"
    params: tuple[Any, ...] = ()
    if org_id is not None:
        where += " AND e.org_id = %s"
        params = (org_id,)
    async with conn.cursor(row_factory=class_row(EndpointRecord)) as cur:
        await cur.execute(_ENDPOINT + where + " ORDER BY e.created_at, e.id", params)
        return await cur.fetchall()


async def count_active(conn: Conn, org_id: int) -> int:
    """The organisation's active endpoints.

    Takes a transaction-level lock per organisation first, so two concurrent
    registrations cannot both pass a cap: call it inside the registering transaction.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (org_id,))
    row = await (
        await conn.execute(
            "SELECT count(*) FROM webhook_endpoints WHERE org_id = %s AND disabled_at IS NULL",
            (org_id,),
        )
    ).fetchone()
    return int(row[0]) if row else 0


async def disable(conn: Conn, endpoint_id: uuid.UUID, org_id: int | None = None) -> bool:
    """Disable an active endpoint (of `org_id`, when given); False if there is none."""
    sql = "UPDATE webhook_endpoints SET disabled_at = now() WHERE id = %s AND disabled_at IS NULL"
    params: tuple[Any, ...] = (endpoint_id,)
    if org_id is not None:
        sql += " AND org_id = %s"
        params = (endpoint_id, org_id)
    cur = await conn.execute(sql, params)
    return cur.rowcount == 1


async def get_delivery(conn: Conn, delivery_id: int) -> DeliveryRecord | None:
    """The delivery with its endpoint's URL and secret; None for an unknown id."""
    async with conn.cursor(row_factory=class_row(DeliveryRecord)) as cur:
        await cur.execute(
            "SELECT d.id, d.event_id, d.snapshot_id, d.event_type, d.payload, d.status,"
            " d.attempts, e.url, e.secret, e.disabled_at IS NOT NULL AS endpoint_disabled"
            " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
            " WHERE d.id = %s",
            (delivery_id,),
        )
        return await cur.fetchone()


async def record_attempt(
    conn: Conn,
    delivery_id: int,
    *,
    status: str,
    http_status: int | None = None,
    error: str | None = None,
    counted: bool = True,
) -> None:
    """Store the outcome of one attempt (`counted=False`: no request was sent)."""
    await conn.execute(
        "UPDATE webhook_deliveries SET status = %s, attempts = attempts + %s,"
        " last_status = %s, last_error = %s, updated_at = now() WHERE id = %s",
        (status, 1 if counted else 0, http_status, error, delivery_id),
    )


def snapshot_outcome(conn: SyncConn, snapshot_id: uuid.UUID) -> tuple[int, str, str | None] | None:
    """The snapshot's organisation, state and reason; None if it is gone."""
    row = conn.execute(
        "SELECT org_id, state, reason FROM snapshots WHERE id = %s", (snapshot_id,)
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def listed_parts(
    conn: SyncConn, snapshot_id: uuid.UUID
) -> list[tuple[str, int | None, int | None, str]]:
    """The snapshot's published parts in order: name, size, rows and state of each."""
    rows = conn.execute(
        "SELECT name, size, row_count, state FROM snapshot_parts"
        " WHERE snapshot_id = %s ORDER BY seq",
        (snapshot_id,),
    ).fetchall()
    return [(str(name), size, count, str(state)) for name, size, count, state in rows]


def subscribed(conn: SyncConn, org_id: int, event_type: str) -> list[uuid.UUID]:
    """The organisation's active endpoints that asked for `event_type`."""
    rows = conn.execute(
        "SELECT id FROM webhook_endpoints"
        " WHERE org_id = %s AND disabled_at IS NULL AND %s = ANY (events)",
        (org_id, event_type),
    ).fetchall()
    return [row[0] for row in rows]


def insert_delivery(
    conn: SyncConn,
    *,
    event_id: str,
    endpoint_id: uuid.UUID,
    snapshot_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
) -> int | None:
    """Record one event for one endpoint; its id, or None if the endpoint already has this
    snapshot's event (a rerun of the export)."""
    row = conn.execute(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id, snapshot_id, event_type,"
        " payload) VALUES (%s, %s, %s, %s, %s::jsonb)"
        " ON CONFLICT (endpoint_id, snapshot_id, event_type) DO NOTHING RETURNING id",
        (event_id, endpoint_id, snapshot_id, event_type, json.dumps(payload)),
    ).fetchone()
    return None if row is None else int(row[0])

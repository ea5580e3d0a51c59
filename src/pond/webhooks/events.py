"""Snapshot events: when an export finishes, one delivery per endpoint, each its own job.

`emit` runs in the export job's thread, after the snapshot's state is stored. The
deliveries and their jobs are written in one transaction, so an event is either
queued for every endpoint or for none; running it again for the same snapshot and
event (a rerun of the export job) queues nothing new.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog

from pond.jobs import queue
from pond.snapshots.dates import format_instant
from pond.webhooks import repository
from pond.webhooks.repository import DELIVER_TASK, WEBHOOK_QUEUE

log = structlog.get_logger("pond.webhooks")

COMPLETED = "snapshot.completed"
FAILED = "snapshot.failed"
_STATE_OF = {COMPLETED: "complete", FAILED: "failed"}


def _payload(
    conn: repository.SyncConn, snapshot_id: uuid.UUID, event_type: str, public_url: str | None
) -> tuple[int, dict[str, Any]] | None:
    """The organisation and the event body; None unless the snapshot is in the event's state."""
    found = repository.snapshot_outcome(conn, snapshot_id)
    if found is None:
        return None
    org_id, state, reason = found
    if state != _STATE_OF[event_type]:
        # A rerun that found nothing to do, or a snapshot deleted meanwhile: no event.
        return None
    parts = repository.listed_parts(conn, snapshot_id)
    data: dict[str, Any] = {"id": str(snapshot_id), "state": state}
    if public_url:
        data["href"] = f"{public_url.rstrip('/')}/insights/snapshots/{snapshot_id}"
    # A failed part (the others complete) has no object: no size and no count.
    data["items"] = [
        {"name": n, "size": s, "count": c, "state": st}
        if st != "complete"
        else {"name": n, "size": s, "count": c}
        for n, s, c, st in parts
    ]
    if state == "failed" and reason:
        data["reason"] = reason
    timestamp = format_instant(datetime.now(UTC))
    return org_id, {"type": event_type, "timestamp": timestamp, "data": data}


def emit(
    conninfo: str, snapshot_id: uuid.UUID | str, event_type: str, *, public_url: str | None = None
) -> int:
    """Queue `event_type` for every active endpoint of the snapshot's organisation.

    Returns how many deliveries were queued. Never raises for webhook reasons that
    the export cannot fix; database errors propagate.
    """
    sid = uuid.UUID(str(snapshot_id))
    event_id = f"msg_{uuid.uuid4().hex}"
    queued = 0
    with psycopg.connect(conninfo) as conn, conn.transaction():
        built = _payload(conn, sid, event_type, public_url)
        if built is None:
            return 0
        org_id, payload = built
        for endpoint_id in repository.subscribed(conn, org_id, event_type):
            delivery_id = repository.insert_delivery(
                conn,
                event_id=event_id,
                endpoint_id=endpoint_id,
                snapshot_id=sid,
                event_type=event_type,
                payload=payload,
            )
            if delivery_id is None:
                continue
            # Deferred inside our transaction: the job exists if and only if the delivery does.
            queue.defer(conn, WEBHOOK_QUEUE, DELIVER_TASK, {"delivery_id": delivery_id})
            queued += 1
    if queued:
        log.info(
            "webhook.queued",
            snapshot_id=str(sid),
            event_type=event_type,
            event_id=event_id,
            deliveries=queued,
        )
    return queued

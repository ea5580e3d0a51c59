"""What a snapshot request means: validate, schedule, and describe a snapshot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pond.auth.bearer import Principal
from pond.entities import get_entity
from pond.errors import SnapshotGone, SnapshotNotFound
from pond.settings import Settings
from pond.snapshots import repository
from pond.snapshots.dates import format_instant, parse_range
from pond.snapshots.repository import Conn, PartRecord, SnapshotRecord
from pond.storage.base import ObjectStore


def snapshot_href(base_url: str, snapshot_id: uuid.UUID) -> str:
    return f"{base_url}/insights/snapshots/{snapshot_id}"


async def create(
    conn: Conn, principal: Principal, params: dict[str, Any], settings: Settings
) -> SnapshotRecord:
    """Validate the request parameters and schedule the export; nothing is stored if invalid."""
    start, end = parse_range(params.get("created_at_from"), params.get("created_at_to"))
    entity_name = params.get("entity") or "event"
    entity = get_entity(str(entity_name))
    return await repository.insert_and_schedule(
        conn,
        snapshot_id=uuid.uuid4(),
        org_id=principal.org_id,
        client_id=principal.client_id,
        entity=entity.name,
        start=start,
        end=end,
        retention_seconds=settings.retention_seconds,
    )


async def find(conn: Conn, principal: Principal, snapshot_id: str) -> SnapshotRecord:
    """The caller's snapshot, or SnapshotNotFound (unknown, not theirs) or SnapshotGone."""
    try:
        parsed = uuid.UUID(snapshot_id)
    except ValueError:
        raise SnapshotNotFound("no such snapshot; check the href") from None
    record = await repository.get_for_org(conn, parsed, principal.org_id)
    if record is None:
        raise SnapshotNotFound("no such snapshot; check the href")
    if record.state == "expired" or record.expires_at <= datetime.now(UTC):
        raise SnapshotGone(
            f"snapshot {record.id} expired at {format_instant(record.expires_at)}"
            " and its files are no longer available; schedule a new snapshot"
        )
    return record


def _query(record: SnapshotRecord) -> dict[str, Any]:
    return {
        "entity": record.entity,
        "created_at": [
            format_instant(record.created_at_from),
            format_instant(record.created_at_to),
        ],
    }


def render(
    record: SnapshotRecord,
    parts: list[PartRecord],
    *,
    base_url: str,
    store: ObjectStore,
    link_ttl: int,
) -> dict[str, Any]:
    """The wire object `{"href", "items"}`; complete items carry freshly signed links."""
    query = _query(record)
    if record.state != "complete":
        item: dict[str, Any] = {
            "href": None,
            "size": None,
            "count": None,
            "state": record.state,
            "query": query,
        }
        if record.state == "failed":
            item["reason"] = record.reason or "the export failed"
        items = [item]
    else:
        # A link never outlives the snapshot's retention.
        expires_at = min(datetime.now(UTC) + timedelta(seconds=link_ttl), record.expires_at)
        items = [
            {
                "href": store.signed_url(
                    f"{record.id}/{part.name}", expires_at=expires_at, base_url=base_url
                ),
                "size": part.size,
                "count": part.row_count,
                "state": "complete",
                "query": query,
            }
            for part in parts
        ]
    return {"href": snapshot_href(base_url, record.id), "items": items}

"""What a snapshot request means: validate, schedule, find, delete and describe snapshots."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pond.auth.bearer import Principal
from pond.entities import get_entity
from pond.errors import (
    IdempotencyConflict,
    InputError,
    SnapshotGone,
    SnapshotNotFound,
    TooManySnapshots,
    UnknownEntity,
)
from pond.exports import options as export_options
from pond.exports.formats import columns_of
from pond.settings import Settings
from pond.snapshots import idempotency, repository
from pond.snapshots.dates import format_instant, parse_range
from pond.snapshots.records import PartRecord, SnapshotRecord
from pond.snapshots.repository import Conn
from pond.storage.base import ObjectStore

# How long a client over its organisation's cap is told to wait before trying again.
_ACTIVE_CAP_RETRY_AFTER = 5


def snapshot_href(base_url: str, snapshot_id: uuid.UUID) -> str:
    return f"{base_url}/insights/snapshots/{snapshot_id}"


@dataclasses.dataclass(frozen=True)
class Created:
    """A creation's snapshot; `replayed` when an Idempotency-Key returned an earlier one."""

    record: SnapshotRecord
    replayed: bool = False


async def create(
    conn: Conn, principal: Principal, params: dict[str, Any], settings: Settings
) -> SnapshotRecord:
    """Validate the parameters and schedule the export; see `schedule` for what can fail."""
    return (await schedule(conn, principal, params, settings)).record


async def schedule(
    conn: Conn,
    principal: Principal,
    params: dict[str, Any],
    settings: Settings,
    *,
    idempotency_key: str | None = None,
) -> Created:
    """Validate the parameters and schedule the export, in one transaction.

    Raises `InputError` subclasses for bad parameters, `IdempotencyConflict` when
    the key was used for another request in the last 24 hours, `TooManySnapshots`
    when the organisation is at `max_active_snapshots`. Nothing is stored then.
    """
    start, end = parse_range(params.get("created_at_from"), params.get("created_at_to"))
    entity = get_entity(_entity_name(params.get("entity")))
    options = export_options.parse(params, entity)
    fingerprint = idempotency.request_hash(entity.name, start, end, options)
    async with conn.transaction():
        if idempotency_key is not None:
            earlier = await idempotency.lookup(conn, principal.client_id, idempotency_key)
            if earlier is not None:
                if earlier.request_hash != fingerprint:
                    raise IdempotencyConflict(
                        f"this {idempotency.HEADER} was used in the last 24 hours for a"
                        " different request",
                        hint="send a new key for a new snapshot, or resend the same parameters",
                    )
                record = await repository.get_for_org(conn, earlier.snapshot_id, principal.org_id)
                if record is not None:
                    return Created(record, replayed=True)
        cap = settings.max_active_snapshots
        if cap > 0 and await repository.count_active(conn, principal.org_id) >= cap:
            raise TooManySnapshots(
                f"your organisation already has {cap} snapshots pending or running",
                hint="wait for one to finish, or delete one, then retry",
                retry_after=_ACTIVE_CAP_RETRY_AFTER,
            )
        record = await repository.insert_and_schedule(
            conn,
            snapshot_id=uuid.uuid4(),
            org_id=principal.org_id,
            client_id=principal.client_id,
            entity=entity.name,
            start=start,
            end=end,
            retention_seconds=settings.retention_seconds,
            options=options,
        )
        if idempotency_key is not None:
            await idempotency.remember(
                conn, principal.client_id, idempotency_key, fingerprint, record.id
            )
    return Created(record)


def _entity_name(value: object) -> str:
    """The entity asked for: `event` when absent or empty; `UnknownEntity` unless text."""
    if value is None or value == "":
        return "event"
    if not isinstance(value, str):
        raise UnknownEntity("entity must be the name of an entity, such as event")
    return value


def parse_id(snapshot_id: str) -> uuid.UUID | None:
    """The id in an href's last segment; None if it cannot be one (no snapshot has it)."""
    try:
        return uuid.UUID(snapshot_id)
    except ValueError:
        return None


def parse_details(value: str | None) -> bool:
    """`?details=true`: pond's extra item fields; without it, the documented answer exactly."""
    value = (value or "").lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise InputError("details must be true or false")


def _parse_id(snapshot_id: str) -> uuid.UUID:
    parsed = parse_id(snapshot_id)
    if parsed is None:
        raise SnapshotNotFound("no such snapshot; check the href")
    return parsed


async def find(conn: Conn, principal: Principal, snapshot_id: str) -> SnapshotRecord:
    """The caller's snapshot, or SnapshotNotFound (unknown, not theirs, deleted) or SnapshotGone."""
    return visible(await repository.get_for_org(conn, _parse_id(snapshot_id), principal.org_id))


def visible(record: SnapshotRecord | None) -> SnapshotRecord:
    """`record` as read for its organisation: SnapshotNotFound (none, deleted), SnapshotGone."""
    if record is None or record.deleted_at is not None:
        raise SnapshotNotFound("no such snapshot; check the href")
    if record.state == "expired" or record.expires_at <= datetime.now(UTC):
        raise SnapshotGone(
            f"snapshot {record.id} expired at {format_instant(record.expires_at)}"
            " and its files are no longer available; schedule a new snapshot"
        )
    return record


async def delete(conn: Conn, store: ObjectStore, principal: Principal, snapshot_id: str) -> None:
    """Cancel the snapshot's work and delete its files; SnapshotNotFound if there is none.

    A snapshot past retention can be deleted too; a deleted one answers 404 from then on.
    """
    parsed = _parse_id(snapshot_id)
    if not await repository.mark_deleted(conn, parsed, principal.org_id):
        raise SnapshotNotFound("no such snapshot; check the href")
    await conn.commit()
    # Objects go only after the commit: a failure here leaves a deleted snapshot whose
    # files retention sweeps (its expiry was brought forward), never a live one without files.
    await asyncio.to_thread(store.delete_prefix, str(parsed))


def _query(record: SnapshotRecord) -> dict[str, Any]:
    """The documented echo; `columns` and `compression` follow only when they were asked for."""
    return {
        "entity": record.entity,
        "created_at": [
            format_instant(record.created_at_from),
            format_instant(record.created_at_to),
        ],
        **record.options.echo(),
    }


def _layout(record: SnapshotRecord) -> dict[str, Any]:
    """A part's format and columns with their types, as `?details=true` shows them.

    No columns when the entity is no longer configured: the parts stay downloadable.
    """
    layout: dict[str, Any] = {"format": record.options.format}
    try:
        columns = columns_of(get_entity(record.entity), record.options)
    except (UnknownEntity, KeyError, ValueError):
        return layout
    layout["columns"] = [column.to_wire() for column in columns]
    return layout


def _unfinished_item(state: str, query: dict[str, Any]) -> dict[str, Any]:
    return {"href": None, "size": None, "count": None, "state": state, "query": query}


def render(
    record: SnapshotRecord,
    parts: list[PartRecord],
    *,
    base_url: str,
    store: ObjectStore,
    link_ttl: int,
    details: bool = False,
) -> dict[str, Any]:
    """The wire object `{"href", "items"}`; complete items carry freshly signed links.

    Complete items are exactly the documented ones unless `details` is asked for
    (`?details=true`, and always in listings): then `expires_at`, `sha256`,
    `run`, the part's `format` and its `columns` (name, Arrow type, PostgreSQL
    type) follow the documented keys. A failed item carries its `reason`. A failed
    snapshot whose export got as far as its parts lists them all: the complete
    ones with their links, the failed ones with their reasons. With `details`, a
    running snapshot lists the parts finished so far, then one running item.
    """
    query = _query(record)
    finished = record.state in ("complete", "failed")
    if not finished:
        item = _unfinished_item(record.state, query)
        if record.state == "running" and details:
            item["rows_exported"] = record.rows_exported or 0
            item["run"] = record.attempts
            done = [part for part in parts if part.state == "complete"]
            items = _part_items(record, done, query, base_url, store, link_ttl, details)
            return {"href": snapshot_href(base_url, record.id), "items": [*items, item]}
        return {"href": snapshot_href(base_url, record.id), "items": [item]}
    if not parts:
        item = _unfinished_item(record.state, query)
        if record.state == "failed":
            item["reason"] = record.reason or "the export failed"
        return {"href": snapshot_href(base_url, record.id), "items": [item]}
    items = _part_items(record, parts, query, base_url, store, link_ttl, details)
    return {"href": snapshot_href(base_url, record.id), "items": items}


def _part_items(
    record: SnapshotRecord,
    parts: list[PartRecord],
    query: dict[str, Any],
    base_url: str,
    store: ObjectStore,
    link_ttl: int,
    details: bool,
) -> list[dict[str, Any]]:
    """The items of published parts: complete ones with a link, failed ones with a reason."""
    # A link never outlives the snapshot's retention; whole seconds, as links carry.
    expires_at = min(datetime.now(UTC) + timedelta(seconds=link_ttl), record.expires_at).replace(
        microsecond=0
    )
    items = []
    layout = _layout(record) if details else {}
    for part in parts:
        if part.state != "complete":
            item = _unfinished_item("failed", query)
            item["reason"] = part.reason or "this part failed"
            items.append(item)
            continue
        items.append(
            {
                "href": store.signed_url(
                    f"{record.id}/{part.name}", expires_at=expires_at, base_url=base_url
                ),
                "size": part.size,
                "count": part.row_count,
                "state": "complete",
                "query": query,
                **(
                    {
                        "expires_at": format_instant(expires_at),
                        "sha256": part.sha256,
                        "run": record.attempts,
                        **layout,
                    }
                    if details
                    else {}
                ),
            }
        )
    return items


def render_accepted(record: SnapshotRecord, *, base_url: str) -> dict[str, Any]:
    """The 202 body of a creation, exactly the documented one (a replay answers it again)."""
    item = _unfinished_item("pending", _query(record))
    return {
        "result": "OK",
        "snapshot": {"href": snapshot_href(base_url, record.id), "items": [item]},
    }

"""SQL for snapshots and their parts."""

from __future__ import annotations

import itertools
import operator
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from pond.exports.options import ExportOptions
from pond.jobs import queue

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
    deleted_at: datetime | None
    format: str = "csv"
    compression: str | None = None
    export_columns: list[str] | None = None
    rows_exported: int | None = None
    attempts: int = 0  # runs of its export so far: the run that published its parts

    @property
    def options(self) -> ExportOptions:
        columns = tuple(self.export_columns) if self.export_columns is not None else None
        return ExportOptions(format=self.format, compression=self.compression, columns=columns)


_COLUMNS = (
    "id, org_id, client_id, entity, created_at_from, created_at_to, state, reason,"
    " created_at, expires_at, deleted_at, format, compression, export_columns, rows_exported,"
    " attempts"
)


# States of a snapshot whose parts are published (a failed one may have some).
PUBLISHED = ("complete", "failed")
# States in which a snapshot may list parts: a running export lists each finished part
# as soon as its place is known (shown only on request, see `service.render`).
WITH_PARTS = (*PUBLISHED, "running")


@dataclass(frozen=True)
class PartRecord:
    """A published part: `complete` with its object, or `failed` with a reason and none."""

    seq: int
    name: str
    size: int | None
    row_count: int | None
    sha256: str | None
    state: str = "complete"
    reason: str | None = None


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
    options: ExportOptions | None = None,
) -> SnapshotRecord:
    """Create a pending snapshot and queue its export, in one transaction."""
    options = options or ExportOptions()
    columns = list(options.columns) if options.columns is not None else None
    async with conn.transaction():
        async with conn.cursor(row_factory=class_row(SnapshotRecord)) as cur:
            await cur.execute(
                "INSERT INTO snapshots"
                " (id, org_id, client_id, entity, created_at_from, created_at_to, expires_at,"
                " format, compression, export_columns)"
                " VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s, %s, %s)"
                " RETURNING " + _COLUMNS,
                (
                    snapshot_id,
                    org_id,
                    client_id,
                    entity,
                    start,
                    end,
                    retention_seconds,
                    options.format,
                    options.compression,
                    columns,
                ),
            )
            record = await cur.fetchone()
        assert record is not None
        # Deferred inside our transaction: the job exists if and only if the snapshot does.
        [job_id] = await queue.defer_async(
            conn, EXPORT_QUEUE, EXPORT_TASK, {"snapshot_id": str(snapshot_id)}
        )
        await conn.execute("UPDATE snapshots SET job_id = %s WHERE id = %s", (job_id, snapshot_id))
    return record


async def get_for_org(conn: Conn, snapshot_id: uuid.UUID, org_id: int) -> SnapshotRecord | None:
    """The organisation's snapshot, deleted ones included (the caller decides what they mean)."""
    async with conn.cursor(row_factory=class_row(SnapshotRecord)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM snapshots WHERE id = %s AND org_id = %s",
            (snapshot_id, org_id),
        )
        return await cur.fetchone()


@dataclass(frozen=True)
class ClientStanding:
    """A client as its tokens are checked against it (see `pond.auth.bearer.admit`)."""

    client_id: str
    org_id: int
    generation: int
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Lookup:
    """What a snapshot GET reads: the token's client, the snapshot and its published parts.

    `client` is None for an unknown client; `record` is None when the client's
    organisation has no such snapshot; `parts` is empty unless the snapshot's
    state is one of `WITH_PARTS`.
    """

    client: ClientStanding | None
    record: SnapshotRecord | None
    parts: list[PartRecord]


_SNAPSHOT_FIELDS = [name.strip() for name in _COLUMNS.split(",")]
# PartRecord's fields are snapshot_parts columns, as `parts` reads them.
_PART_FIELDS = [f.name for f in fields(PartRecord)]
LookupKey = tuple[str, uuid.UUID | None]  # (client id, snapshot id or None)
# The snapshot is found by its id alone, then checked against the client's organisation.
# Joined on both, the planner may rather walk the organisation's snapshots by its index
# (it reckons each organisation holds the average number) and filter them by id: a GET
# would then cost as much as the organisation has snapshots. The LIMIT keeps the lateral
# subquery apart from the join, so the primary key is its only way in.
_LOOKUP = (
    "SELECT k.n, c.client_id, c.org_id, c.generation, c.revoked_at, p.snapshot_id IS NOT NULL, "
    + ", ".join(f"s.{name}" for name in _SNAPSHOT_FIELDS)
    + ", "
    + ", ".join(f"p.{name}" for name in _PART_FIELDS)
    + " FROM unnest(%s::text[], %s::uuid[]) WITH ORDINALITY AS k (client_id, snapshot_id, n)"
    " JOIN oauth_clients c ON c.client_id = k.client_id"
    " LEFT JOIN LATERAL (SELECT * FROM snapshots WHERE id = k.snapshot_id LIMIT 1) s"
    " ON s.org_id = c.org_id"
    " LEFT JOIN snapshot_parts p ON p.snapshot_id = s.id AND s.state IN ("
    + ", ".join(f"'{state}'" for state in WITH_PARTS)
    + ") ORDER BY k.n, p.seq"
)
_MISSING = Lookup(client=None, record=None, parts=[])


async def lookup_many(conn: Conn, keys: list[LookupKey]) -> dict[LookupKey, Lookup]:
    """The client, its organisation's snapshot (None: none) and its parts, for each key.

    One statement for all the keys, so that authenticated GETs cost one round trip
    between them: deleted and expired snapshots are returned too (the caller
    decides what they mean). Every key is answered; an unknown client's lookup
    holds nothing.
    """
    rows = await (
        await conn.execute(_LOOKUP, ([key[0] for key in keys], [key[1] for key in keys]))
    ).fetchall()
    split = 6 + len(_SNAPSHOT_FIELDS)
    found: dict[LookupKey, Lookup] = {}
    for number, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        batch = list(group)
        first = batch[0]
        record = None
        if first[6] is not None:
            record = SnapshotRecord(**dict(zip(_SNAPSHOT_FIELDS, first[6:split], strict=True)))
        parts = [
            PartRecord(**dict(zip(_PART_FIELDS, row[split:], strict=True)))
            for row in batch
            if row[5]
        ]
        found[keys[number - 1]] = Lookup(ClientStanding(*first[1:5]), record, parts)
    return {key: found.get(key, _MISSING) for key in keys}


@dataclass(frozen=True)
class ListQuery:
    """One page of an organisation's live snapshots, newest first; None means no filter."""

    org_id: int
    limit: int
    states: tuple[str, ...] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # The (created_at, id) of the last snapshot of the previous page.
    after_key: tuple[datetime, uuid.UUID] | None = None


async def list_for_org(conn: Conn, query: ListQuery) -> list[SnapshotRecord]:
    """Up to `query.limit` snapshots, neither deleted nor past retention, newest first."""
    where = ["org_id = %s", "deleted_at IS NULL", "state <> 'expired'", "expires_at > now()"]
    params: list[Any] = [query.org_id]
    if query.states is not None:
        where.append("state = ANY(%s)")
        params.append(list(query.states))
    if query.created_after is not None:
        where.append("created_at >= %s")
        params.append(query.created_after)
    if query.created_before is not None:
        where.append("created_at < %s")
        params.append(query.created_before)
    if query.after_key is not None:
        where.append("(created_at, id) < (%s, %s)")
        params.extend(query.after_key)
    params.append(query.limit)
    async with conn.cursor(row_factory=class_row(SnapshotRecord)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM snapshots WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            params,
        )
        return await cur.fetchall()


async def count_active(conn: Conn, org_id: int) -> int:
    """Pending and running snapshots of the organisation.

    Takes a transaction-level lock per organisation first, so two concurrent
    creations cannot both pass a cap: call it inside the creating transaction.
    """
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('pond.active:' || %s::text, 0))",
        (org_id,),
    )
    row = await (
        await conn.execute(
            "SELECT count(*) FROM snapshots WHERE org_id = %s AND state IN ('pending', 'running')",
            (org_id,),
        )
    ).fetchone()
    return int(row[0]) if row else 0


async def mark_deleted(conn: Conn, snapshot_id: uuid.UUID, org_id: int) -> bool:
    """Mark the snapshot deleted and cancel its job; False if there is no such live snapshot.

    The row stays (state 'deleted', `deleted_at` set) so that an export still running
    cannot complete it: the exporter only publishes a 'running' snapshot. Its expiry
    is brought forward so that retention sweeps its prefix once more, catching parts
    that an export in flight committed after the caller deleted the objects.
    """
    async with conn.transaction():
        row = await (
            await conn.execute(
                "UPDATE snapshots SET state = 'deleted', deleted_at = now(),"
                " expires_at = least(expires_at, now())"
                " WHERE id = %s AND org_id = %s AND deleted_at IS NULL RETURNING job_id",
                (snapshot_id, org_id),
            )
        ).fetchone()
        if row is None:
            return False
        if row[0] is not None:
            # A queued job is cancelled, a running one is asked to abort (the exporter
            # then finds the snapshot no longer running).
            await queue.cancel_async(conn, row[0])
        await conn.execute("DELETE FROM snapshot_parts WHERE snapshot_id = %s", (snapshot_id,))
        await conn.execute("DELETE FROM idempotency_keys WHERE snapshot_id = %s", (snapshot_id,))
    return True


async def parts_of_many(
    conn: Conn, snapshot_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[PartRecord]]:
    """The parts of each snapshot, in order, in one query."""
    found: dict[uuid.UUID, list[PartRecord]] = {sid: [] for sid in snapshot_ids}
    if not snapshot_ids:
        return found
    rows = await (
        await conn.execute(
            "SELECT snapshot_id, seq, name, size, row_count, sha256, state, reason"
            " FROM snapshot_parts"
            " WHERE snapshot_id = ANY(%s) ORDER BY snapshot_id, seq",
            (snapshot_ids,),
        )
    ).fetchall()
    for sid, *rest in rows:
        found[sid].append(PartRecord(*rest))
    return found


async def parts(conn: Conn, snapshot_id: uuid.UUID) -> list[PartRecord]:
    async with conn.cursor(row_factory=class_row(PartRecord)) as cur:
        await cur.execute(
            "SELECT seq, name, size, row_count, sha256, state, reason FROM snapshot_parts"
            " WHERE snapshot_id = %s ORDER BY seq",
            (snapshot_id,),
        )
        return await cur.fetchall()


# One retention sweep at a time across the deployment (a session-level advisory lock).
_RETENTION_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('pond.retention', 0))"
_RETENTION_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('pond.retention', 0))"


async def lock_retention(conn: Conn) -> bool:
    """Take the retention sweep's lock for this session; False if another session holds it."""
    row = await (await conn.execute(_RETENTION_LOCK)).fetchone()
    return bool(row and row[0])


async def unlock_retention(conn: Conn) -> None:
    await conn.execute(_RETENTION_UNLOCK)


async def due_for_expiry(conn: Conn, limit: int) -> list[uuid.UUID]:
    """Up to `limit` snapshots past retention and not marked expired yet, oldest expiry first."""
    rows = await (
        await conn.execute(
            "SELECT id FROM snapshots WHERE expires_at <= now() AND state <> 'expired'"
            " ORDER BY expires_at LIMIT %s",
            (limit,),
        )
    ).fetchall()
    return [row[0] for row in rows]


async def mark_expired(conn: Conn, snapshot_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Mark those of `snapshot_ids` that are past retention expired and drop their parts, in
    one transaction; the ids marked. A snapshot still within retention is left as it is."""
    async with conn.transaction():
        rows = await (
            await conn.execute(
                "UPDATE snapshots SET state = 'expired'"
                " WHERE id = ANY(%s) AND expires_at <= now() AND state <> 'expired' RETURNING id",
                (snapshot_ids,),
            )
        ).fetchall()
        marked = [row[0] for row in rows]
        await conn.execute("DELETE FROM snapshot_parts WHERE snapshot_id = ANY(%s)", (marked,))
    return marked

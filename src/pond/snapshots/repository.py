"""SQL of the API side for snapshots: create, read, list, delete; their idempotency keys;
and listening for news of them.

The export changes a snapshot's rows only through `pond.exports.repository`.
"""

from __future__ import annotations

import itertools
import operator
import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from pond.exports.options import ExportOptions
from pond.jobs import queue
from pond.limits import repository as limits
from pond.limits.repository import Grant
from pond.snapshots.records import (
    WITH_PARTS,
    ClientStanding,
    ListQuery,
    Lookup,
    LookupKey,
    PartRecord,
    Remembered,
    SnapshotRecord,
)

Conn = psycopg.AsyncConnection[Any]

EXPORT_TASK = "pond.export_snapshot"
EXPORT_QUEUE = "exports"
# Where every change of a snapshot is announced (by the trigger on `snapshots`, and by
# `pg_notify` for other news), with the snapshot's id as the payload.
CHANNEL = "pond_snapshots"

_SNAPSHOT_FIELDS = [f.name for f in fields(SnapshotRecord)]
_COLUMNS = ", ".join(_SNAPSHOT_FIELDS)


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


# PartRecord's fields are snapshot_parts columns, as `parts` reads them.
_PART_FIELDS = [f.name for f in fields(PartRecord)]
# The snapshot is found by its id alone, then checked against the client's organisation.
# Joined on both, the planner may rather walk the organisation's snapshots by its index
# (it reckons each organisation holds the average number) and filter them by id: a GET
# would then cost as much as the organisation has snapshots. The LIMIT keeps the lateral
# subquery apart from the join, so the primary key is its only way in.
_LOOKUP_COLUMNS = (
    "SELECT k.n, c.client_id, c.org_id, c.generation, c.revoked_at, p.snapshot_id IS NOT NULL, "
    + ", ".join(f"s.{name}" for name in _SNAPSHOT_FIELDS)
    + ", "
    + ", ".join(f"p.{name}" for name in _PART_FIELDS)
)
_LOOKUP_FROM = (
    " FROM unnest(%(clients)s::text[], %(snapshots)s::uuid[]) WITH ORDINALITY"
    " AS k (client_id, snapshot_id, n)"
    " JOIN oauth_clients c ON c.client_id = k.client_id"
    " LEFT JOIN LATERAL (SELECT * FROM snapshots WHERE id = k.snapshot_id LIMIT 1) s"
    " ON s.org_id = c.org_id"
    " LEFT JOIN snapshot_parts p ON p.snapshot_id = s.id AND s.state IN ("
    + ", ".join(f"'{state}'" for state in WITH_PARTS)
    + ")"
)
_LOOKUP = _LOOKUP_COLUMNS + ", NULL, NULL" + _LOOKUP_FROM + " ORDER BY k.n, p.seq"
# The same, counting each client's requests against its rate in the same round trip.
_LOOKUP_COUNTED = (
    "WITH counted AS ({counting}) "
    + _LOOKUP_COLUMNS
    + ", g.granted, g.ahead"
    + _LOOKUP_FROM
    + " LEFT JOIN counted g ON g.key = k.client_id ORDER BY k.n, p.seq"
)
_MISSING = Lookup(client=None, record=None, parts=[])


async def lookup_many(
    conn: Conn, keys: dict[LookupKey, int], *, per_minute: int = 0
) -> dict[LookupKey, Lookup]:
    """The client, its organisation's snapshot (None: none) and its parts, for each key.

    One statement for all the keys, so that authenticated GETs cost one round trip
    between them: deleted and expired snapshots are returned too (the caller
    decides what they mean). Every key is answered; an unknown client's lookup
    holds nothing. With `per_minute`, the same statement counts each client's
    requests (`keys[key]` of them per key) against that rate.
    """
    ordered = list(keys)
    params: dict[str, Any] = {
        "clients": [key[0] for key in ordered],
        "snapshots": [key[1] for key in ordered],
    }
    sql = _LOOKUP
    if per_minute > 0:
        asked: dict[str, int] = {}
        for (client_id, _), count in keys.items():
            asked[client_id] = asked.get(client_id, 0) + count
        counting, counting_params = limits.counting(asked, per_minute)
        sql = _LOOKUP_COUNTED.format(counting=counting)
        params.update(counting_params)
    rows = await (await conn.execute(sql, params)).fetchall()
    split = 6 + len(_SNAPSHOT_FIELDS)
    end = split + len(_PART_FIELDS)
    found: dict[LookupKey, Lookup] = {}
    grants: dict[str, Grant] = {}
    for number, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        batch = list(group)
        first = batch[0]
        record = None
        if first[6] is not None:
            record = SnapshotRecord(**dict(zip(_SNAPSHOT_FIELDS, first[6:split], strict=True)))
        parts = [
            PartRecord(**dict(zip(_PART_FIELDS, row[split:end], strict=True)))
            for row in batch
            if row[5]
        ]
        client = ClientStanding(*first[1:5])
        grant = None
        if first[end] is not None:
            grant = grants.get(client.client_id)
            if grant is None:
                grant = grants[client.client_id] = limits.grant(per_minute, *first[end:])
        found[ordered[number - 1]] = Lookup(client, record, parts, grant)
    return {key: found.get(key, _MISSING) for key in ordered}


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
    """The parts of one snapshot, in order."""
    return (await parts_of_many(conn, [snapshot_id]))[snapshot_id]


async def marks(conn: Conn, snapshot_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int, int]]:
    """The state, run (`attempts`) and complete parts listed of each of `snapshot_ids`
    that exists, in one statement (`SELECT 1` if none)."""
    if not snapshot_ids:
        await conn.execute("SELECT 1")
        return {}
    rows = await (
        await conn.execute(
            "SELECT s.id, s.state, s.attempts, (SELECT count(*) FROM snapshot_parts p"
            "  WHERE p.snapshot_id = s.id AND p.state = 'complete')"
            " FROM snapshots s WHERE s.id = ANY(%s::uuid[])",
            (snapshot_ids,),
        )
    ).fetchall()
    return {row[0]: (str(row[1]), int(row[2]), int(row[3])) for row in rows}


async def listen(conn: Conn) -> None:
    """Have `conn` (autocommit, a connection of its own) hear the announcements on `CHANNEL`."""
    await conn.execute(f"LISTEN {CHANNEL}")


async def lock_idempotency_key(conn: Conn, client_id: str, key: str) -> None:
    """Hold the client's `key` until the transaction ends: requests with one key wait in turn."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('pond.idempotency:' || %s || ':' || %s, 0))",
        (client_id, key),
    )


async def remembered_key(
    conn: Conn, client_id: str, key: str, *, keep_hours: int
) -> Remembered | None:
    """What the client's `key` stands for, if used in the last `keep_hours`.

    The client's keys older than that are deleted first (this one included): the
    table stays small.
    """
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE client_id = %s"
        " AND created_at <= now() - make_interval(hours => %s)",
        (client_id, keep_hours),
    )
    row = await (
        await conn.execute(
            "SELECT request_hash, snapshot_id FROM idempotency_keys"
            " WHERE client_id = %s AND key = %s",
            (client_id, key),
        )
    ).fetchone()
    return Remembered(str(row[0]), row[1]) if row else None


async def remember_key(
    conn: Conn, client_id: str, key: str, fingerprint: str, snapshot_id: uuid.UUID
) -> None:
    """Record that the client's `key`, asking for `fingerprint`, created `snapshot_id`."""
    await conn.execute(
        "INSERT INTO idempotency_keys (client_id, key, request_hash, snapshot_id)"
        " VALUES (%s, %s, %s, %s)",
        (client_id, key, fingerprint, snapshot_id),
    )

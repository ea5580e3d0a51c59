"""The SQL of the export side: the only place where an export changes a snapshot's rows.

The snapshot (`snapshots`): a run claims it, publishes it or fails it. Its plan
(`export_parts`): one row per part, planned or cut from a planned range, which
a worker takes by locking the row for as long as it exports the part (a worker
that dies drops its connection, and the part is free again). Its published
parts (`snapshot_parts`): written as each part's place becomes known, so that
clients may download them while the others are exported. Its progress
(`rows_exported`), added to by every process working on the run.

The reads of a run go through here too: the transaction every reader of the
export works in (one point-in-time view, shared between connections), and the
sample, page count and part boundaries of the exported table, whose statements
the entity builds (`pond.entities.registry`).

Every statement of a run names the run (`attempts` when it claimed the
snapshot): nothing a dead run left behind is taken for the living run's work.

A change of what a snapshot lists is announced to the requests waiting for it
(`pond.snapshots.changes`), in the transaction that makes it: a change of state
by the trigger on `snapshots`, a part listed or a new run's fresh start here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from pond.entities import Entity
from pond.exports.job import Job, Key, Range, key_from_text, key_text
from pond.exports.options import ExportOptions
from pond.snapshots.changes import PARTS_NEWS
from pond.snapshots.repository import CHANNEL

Conn = psycopg.Connection[Any]
AsyncConn = psycopg.AsyncConnection[Any]  # the retention sweep's

# News of the parts a running export lists (see `pond.snapshots.changes`): delivered when
# the transaction commits; several of one snapshot in one transaction are one.
_ANNOUNCE = f"SELECT pg_notify('{CHANNEL}', %s::text || ' {PARTS_NEWS}')"
_JOB_COLUMNS = (
    "org_id, entity, created_at_from, created_at_to, format, compression, export_columns, attempts"
)


def _job(snapshot_id: uuid.UUID, row: tuple[Any, ...]) -> Job:
    columns = tuple(row[6]) if row[6] is not None else None
    options = ExportOptions(format=str(row[4]), compression=row[5], columns=columns)
    return Job(snapshot_id, int(row[0]), str(row[1]), row[2], row[3], options, int(row[7]))


def claim(conn: Conn, snapshot_id: uuid.UUID) -> Job | None:
    """Start a new run: mark the snapshot running, count the attempt, drop what an earlier
    run published; None if there is nothing to do (not pending or running, or expired).

    The row is locked FOR UPDATE first, so a claim waits for a run that is publishing
    a part (`lock_run`) and never interleaves with it.
    """
    with conn.transaction():
        conn.execute("SELECT 1 FROM snapshots WHERE id = %s FOR UPDATE", (snapshot_id,))
        row = conn.execute(
            "UPDATE snapshots SET state = 'running', started_at = now(), attempts = attempts + 1,"
            " rows_exported = 0"
            " WHERE id = %s AND state IN ('pending', 'running') AND expires_at > now()"
            f" RETURNING {_JOB_COLUMNS}",
            (snapshot_id,),
        ).fetchone()
        if row is not None:
            conn.execute("DELETE FROM snapshot_parts WHERE snapshot_id = %s", (snapshot_id,))
            # A run after a dead one starts over in the same state: its listing changes.
            conn.execute(_ANNOUNCE, (snapshot_id,))
    return None if row is None else _job(snapshot_id, row)


def running_job(conn: Conn, snapshot_id: uuid.UUID, run: int) -> Job | None:
    """The job of run `run` of the snapshot, if that run is still the one in progress."""
    row = conn.execute(
        f"SELECT {_JOB_COLUMNS} FROM snapshots"
        " WHERE id = %s AND state = 'running' AND attempts = %s",
        (snapshot_id, run),
    ).fetchone()
    return None if row is None else _job(snapshot_id, row)


def begin_snapshot(conn: Conn, snapshot: str | None) -> None:
    """Start the export's kind of transaction, REPEATABLE READ and READ ONLY, joining the
    exported snapshot `snapshot` when given (`psycopg.Error` if it can no longer be joined:
    the transaction that exported it has ended)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if snapshot is not None:
        conn.execute(
            psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(psycopg.sql.Literal(snapshot))
        )
    # Timestamps print in UTC whatever the server's time zone.
    conn.execute("SET LOCAL TIME ZONE 'UTC'")


def share_snapshot(conn: Conn) -> str:
    """The name under which other connections join the point-in-time view of `conn`'s
    transaction (`begin_snapshot`), for as long as that transaction lasts."""
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return str(row[0])


def table_pages(conn: Conn, entity: Entity) -> int | None:
    """How many pages the entity's table has; None if it cannot be sampled (a view)."""
    row = conn.execute(entity.pages_query()).fetchone()
    return None if row is None or not row[1] else int(row[0])


def sample_keys(
    conn: Conn, entity: Entity, percent: float, seed: int, where: list[Any]
) -> list[Key]:
    """The keys, in order, of the rows `where` picks (`Entity.where_params`, no bound) on
    `percent` of the table's pages, drawn by `seed`."""
    return [(r[0], r[1]) for r in conn.execute(entity.sample_query(), [percent, seed, *where])]


def key_after(
    conn: Conn, entity: Entity, where: list[Any], *, after: bool, before: bool, offset: int
) -> Key | None:
    """The key of the row `offset` rows into those `where` picks (`Entity.where_params`,
    with the bounds `after` and `before` says it holds); None if there are not that many."""
    found = conn.execute(
        entity.boundary_query(after=after, before=before), [*where, offset]
    ).fetchone()
    return None if found is None else (found[0], found[1])


def clear_plans(conn: Conn, snapshot_id: uuid.UUID) -> None:
    """Drop the plans of earlier runs, once their workers have let go of their parts."""
    conn.execute("DELETE FROM export_parts WHERE snapshot_id = %s", (snapshot_id,))


def record_plan(conn: Conn, job: Job, ranges: list[Range]) -> None:
    """Add `ranges` to the run's plan as pending parts."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO export_parts (snapshot_id, run, range_no, sub_no, after_key, before_key)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    job.snapshot_id,
                    job.run,
                    r.range_no,
                    r.sub_no,
                    key_text(r.after),
                    key_text(r.before),
                )
                for r in ranges
            ],
        )


_LIVE_RUN = (
    "EXISTS (SELECT 1 FROM snapshots s WHERE s.id = export_parts.snapshot_id"
    " AND s.state = 'running' AND s.attempts = export_parts.run)"
)


def take(conn: Conn, job: Job) -> tuple[Range, int] | None:
    """Lock the first pending part of the run that no one holds: the part and its failed
    attempts so far; None if there is none. The lock lasts until `conn`'s transaction ends."""
    row = conn.execute(
        "SELECT range_no, sub_no, after_key, before_key, attempts FROM export_parts"
        f" WHERE snapshot_id = %s AND run = %s AND state = 'pending' AND {_LIVE_RUN}"
        " ORDER BY range_no, sub_no LIMIT 1 FOR UPDATE SKIP LOCKED",
        (job.snapshot_id, job.run),
    ).fetchone()
    if row is None:
        return None
    part = Range(int(row[0]), key_from_text(row[2]), key_from_text(row[3]), int(row[1]))
    return part, int(row[4])


@dataclass(frozen=True)
class Done:
    """A part as written: its object's name, size, digest and rows."""

    name: str
    size: int
    sha256: str
    rows: int


def record_done(conn: Conn, job: Job, part: Range, done: Done, rest: Any) -> None:
    """Mark a taken part done; with `rest` (a key), it ends there and the rows from `rest`
    to its old end become the next part of its range."""
    where = (job.snapshot_id, job.run, part.range_no, part.sub_no)
    conn.execute(
        "UPDATE export_parts SET state = 'done', name = %s, size = %s, row_count = %s,"
        " sha256 = %s, reason = NULL"
        + (", before_key = %s" if rest is not None else "")
        + " WHERE snapshot_id = %s AND run = %s AND range_no = %s AND sub_no = %s",
        (
            done.name,
            done.size,
            done.rows,
            done.sha256,
            *([key_text(rest)] if rest is not None else []),
            *where,
        ),
    )
    if rest is not None:
        record_plan(conn, job, [Range(part.range_no, rest, part.before, part.sub_no + 1)])


def record_failure(
    conn: Conn, job: Job, part: Range, attempts: int, reason: str, *, gave_up: bool
) -> None:
    """Record a taken part's failed attempt: pending again to be retried, or failed for
    good if the run `gave_up` on it (published as failed, with `reason`)."""
    conn.execute(
        "UPDATE export_parts SET attempts = %s, reason = %s, state = %s"
        " WHERE snapshot_id = %s AND run = %s AND range_no = %s AND sub_no = %s",
        (
            attempts,
            reason,
            "failed" if gave_up else "pending",
            job.snapshot_id,
            job.run,
            part.range_no,
            part.sub_no,
        ),
    )


def standing(conn: Conn, job: Job) -> tuple[bool, bool]:
    """Whether the run is still in progress, and whether any of its parts is pending."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM snapshots"
        "  WHERE id = %(id)s AND state = 'running' AND attempts = %(run)s),"
        " EXISTS (SELECT 1 FROM export_parts"
        "  WHERE snapshot_id = %(id)s AND run = %(run)s AND state = 'pending')",
        {"id": job.snapshot_id, "run": job.run},
    ).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1])


@dataclass(frozen=True)
class PartRow:
    """A part of the run's plan, as `export_parts` holds it; `seq` once published."""

    range_no: int
    sub_no: int
    state: str
    name: str | None
    size: int | None
    row_count: int | None
    sha256: str | None
    reason: str | None
    seq: int | None


def lock_run(conn: Conn, job: Job) -> bool:
    """Inside a transaction: whether the run still owns the snapshot, held so until the
    transaction ends (a new claim waits; progress updates do not), with the run's
    publishing serialised."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('pond.publish:' || %s::text, 0))",
        (job.snapshot_id,),
    )
    row = conn.execute(
        "SELECT 1 FROM snapshots WHERE id = %s AND state = 'running' AND attempts = %s"
        " FOR KEY SHARE",
        (job.snapshot_id, job.run),
    ).fetchone()
    return row is not None


def plan_rows(conn: Conn, job: Job) -> list[PartRow]:
    """The run's parts in the order of their rows."""
    with conn.cursor(row_factory=psycopg.rows.class_row(PartRow)) as cur:
        cur.execute(
            "SELECT range_no, sub_no, state, name, size, row_count, sha256, reason, seq"
            " FROM export_parts WHERE snapshot_id = %s AND run = %s ORDER BY range_no, sub_no",
            (job.snapshot_id, job.run),
        )
        return cur.fetchall()


def publish_part(conn: Conn, job: Job, part: PartRow, seq: int, name: str) -> None:
    """Give a done or failed part its place `seq` and its published name, list it, and
    announce it (to requests waiting with `?details=true`, once the transaction commits)."""
    conn.execute(
        "UPDATE export_parts SET seq = %s, name = %s"
        " WHERE snapshot_id = %s AND run = %s AND range_no = %s AND sub_no = %s",
        (seq, name, job.snapshot_id, job.run, part.range_no, part.sub_no),
    )
    done = part.state == "done"
    conn.execute(
        "INSERT INTO snapshot_parts"
        " (snapshot_id, seq, name, size, row_count, sha256, state, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            job.snapshot_id,
            seq,
            name,
            part.size if done else None,
            part.row_count if done else None,
            part.sha256 if done else None,
            "complete" if done else "failed",
            None if done else f"{name} {part.reason or 'failed'}",
        ),
    )
    conn.execute(_ANNOUNCE, (job.snapshot_id,))


def finish(conn: Conn, job: Job, state: str, reason: str | None) -> bool:
    """End the run's snapshot as `state` and drop its plan; False if the run lost it."""
    cur = conn.execute(
        "UPDATE snapshots SET state = %s, completed_at = now(), reason = %s"
        " WHERE id = %s AND state = 'running' AND attempts = %s",
        (state, reason, job.snapshot_id, job.run),
    )
    if cur.rowcount != 1:
        return False
    conn.execute("DELETE FROM export_parts WHERE snapshot_id = %s", (job.snapshot_id,))
    return True


def add_rows_exported(conn: Conn, snapshot_id: uuid.UUID, rows: int) -> None:
    """Add `rows` (fewer, if negative; never below 0) to a running snapshot's progress."""
    conn.execute(
        "UPDATE snapshots SET rows_exported = greatest(0, rows_exported + %s)"
        " WHERE id = %s AND state = 'running'",
        (rows, snapshot_id),
    )


def fail(conn: Conn, snapshot_id: uuid.UUID, reason: str) -> None:
    """Mark the snapshot failed with a reason a user can read."""
    with conn.transaction():
        conn.execute(
            "UPDATE snapshots SET state = 'failed', reason = %s, completed_at = now()"
            " WHERE id = %s AND state IN ('pending', 'running')",
            (reason, snapshot_id),
        )


def attempts(conn: Conn, snapshot_id: uuid.UUID) -> int | None:
    """How many runs the snapshot has had; None if it is gone."""
    row = conn.execute("SELECT attempts FROM snapshots WHERE id = %s", (snapshot_id,)).fetchone()
    return None if row is None else int(row[0])


# One retention sweep at a time across the deployment (a session-level advisory lock).
_RETENTION_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('pond.retention', 0))"
_RETENTION_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('pond.retention', 0))"


async def lock_retention(conn: AsyncConn) -> bool:
    """Take the retention sweep's lock for this session; False if another session holds it."""
    row = await (await conn.execute(_RETENTION_LOCK)).fetchone()
    return bool(row and row[0])


async def unlock_retention(conn: AsyncConn) -> None:
    await conn.execute(_RETENTION_UNLOCK)


async def due_for_expiry(conn: AsyncConn, limit: int) -> list[uuid.UUID]:
    """Up to `limit` snapshots past retention and not marked expired yet, oldest expiry first."""
    rows = await (
        await conn.execute(
            "SELECT id FROM snapshots WHERE expires_at <= now() AND state <> 'expired'"
            " ORDER BY expires_at LIMIT %s",
            (limit,),
        )
    ).fetchall()
    return [row[0] for row in rows]


async def mark_expired(conn: AsyncConn, snapshot_ids: list[uuid.UUID]) -> list[uuid.UUID]:
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

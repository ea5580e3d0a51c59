"""Stream a snapshot's rows from PostgreSQL into CSV parts, never holding them in memory.

An export run has one coordinator, the `pond.export_snapshot` job. It opens a
REPEATABLE READ, READ ONLY transaction, exports its snapshot
(`pg_export_snapshot`), plans the parts (sized from PostgreSQL's row estimate to
balance its streams, cut exactly by walking the index), records the plan in
`export_parts` and asks for helper jobs (`pond.export_parts`), which any
worker process may pick up. Coordinator and helpers then take pending parts one
at a time: each part is claimed by locking its row for as long as it is being
exported, and read with `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)` on a
connection that joins the coordinator's snapshot (`SET TRANSACTION SNAPSHOT`).
So the export is one point-in-time view however many processes read it, and
rows are exactly once across parts. A worker that dies drops its connection and
with it the lock: the coordinator takes the part again. The coordinator holds
its transaction (and so the snapshot) until every part is done, then publishes.

PostgreSQL sends each row of a COPY as one message (the header too), so rows
are counted exactly without parsing the CSV; bytes go to storage in large
blocks, gzipped on the way when the snapshot asks for it. Parts are staged and
committed only when complete, and the database marks the snapshot complete
afterwards, so a run that dies leaves nothing visible and a rerun simply writes
everything again. A part that fails `MAX_PART_ATTEMPTS` times is published as
failed with its reason, beside the parts that succeeded.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import psycopg
import structlog

from pond.entities import get_entity
from pond.exports import formats
from pond.exports.compression import GzipWriter
from pond.exports.options import ExportOptions
from pond.exports.progress import Progress
from pond.jobs import queue
from pond.storage.base import ObjectStore, StagedWriter, StoredObject

log = structlog.get_logger("pond.exports")

MAX_PART_ATTEMPTS = 3
# Seconds between a part's failed attempt and the next, times the attempts so far.
PART_RETRY_SECONDS = 0.5
# How often a coordinator with no part left to take looks at the parts helpers hold.
_WAIT_SECONDS = 0.05

# Helper jobs: any worker may take them; they go before new exports in the queue.
PARTS_TASK = "pond.export_parts"
PARTS_QUEUE = "exports"
PARTS_PRIORITY = 1


@dataclass(frozen=True)
class Part:
    """A part as published: complete with its object, or failed with a reason."""

    seq: int
    name: str
    rows: int | None
    stored: StoredObject | None
    reason: str | None = None


@dataclass(frozen=True)
class Job:
    snapshot_id: uuid.UUID
    org_id: int
    entity: str
    start: datetime
    end: datetime
    options: ExportOptions = field(default_factory=ExportOptions)
    run: int = 1  # the snapshot's `attempts` when this run claimed it


class RunOver(Exception):
    """The export run this helper was asked to join has ended (or was never there)."""


def claim(conn: psycopg.Connection[Any], snapshot_id: uuid.UUID) -> Job | None:
    """Mark the snapshot running and return what to export; None if there is nothing to do."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE snapshots SET state = 'running', started_at = now(), attempts = attempts + 1,"
            " rows_exported = 0"
            " WHERE id = %s AND state IN ('pending', 'running') AND expires_at > now()"
            " RETURNING org_id, entity, created_at_from, created_at_to,"
            " format, compression, export_columns, attempts",
            (snapshot_id,),
        ).fetchone()
    if row is None:
        return None
    return _job(snapshot_id, row)


def _job(snapshot_id: uuid.UUID, row: tuple[Any, ...]) -> Job:
    columns = tuple(row[6]) if row[6] is not None else None
    options = ExportOptions(format=str(row[4]), compression=row[5], columns=columns)
    return Job(snapshot_id, int(row[0]), str(row[1]), row[2], row[3], options, int(row[7]))


def running_job(conn: psycopg.Connection[Any], snapshot_id: uuid.UUID, run: int) -> Job | None:
    """The job of run `run` of the snapshot, if that run is still the one in progress."""
    row = conn.execute(
        "SELECT org_id, entity, created_at_from, created_at_to,"
        " format, compression, export_columns, attempts"
        " FROM snapshots WHERE id = %s AND state = 'running' AND attempts = %s",
        (snapshot_id, run),
    ).fetchone()
    return None if row is None else _job(snapshot_id, row)


Key = tuple[Any, Any]  # (time, key column) of the row that starts a part


@dataclass(frozen=True)
class PartPlan:
    """Part `seq` holds the rows from key `after` (included) to key `before` (excluded)."""

    seq: int
    after: Key | None
    before: Key | None


# With `max_rows` below this, parts keep exactly `max_rows` rows, not rebalanced: a
# stream left idle while the last of such small parts is exported loses a fraction
# of a second at most, and small exports keep the part count their users expect.
BALANCE_MIN_ROWS = 100_000


@dataclass(frozen=True)
class Sizing:
    """How a plan cuts parts: `parts - 1` parts of `rows` rows, then parts of at most `max_rows`.

    The last intended part may grow to `max_rows`: it takes what an estimate a
    little low left over, rather than a tiny extra part taking it.
    """

    parts: int
    rows: int
    max_rows: int

    def step(self, seq: int) -> int:
        """How far the walk goes from the start of part `seq` to the next boundary: the
        part's rows, unless it is the last part, which holds what is left (no more)."""
        return self.rows if seq < self.parts - 1 else self.max_rows


def sizing(estimate: int, max_rows: int, streams: int) -> Sizing:
    """Parts of at most `max_rows` rows for about `estimate` rows, balanced over `streams`.

    The fewest parts that hold `estimate` rows, rounded up to a multiple of
    `streams`, with the rows spread evenly among them: every stream gets as many
    parts, of one size, so none sits idle while another exports a last part
    alone. Parts of `max_rows` rows, unbalanced, when the estimate fits in one
    part (a small snapshot stays one part) or when `max_rows` is below
    `BALANCE_MIN_ROWS` (small parts keep their exact size and count).
    """
    if estimate <= max_rows or max_rows < BALANCE_MIN_ROWS:
        return Sizing(1, max_rows, max_rows)
    parts = -(-estimate // max_rows)
    parts = -(-parts // streams) * streams
    return Sizing(parts, -(-estimate // parts), max_rows)


def estimate_rows(conn: psycopg.Connection[Any], job: Job) -> int:
    """PostgreSQL's estimate of the job's rows: from statistics, cheap, possibly wrong."""
    entity = get_entity(job.entity)
    params = entity.where_params(job.org_id, job.start, job.end)
    row = conn.execute(entity.estimate_query(), params).fetchone()
    assert row is not None
    return int(row[0][0]["Plan"]["Plan Rows"])


def iter_parts(
    conn: psycopg.Connection[Any], job: Job, max_rows: int, streams: int = 1
) -> Iterator[PartPlan]:
    """The job's parts of at most `max_rows` rows, each as soon as its end is known.

    Their sizes come from `sizing`, for PostgreSQL's estimate of the rows and the
    `streams` that export them. Each boundary is found by walking the (org, time,
    id) index that many rows on from the previous one, inside the export's
    snapshot: the parts are exact whatever the estimate, which only decides how
    well they are balanced. The last part is the one with no `before`.
    """
    entity = get_entity(job.entity)
    sizes = sizing(estimate_rows(conn, job), max_rows, streams)
    after: Key | None = None
    seq = 0
    while True:
        params = [*entity.where_params(job.org_id, job.start, job.end, after), sizes.step(seq)]
        row = conn.execute(entity.boundary_query(after=after is not None), params).fetchone()
        before = None if row is None else (row[0], row[1])
        yield PartPlan(seq, after, before)
        if before is None:
            return
        after, seq = before, seq + 1


def _key_text(key: Key | None) -> list[str] | None:
    """A boundary as text that PostgreSQL reads back as the same values."""
    if key is None:
        return None
    return [v.isoformat() if isinstance(v, (datetime, date)) else str(v) for v in key]


def _key_from_text(values: list[str] | None) -> Key | None:
    # Bound as untyped literals: PostgreSQL casts them to the columns' own types.
    return None if values is None else (values[0], values[1])


def _begin_snapshot(conn: psycopg.Connection[Any], snapshot: str | None) -> None:
    """Start the export's kind of transaction, joining `snapshot` when given."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if snapshot is not None:
        conn.execute(
            psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(psycopg.sql.Literal(snapshot))
        )
    # Timestamps print in UTC whatever the server's time zone.
    conn.execute("SET LOCAL TIME ZONE 'UTC'")


def export_part(
    conninfo: str,
    snapshot: str,
    store: ObjectStore,
    job: Job,
    plan: PartPlan,
    progress: Progress | None = None,
) -> Part:
    """COPY one planned part into a committed object, on a connection of its own.

    Raises `RunOver` when `snapshot` can no longer be joined: its run has ended.
    """
    entity = get_entity(job.entity)
    name = job.options.object_name(job.entity, plan.seq)
    select = entity.export_query(
        after=plan.after is not None,
        before=plan.before is not None,
        columns=job.options.columns,
    )
    params = entity.where_params(job.org_id, job.start, job.end, plan.after, plan.before)
    counted = 0

    def count(rows: int) -> None:
        nonlocal counted
        counted += rows
        if progress is not None:
            progress.add(rows)

    with psycopg.connect(conninfo) as conn, conn.transaction():
        try:
            _begin_snapshot(conn, snapshot)
        except psycopg.Error as exc:
            raise RunOver(str(exc)) from exc
        writer: StagedWriter = store.stage(f"{job.snapshot_id}/{name}")
        if job.options.compression == "gzip":
            # Compressed in this part's thread, block by block as the COPY streams.
            writer = GzipWriter(writer)
        try:
            rows = formats.write_part(conn, select, params, entity, job.options, writer, count)
            stored = writer.commit()
        except BaseException:
            writer.abort()
            if progress is not None:
                progress.add(-counted)  # the part will be written again, or not at all
            raise
    return Part(plan.seq, name, rows, stored)


@dataclass(frozen=True)
class _Run:
    """What every process working on one export run shares."""

    conninfo: str
    store: ObjectStore
    job: Job
    snapshot: str
    progress: Progress
    # Notified when a part is planned or done; set to make this process's threads stop.
    wake: threading.Condition = field(default_factory=threading.Condition)
    stop: threading.Event = field(default_factory=threading.Event)


_LIVE_RUN = (
    "EXISTS (SELECT 1 FROM snapshots s WHERE s.id = export_parts.snapshot_id"
    " AND s.state = 'running' AND s.attempts = export_parts.run)"
)


def _take_part(conn: psycopg.Connection[Any], job: Job) -> tuple[PartPlan, int] | None:
    """Lock the first pending part of the run no one else holds; None if there is none."""
    row = conn.execute(
        "SELECT seq, after_key, before_key, attempts FROM export_parts"
        f" WHERE snapshot_id = %s AND run = %s AND state = 'pending' AND {_LIVE_RUN}"
        " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
        (job.snapshot_id, job.run),
    ).fetchone()
    if row is None:
        return None
    plan = PartPlan(int(row[0]), _key_from_text(row[1]), _key_from_text(row[2]))
    return plan, int(row[3])


def _standing(conn: psycopg.Connection[Any], job: Job) -> tuple[bool, bool, bool]:
    """Whether the run is still in progress, whether its plan is complete (its last
    part, the one with no upper bound, is recorded), and whether a part is pending."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM snapshots"
        "  WHERE id = %(id)s AND state = 'running' AND attempts = %(run)s),"
        " EXISTS (SELECT 1 FROM export_parts"
        "  WHERE snapshot_id = %(id)s AND run = %(run)s AND before_key IS NULL),"
        " EXISTS (SELECT 1 FROM export_parts"
        "  WHERE snapshot_id = %(id)s AND run = %(run)s AND state = 'pending')",
        {"id": job.snapshot_id, "run": job.run},
    ).fetchone()
    assert row is not None
    return bool(row[0]), bool(row[1]), bool(row[2])


def describe(exc: BaseException) -> str:
    """An exception as one line a user can read: `OSError: [Errno 28] No space left ...`."""
    detail = str(exc).splitlines()[0] if str(exc) else "no detail"
    return f"{type(exc).__name__}: {detail}"


def _export_taken(conn: psycopg.Connection[Any], work: _Run, plan: PartPlan, attempts: int) -> None:
    """Export a part whose row `conn` holds locked, and record how it went."""
    job = work.job
    try:
        part = export_part(work.conninfo, work.snapshot, work.store, job, plan, work.progress)
    except RunOver:
        raise
    except Exception as exc:
        attempts += 1
        name = job.options.object_name(job.entity, plan.seq)
        gave_up = attempts >= MAX_PART_ATTEMPTS
        reason = f"{name} failed after {attempts} attempts: {describe(exc)}"
        conn.execute(
            "UPDATE export_parts SET attempts = %s, reason = %s, state = %s"
            " WHERE snapshot_id = %s AND seq = %s",
            (attempts, reason, "failed" if gave_up else "pending", job.snapshot_id, plan.seq),
        )
        log.warning(
            "export.part_failed",
            snapshot_id=str(job.snapshot_id),
            part=name,
            attempts=attempts,
            reason=reason,
            gave_up=gave_up,
        )
        if not gave_up:
            time.sleep(PART_RETRY_SECONDS * attempts)
        return
    assert part.stored is not None
    conn.execute(
        "UPDATE export_parts SET state = 'done', name = %s, size = %s, row_count = %s,"
        " sha256 = %s, reason = NULL WHERE snapshot_id = %s AND seq = %s",
        (part.name, part.stored.size, part.rows, part.stored.sha256, job.snapshot_id, plan.seq),
    )


def _work(work: _Run, *, wait: bool) -> int:
    """Export the run's parts one at a time as they are planned; return how many it took.

    With `wait` (the coordinator), keep going until no part is pending at all,
    taking back the parts of helpers that died; else stop once the plan is
    complete and no part is free. Either way stop when the run is over.
    """
    taken = 0
    try:
        with psycopg.connect(work.conninfo, autocommit=True) as conn:
            while not work.stop.is_set():
                with conn.transaction():
                    found = _take_part(conn, work.job)
                    if found is not None:
                        _export_taken(conn, work, *found)
                if found is not None:
                    taken += 1
                    with work.wake:  # threads waiting for the last parts look again
                        work.wake.notify_all()
                    continue
                live, planned, pending = _standing(conn, work.job)
                if not live or (planned and not (wait and pending)):
                    break
                with work.wake:
                    work.wake.wait(_WAIT_SECONDS)
    except BaseException:
        work.stop.set()  # the other threads of this process stop after their part
        raise
    return taken


def _record_part(conn: psycopg.Connection[Any], job: Job, plan: PartPlan) -> None:
    conn.execute(
        "INSERT INTO export_parts (snapshot_id, run, seq, after_key, before_key)"
        " VALUES (%s, %s, %s, %s, %s)",
        (job.snapshot_id, job.run, plan.seq, _key_text(plan.after), _key_text(plan.before)),
    )


def _ask_helpers(conn: psycopg.Connection[Any], job: Job, snapshot: str, helpers: int) -> None:
    queue.defer(
        conn,
        PARTS_QUEUE,
        PARTS_TASK,
        {"snapshot_id": str(job.snapshot_id), "run": job.run, "snapshot": snapshot},
        count=helpers,
        priority=PARTS_PRIORITY,
    )


def _results(conn: psycopg.Connection[Any], job: Job) -> list[Part]:
    """The run's parts as they ended; no rows and no object for the parts not done."""
    rows = conn.execute(
        "SELECT seq, state, name, row_count, size, sha256, reason FROM export_parts"
        " WHERE snapshot_id = %s AND run = %s ORDER BY seq",
        (job.snapshot_id, job.run),
    ).fetchall()
    parts = []
    for seq, state, name, row_count, size, sha256, reason in rows:
        if state == "done":
            stored = StoredObject(f"{job.snapshot_id}/{name}", int(size), str(sha256))
            parts.append(Part(seq, name, int(row_count), stored))
        else:
            name = job.options.object_name(job.entity, seq)
            # A failed part has its reason; a pending one (the run ended early) has none.
            parts.append(Part(seq, name, None, None, reason if state == "failed" else None))
    return parts


def export(
    conninfo: str,
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    job: Job,
    *,
    max_rows: int,
    streams: int = 1,
    helpers: int = 0,
) -> list[Part]:
    """Export the job's rows as parts and return them in order, each complete or failed.

    `conn` holds the coordinating transaction: it exports its snapshot, plans the
    parts, and stays open while every part's own connection reads through it.
    This process works on the parts in `streams` threads; up to `helpers` jobs of
    other workers are asked to share them. The plan is balanced for this
    process's own `streams` (its number of parts is a multiple of them), which
    never wait for a helper to come: the part count stays what one worker needs,
    and helpers that do come take parts off the same list.
    """
    with psycopg.connect(conninfo, autocommit=True) as control:
        # Parts that workers of an earlier run still hold are waited for, then dropped.
        control.execute("DELETE FROM export_parts WHERE snapshot_id = %s", (job.snapshot_id,))
        # Nothing under this prefix is visible while the snapshot runs: start clean. What an
        # earlier run left is only clutter (parts are overwritten, retention deletes the rest),
        # so a store that cannot clear it now does not stop the export.
        try:
            store.delete_prefix(str(job.snapshot_id))
        except OSError as exc:
            log.warning("export.cleanup_skipped", snapshot_id=str(job.snapshot_id), reason=str(exc))
        with conn.transaction():
            _begin_snapshot(conn, None)
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            snapshot = str(row[0])
            with (
                Progress(conninfo, job.snapshot_id) as progress,
                ThreadPoolExecutor(max_workers=max(1, streams)) as pool,
            ):
                work = _Run(conninfo, store, job, snapshot, progress)
                threads: list[Future[int]] = []
                try:
                    # Parts are exported while the later ones are still being planned.
                    for plan in iter_parts(conn, job, max_rows, streams):
                        _record_part(control, job, plan)
                        if plan.seq == 1 and helpers > 0:
                            _ask_helpers(control, job, snapshot, helpers)
                        if not threads:  # from the first part on, so none waits for it
                            threads = [pool.submit(_work, work, wait=True) for _ in range(streams)]
                        with work.wake:
                            work.wake.notify_all()
                except BaseException:
                    work.stop.set()
                    raise
                for thread in threads:
                    thread.result()
        return _results(control, job)


def _in_threads(work: _Run, threads: int, *, wait: bool) -> int:
    """Run `_work` in `threads` threads; return how many parts they took."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(_work, work, wait=wait) for _ in range(threads)]
        return sum(future.result() for future in futures)


def help_export(
    conninfo: str,
    store: ObjectStore,
    snapshot_id: uuid.UUID,
    run: int,
    snapshot: str,
    *,
    streams: int = 1,
) -> int:
    """Take a share of a running export's parts; return how many parts this job exported.

    Stops when no part is free, or when the run is over (its coordinator finished
    or died: then its snapshot can no longer be joined, and a new run replans).
    """
    with psycopg.connect(conninfo) as conn:
        job = running_job(conn, snapshot_id, run)
    if job is None:
        return 0
    with Progress(conninfo, snapshot_id) as progress:
        work = _Run(conninfo, store, job, snapshot, progress)
        try:
            return _in_threads(work, streams, wait=False)
        except RunOver:
            log.info("export.run_over", snapshot_id=str(snapshot_id), run=run)
            return 0


def publish(conn: psycopg.Connection[Any], job: Job, parts: list[Part]) -> bool:
    """Record the parts and end the snapshot, atomically; False if this run no longer owns it.

    Every part done: the snapshot is complete. Some failed: it is failed, with its
    reason, and its complete parts stay downloadable beside the failed ones.
    """
    if any(p.stored is None and p.reason is None for p in parts):
        return False
    failed = [p for p in parts if p.stored is None]
    state, reason = "complete", None
    if len(failed) == len(parts):
        state, reason = "failed", f"the export failed: {failed[0].reason}"
    elif failed:
        state = "failed"
        reason = (
            f"{len(failed)} of {len(parts)} parts failed, the others are complete:"
            f" {failed[0].reason}"
        )
    with conn.transaction():
        cur = conn.execute(
            "UPDATE snapshots SET state = %s, completed_at = now(), reason = %s"
            " WHERE id = %s AND state = 'running' AND attempts = %s",
            (state, reason, job.snapshot_id, job.run),
        )
        if cur.rowcount != 1:
            return False
        conn.execute("DELETE FROM snapshot_parts WHERE snapshot_id = %s", (job.snapshot_id,))
        with conn.cursor() as insert:
            insert.executemany(
                "INSERT INTO snapshot_parts"
                " (snapshot_id, seq, name, size, row_count, sha256, state, reason)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        job.snapshot_id,
                        p.seq,
                        p.name,
                        p.stored.size if p.stored else None,
                        p.rows,
                        p.stored.sha256 if p.stored else None,
                        "complete" if p.stored else "failed",
                        p.reason,
                    )
                    for p in parts
                ],
            )
        conn.execute("DELETE FROM export_parts WHERE snapshot_id = %s", (job.snapshot_id,))
    return True


def fail(conn: psycopg.Connection[Any], snapshot_id: uuid.UUID, reason: str) -> None:
    """Mark the snapshot failed with a reason a user can read."""
    with conn.transaction():
        conn.execute(
            "UPDATE snapshots SET state = 'failed', reason = %s, completed_at = now()"
            " WHERE id = %s AND state IN ('pending', 'running')",
            (reason, snapshot_id),
        )


@dataclass(frozen=True)
class Outcome:
    """How an export run ended: `published` False when there was nothing (more) to do."""

    parts: list[Part]
    published: bool

    @property
    def failed(self) -> list[Part]:
        return [p for p in self.parts if p.stored is None]


def run(
    conninfo: str,
    store: ObjectStore,
    snapshot_id: uuid.UUID,
    *,
    max_rows: int,
    streams: int = 1,
    helpers: int = 0,
) -> Outcome:
    """Export one snapshot as its coordinator and publish it.

    `Outcome.published` is False when there was nothing to do: the snapshot is not
    pending or running (deleted, expired, done), or another run took it over.
    """
    with psycopg.connect(conninfo) as conn:
        job = claim(conn, snapshot_id)
        if job is None:
            log.info("export.skipped", snapshot_id=str(snapshot_id))
            return Outcome([], published=False)
        parts = export(
            conninfo, conn, store, job, max_rows=max_rows, streams=streams, helpers=helpers
        )
        published = publish(conn, job, parts)
    if published:
        # A helper that died mid-part left its staged bytes behind; its part was redone.
        try:
            store.discard_unfinished(str(snapshot_id))
        except OSError as exc:  # retention deletes them with the snapshot anyway
            log.warning("export.cleanup_failed", snapshot_id=str(snapshot_id), reason=str(exc))
    done = [p for p in parts if p.stored is not None]
    log.info(
        "export.complete" if published and len(done) == len(parts) else "export.ended",
        snapshot_id=str(snapshot_id),
        published=published,
        parts=len(parts),
        failed_parts=len(parts) - len(done),
        rows=sum(p.rows or 0 for p in done),
        bytes=sum(p.stored.size for p in done if p.stored is not None),
    )
    return Outcome(parts, published)

"""Run an export: one coordinator, any number of helpers, parts published as they finish.

An export run has one coordinator, the `pond.export_snapshot` job. It claims
the snapshot, opens a REPEATABLE READ, READ ONLY transaction and exports its
snapshot (`pg_export_snapshot`), plans the parts from a sample
(`pond.exports.planning`), records the plan in `export_parts` and asks for
helper jobs (`pond.export_parts`), which any worker process may pick up.
Coordinator and helpers then take pending parts one at a time, each in
`streams` threads: a part is claimed by locking its row for as long as it is
exported (`pond.exports.part_copy`), on a connection that joins the
coordinator's snapshot. So the export is one point-in-time view however many
processes read it, and rows are exactly once across parts. A worker that dies
drops its connection and with it the lock: the coordinator takes the part
again. Each part, once done, is published as soon as its place is known
(`pond.exports.publishing`). The coordinator holds its transaction (and so the
snapshot) until every part is done, then ends the snapshot.

A part that fails `MAX_PART_ATTEMPTS` times is published as failed with its
reason, beside the parts that succeeded.

Helpers are for other processes: a helper job that a process takes while it
already works on the same run (as its coordinator, or as another helper) ends
at once (`export.help_declined`), so that one process never exports more than
`streams` parts of a run at a time. Without this, `pond serve` on its defaults
(two job slots) ran the coordinator and a helper side by side: four parts at
once on the same cores, finished parts arriving four at a time, and for
Parquet about 90 MB more memory on 5M rows, for no gain in time.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog

from pond.exports import planning, publishing, repository
from pond.exports.job import Job, Range
from pond.exports.part_copy import RunOver, export_part
from pond.exports.progress import Progress
from pond.exports.publishing import Part
from pond.jobs import queue
from pond.storage.base import ObjectStore

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


# The runs this process works on: (snapshot id, run).
_here: set[tuple[uuid.UUID, int]] = set()
_here_lock = threading.Lock()


@contextlib.contextmanager
def _working_here(snapshot_id: uuid.UUID, run: int) -> Iterator[bool]:
    """Mark the run as worked on by this process while the block runs; yield False (and
    mark nothing) when it already is."""
    key = (snapshot_id, run)
    with _here_lock:
        first = key not in _here
        _here.add(key)
    try:
        yield first
    finally:
        if first:
            with _here_lock:
                _here.discard(key)


@dataclass(frozen=True)
class _Run:
    """What every thread of one process working on one export run shares."""

    conninfo: str
    store: ObjectStore
    job: Job
    snapshot: str
    progress: Progress
    max_rows: int
    # Notified when a part is done; set to make this process's threads stop.
    wake: threading.Condition = field(default_factory=threading.Condition)
    stop: threading.Event = field(default_factory=threading.Event)


def describe(exc: BaseException) -> str:
    """An exception as one line a user can read: `OSError: [Errno 28] No space left ...`."""
    detail = str(exc).splitlines()[0] if str(exc) else "no detail"
    return f"{type(exc).__name__}: {detail}"


def _export_taken(conn: psycopg.Connection[Any], work: _Run, part: Range, attempts: int) -> None:
    """Export a part whose row `conn` holds locked, and record how it went."""
    job = work.job
    try:
        written = export_part(
            work.conninfo,
            work.snapshot,
            work.store,
            job,
            part,
            max_rows=work.max_rows,
            progress=work.progress,
        )
    except RunOver:
        raise
    except Exception as exc:
        attempts += 1
        name = job.options.provisional_name(job.entity, job.run, part)
        gave_up = attempts >= MAX_PART_ATTEMPTS
        # Published as `event_003 failed after ...`, once the part's name is known.
        reason = f"failed after {attempts} attempts: {describe(exc)}"
        repository.record_failure(conn, job, part, attempts, reason, gave_up=gave_up)
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
    stored = written.stored
    done = repository.Done(stored.key.rpartition("/")[2], stored.size, stored.sha256, written.rows)
    repository.record_done(conn, job, part, done, written.rest)


def _work(work: _Run, *, wait: bool) -> int:
    """Export the run's parts one at a time; return how many this thread took.

    With `wait` (the coordinator), keep going until no part is pending at all,
    taking back the parts of helpers that died; else stop once no part is free.
    Either way stop when the run is over.
    """
    taken = 0
    try:
        with psycopg.connect(work.conninfo, autocommit=True) as conn:
            while not work.stop.is_set():
                with conn.transaction():
                    found = repository.take(conn, work.job)
                    if found is not None:
                        _export_taken(conn, work, *found)
                if found is not None:
                    taken += 1
                    try:
                        publishing.publish_ready(conn, work.store, work.job)
                    except OSError as exc:  # the store refused a rename: the end tries again
                        log.warning(
                            "export.publish_deferred",
                            snapshot_id=str(work.job.snapshot_id),
                            reason=describe(exc),
                        )
                    with work.wake:  # threads waiting for the last parts look again
                        work.wake.notify_all()
                    continue
                live, pending = repository.standing(conn, work.job)
                if not live or not (wait and pending):
                    break
                with work.wake:
                    work.wake.wait(_WAIT_SECONDS)
    except BaseException:
        work.stop.set()  # the other threads of this process stop after their part
        raise
    return taken


def _in_threads(work: _Run, threads: int, *, wait: bool) -> int:
    """Run `_work` in `threads` threads; return how many parts they took."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures: list[Future[int]] = [
            pool.submit(_work, work, wait=wait) for _ in range(max(1, threads))
        ]
        return sum(future.result() for future in futures)


def export(
    conninfo: str,
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    job: Job,
    *,
    max_rows: int,
    streams: int = 1,
    helpers: int = 0,
) -> list[Part] | None:
    """Export the job's rows as parts and publish them; the parts in order, each complete
    or failed, or None if the run lost the snapshot before the end.

    `conn` holds the coordinating transaction: it exports its snapshot, plans the
    parts, and stays open while every part's own connection reads through it.
    This process works on the parts in `streams` threads; up to `helpers` jobs of
    other workers are asked to share them.
    """
    with psycopg.connect(conninfo, autocommit=True) as control:
        # Parts that workers of an earlier run still hold are waited for, then dropped.
        repository.clear_plans(control, job.snapshot_id)
        # Nothing under this prefix is listed while the run is new: start clean. What an
        # earlier run left is only clutter (nothing lists it, retention deletes it), so a
        # store that cannot clear it now does not stop the export.
        try:
            store.delete_prefix(str(job.snapshot_id))
        except OSError as exc:
            log.warning("export.cleanup_skipped", snapshot_id=str(job.snapshot_id), reason=str(exc))
        # Marked before helpers are asked for: a helper this process takes then declines.
        with _working_here(job.snapshot_id, job.run), conn.transaction():
            repository.begin_snapshot(conn, None)
            snapshot = repository.share_snapshot(conn)
            ranges = planning.plan_export(conn, job, max_rows, streams)
            with control.transaction():
                repository.record_plan(control, job, ranges)
                if len(ranges) > 1 and helpers > 0:
                    _ask_helpers(control, job, snapshot, helpers)
            log.info("export.planned", snapshot_id=str(job.snapshot_id), parts=len(ranges))
            with Progress(conninfo, job.snapshot_id) as progress:
                work = _Run(conninfo, store, job, snapshot, progress, max_rows)
                _in_threads(work, streams, wait=True)
        # Every part is done or failed for good, so no writer of this run is left: what a
        # writer that died staged is removed before the snapshot is published (after it, a
        # coordinator killed in between would leave it behind for good).
        try:
            store.discard_unfinished(str(job.snapshot_id))
        except OSError as exc:  # retention deletes them with the snapshot anyway
            log.warning("export.cleanup_failed", snapshot_id=str(job.snapshot_id), reason=str(exc))
        return publishing.publish(control, store, job)


def _ask_helpers(conn: psycopg.Connection[Any], job: Job, snapshot: str, helpers: int) -> None:
    queue.defer(
        conn,
        PARTS_QUEUE,
        PARTS_TASK,
        {"snapshot_id": str(job.snapshot_id), "run": job.run, "snapshot": snapshot},
        count=helpers,
        priority=PARTS_PRIORITY,
    )


def help_export(
    conninfo: str,
    store: ObjectStore,
    snapshot_id: uuid.UUID,
    run: int,
    snapshot: str,
    *,
    max_rows: int,
    streams: int = 1,
) -> int:
    """Take a share of a running export's parts; return how many parts this job exported.

    Stops when no part is free, or when the run is over (its coordinator finished
    or died: then its snapshot can no longer be joined, and a new run replans).
    Declines at once where this process already works on the run (see the module
    doc).
    """
    with _working_here(snapshot_id, run) as first:
        if not first:
            log.info("export.help_declined", snapshot_id=str(snapshot_id), run=run)
            return 0
        with psycopg.connect(conninfo) as conn:
            job = repository.running_job(conn, snapshot_id, run)
        if job is None:
            return 0
        with Progress(conninfo, snapshot_id) as progress:
            work = _Run(conninfo, store, job, snapshot, progress, max_rows)
            try:
                return _in_threads(work, streams, wait=False)
            except RunOver:
                log.info("export.run_over", snapshot_id=str(snapshot_id), run=run)
                return 0


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
        job = repository.claim(conn, snapshot_id)
        if job is None:
            log.info("export.skipped", snapshot_id=str(snapshot_id))
            return Outcome([], published=False)
        parts = export(
            conninfo, conn, store, job, max_rows=max_rows, streams=streams, helpers=helpers
        )
    published = parts is not None
    parts = parts or []
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

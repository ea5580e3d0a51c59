"""The job queue: procrastinate app and pond's tasks.

- `pond.export_snapshot` (queue `exports`): coordinates one snapshot's export in a
  worker thread, retried on failure; after the last attempt the snapshot is
  marked failed with its reason, so nothing stays pending forever.
- `pond.export_parts` (queue `exports`, before new exports): a helper that takes
  a share of a running export's parts, in whichever worker picks it up.
- `pond.maintenance` (every minute): deletes expired snapshots' files and marks
  them expired, deletes rate and failure counts that no longer limit anything,
  hands jobs of dead workers back to the queue, and retires the signing keys
  superseded long enough ago that nothing they signed is valid.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import procrastinate
import psycopg
import structlog

from pond.auth import rotation
from pond.exports import coordinator, repository, retention
from pond.jobs.runtime import JobRuntime
from pond.limits import repository as limits
from pond.snapshots.repository import EXPORT_QUEUE, EXPORT_TASK
from pond.webhooks import delivery as webhook_delivery
from pond.webhooks import events as webhook_events
from pond.webhooks.repository import DELIVER_TASK, WEBHOOK_QUEUE

log = structlog.get_logger("pond.jobs")

MAX_EXPORT_ATTEMPTS = 3
MAINTENANCE_QUEUE = "maintenance"
# Workers send a heartbeat this often; one silent for STALLED_AFTER_SECONDS is taken
# as dead (kill -9, machine lost) and its jobs are run again by the others.
HEARTBEAT_SECONDS = 2
STALLED_AFTER_SECONDS = 10


def _runtime(context: procrastinate.JobContext) -> JobRuntime:
    runtime: JobRuntime = context.additional_context["pond"]
    return runtime


def export_snapshot(context: procrastinate.JobContext, snapshot_id: str) -> None:
    """Coordinate one snapshot's export (synchronous: procrastinate runs it in a thread)."""
    runtime = _runtime(context)
    sid = uuid.UUID(snapshot_id)
    bound = log.bind(snapshot_id=snapshot_id, job_id=context.job.id)
    bound.info("export.started")
    public_url = runtime.settings.public_url
    try:
        outcome = coordinator.run(
            runtime.conninfo,
            runtime.store,
            sid,
            max_rows=runtime.settings.part_max_rows,
            streams=runtime.settings.export_streams,
            helpers=runtime.settings.export_helpers,
        )
    except Exception as exc:
        reason = coordinator.describe(exc)
        with psycopg.connect(runtime.conninfo) as conn:
            attempts = repository.attempts(conn, sid) or MAX_EXPORT_ATTEMPTS
            if attempts >= MAX_EXPORT_ATTEMPTS:
                bound.error("export.failed", reason=reason, attempts=attempts)
                repository.fail(conn, sid, f"export failed after {attempts} attempts: {reason}")
                webhook_events.emit(
                    runtime.conninfo, sid, webhook_events.FAILED, public_url=public_url
                )
                return
        bound.warning("export.retrying", reason=reason, attempts=attempts)
        raise
    if outcome.published:
        event = webhook_events.FAILED if outcome.failed else webhook_events.COMPLETED
        webhook_events.emit(runtime.conninfo, sid, event, public_url=public_url)


def export_parts(
    context: procrastinate.JobContext, snapshot_id: str, run: int, snapshot: str
) -> None:
    """Help a running export: take some of its parts (see `coordinator.help_export`)."""
    runtime = _runtime(context)
    done = coordinator.help_export(
        runtime.conninfo,
        runtime.store,
        uuid.UUID(snapshot_id),
        run,
        snapshot,
        max_rows=runtime.settings.part_max_rows,
        streams=runtime.settings.export_streams,
    )
    log.info("export.helped", snapshot_id=snapshot_id, run=run, parts=done, job_id=context.job.id)


async def expire_snapshots(conninfo: str, runtime: JobRuntime) -> int:
    """Delete the files of every snapshot past retention and mark them expired; how many."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await retention.sweep(conn, runtime.store)


def forget_stale_limits(conninfo: str) -> int:
    """Delete rate buckets and failure counts that no longer limit anything; how many."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return limits.delete_stale(conn)


async def retire_expired_keys(runtime: JobRuntime) -> list[str]:
    """Retire the superseded keys whose tokens and links have all expired; their kids."""
    async with await psycopg.AsyncConnection.connect(runtime.conninfo, autocommit=True) as conn:
        return await rotation.retire_expired(conn, runtime.settings)


async def maintenance(context: procrastinate.JobContext, timestamp: int) -> None:
    """Retention, old limit counts, stalled-job recovery and key retirement, once a minute."""
    runtime = _runtime(context)
    await expire_snapshots(runtime.conninfo, runtime)
    await asyncio.to_thread(forget_stale_limits, runtime.conninfo)
    await recover_stalled(context.app)
    await retire_expired_keys(runtime)


async def recover_stalled(app: procrastinate.App) -> int:
    """Put jobs whose worker stopped sending heartbeats back in the queue."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS)
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        log.warning("job.recovered", job_id=job.id, task=job.task_name)
        count += 1
    return count


def build_app(conninfo: str, **pool_args: Any) -> procrastinate.App:
    """The procrastinate app with pond's tasks, on the given database."""
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo, **pool_args),
    )
    app.task(
        name=EXPORT_TASK,
        queue=EXPORT_QUEUE,
        pass_context=True,
        # pond decides when to give up (see export_snapshot); the queue always retries.
        retry=procrastinate.RetryStrategy(max_attempts=MAX_EXPORT_ATTEMPTS * 2, wait=2),
    )(export_snapshot)
    # A helper that dies is simply not retried: the coordinator takes its part back.
    app.task(name=coordinator.PARTS_TASK, queue=coordinator.PARTS_QUEUE, pass_context=True)(
        export_parts
    )
    maintenance_task = app.task(
        name="pond.maintenance", queue=MAINTENANCE_QUEUE, pass_context=True
    )(maintenance)
    app.periodic(cron="* * * * *", periodic_id="maintenance")(maintenance_task)
    app.task(
        name=DELIVER_TASK, queue=WEBHOOK_QUEUE, pass_context=True, retry=webhook_delivery.RETRY
    )(webhook_delivery.deliver_webhook)
    return app

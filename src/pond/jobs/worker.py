"""Running the job queue: inside `pond serve`, or alone in `pond worker`."""

from __future__ import annotations

import asyncio
import contextlib

import procrastinate
import structlog

from pond.jobs.runtime import JobRuntime
from pond.jobs.tasks import HEARTBEAT_SECONDS, STALLED_AFTER_SECONDS, build_app, recover_stalled

log = structlog.get_logger("pond.jobs")

# How often each worker looks for jobs whose worker died.
RECOVERY_INTERVAL_SECONDS = 3


async def _recover_forever(app: procrastinate.App) -> None:
    """Hand jobs of dead workers back to the queue, every few seconds, in every worker."""
    while True:
        try:
            recovered = await recover_stalled(app)
            if recovered:
                log.info("worker.recovered_jobs", count=recovered)
        except Exception:  # the database may be restarting: try again next round
            log.warning("worker.recovery_failed", exc_info=True)
        await asyncio.sleep(RECOVERY_INTERVAL_SECONDS)


async def run_worker(
    runtime: JobRuntime, *, concurrency: int | None = None, install_signal_handlers: bool = True
) -> None:
    """Process jobs until cancelled (or, with signal handlers, until SIGINT/SIGTERM)."""
    app = build_app(runtime.conninfo, min_size=1, max_size=4)
    async with app.open_async():
        recovery = asyncio.create_task(_recover_forever(app))
        try:
            await app.run_worker_async(
                concurrency=concurrency or runtime.settings.worker_concurrency,
                additional_context={"pond": runtime},
                install_signal_handlers=install_signal_handlers,
                name="pond-worker",
                update_heartbeat_interval=HEARTBEAT_SECONDS,
                stalled_worker_timeout=STALLED_AFTER_SECONDS,
            )
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery

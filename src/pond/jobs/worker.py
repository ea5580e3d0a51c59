"""Running the job queue: inside `pond serve`, or alone in `pond worker`."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import procrastinate
import structlog
from procrastinate.worker import Worker

from pond.jobs.runtime import JobRuntime
from pond.jobs.tasks import HEARTBEAT_SECONDS, STALLED_AFTER_SECONDS, build_app, recover_stalled

log = structlog.get_logger("pond.jobs")

# How often each worker looks for jobs whose worker died.
RECOVERY_INTERVAL_SECONDS = 3
# How long a worker that lost its database waits before starting again.
RESTART_DELAY_SECONDS = 2


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
    """Process jobs until cancelled (or, with signal handlers, until SIGINT/SIGTERM).

    SIGINT/SIGTERM stop it gracefully: running exports finish first. When the
    database goes away (a restart, a failover) procrastinate's worker stops by
    itself; this starts it again once the database answers.
    """
    stop = asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    while True:
        try:
            if await _run_once(runtime, concurrency, stop):
                return
            log.warning("worker.stopped_by_itself", delay=RESTART_DELAY_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("worker.restarting", exc_info=True, delay=RESTART_DELAY_SECONDS)
        if stop.is_set():
            return
        await asyncio.sleep(RESTART_DELAY_SECONDS)


async def _run_once(runtime: JobRuntime, concurrency: int | None, stop: asyncio.Event) -> bool:
    """Run one procrastinate worker; True when it stopped because `stop` was set."""
    app = build_app(runtime.conninfo, min_size=1, max_size=4)
    async with app.open_async():
        worker = Worker(
            app,
            concurrency=concurrency or runtime.settings.worker_concurrency,
            additional_context={"pond": runtime},
            install_signal_handlers=False,
            name="pond-worker",
            update_heartbeat_interval=HEARTBEAT_SECONDS,
            stalled_worker_timeout=STALLED_AFTER_SECONDS,
        )
        recovery = asyncio.create_task(_recover_forever(app))
        running = asyncio.create_task(worker.run())  # type: ignore[no-untyped-call]  # untyped upstream
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                worker.stop()  # type: ignore[no-untyped-call]  # graceful: running jobs finish first
                await running
                return True
            await running  # raises what stopped it, if anything
            return False
        finally:
            for task in (recovery, stopping, running):
                task.cancel()
            for task in (recovery, stopping, running):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

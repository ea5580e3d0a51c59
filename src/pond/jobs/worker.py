"""Running the job queue: inside `pond serve`, or alone in `pond worker`."""

from __future__ import annotations

import structlog

from pond.jobs.runtime import JobRuntime
from pond.jobs.tasks import build_app, recover_stalled

log = structlog.get_logger("pond.jobs")


async def run_worker(
    runtime: JobRuntime, *, concurrency: int | None = None, install_signal_handlers: bool = True
) -> None:
    """Process jobs until cancelled (or, with signal handlers, until SIGINT/SIGTERM)."""
    app = build_app(runtime.conninfo, min_size=1, max_size=4)
    async with app.open_async():
        recovered = await recover_stalled(app)
        if recovered:
            log.info("worker.recovered_jobs", count=recovered)
        await app.run_worker_async(
            concurrency=concurrency or runtime.settings.worker_concurrency,
            additional_context={"pond": runtime},
            install_signal_handlers=install_signal_handlers,
            name="pond-worker",
        )

"""The application factory: routes, error handlers, and what lives as long as the app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pond.api import openapi, repository
from pond.api.access_log import AccessLog
from pond.api.errors import HANDLERS
from pond.api.metrics import routes as metrics_routes
from pond.api.state import AppState
from pond.auth import router as auth_router
from pond.auth.keys import load_keyring
from pond.console.routes import routes as console_routes
from pond.downloads import router as downloads_router
from pond.entities import configured
from pond.events import router as events_router
from pond.jobs.runtime import JobRuntime
from pond.settings import Settings
from pond.snapshots import router as snapshots_router
from pond.snapshots.changes import SnapshotChanges
from pond.storage.factory import open_store
from pond.webhooks.router import routes as webhook_routes

log = structlog.get_logger("pond.api")


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database and the object store answer too (503 otherwise)."""
    state: AppState = request.app.state.pond
    async with state.pool.connection() as conn:
        await repository.ping(conn)
    await asyncio.to_thread(state.store.check)
    return JSONResponse({"status": "ready"})


def create_app(settings: Settings, conninfo: str, *, run_worker: bool = True) -> Starlette:
    """The pond API; with `run_worker`, export jobs run inside this process too."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            conninfo,
            min_size=2,
            max_size=settings.db_pool_size,
            open=False,
            timeout=10,
            # A connection is tried before it is lent: after a database restart the
            # broken ones are dropped and replaced instead of failing one request each.
            check=AsyncConnectionPool.check_connection,
            # Reconnection backs off exponentially (1, 2, 4, ... s): without a bound, a
            # two-minute outage would leave the API down for a minute after it ends.
            # Giving up early frees the slot for a fresh attempt at the next request.
            reconnect_timeout=10,
        )
        # Operator entities are checked against the database before anything is served.
        await asyncio.to_thread(configured.load, conninfo, settings.entities)
        await pool.open(wait=True)
        async with pool.connection() as conn:
            keys = await load_keyring(conn)
        signer = keys.link_signer()
        store = open_store(settings, signer)
        changes = SnapshotChanges(conninfo)
        changes.start()
        state = app.state.pond = AppState(
            settings=settings, pool=pool, keys=keys, store=store, signer=signer, changes=changes
        )
        watching = asyncio.create_task(state.watcher.run())
        worker: asyncio.Task[None] | None = None
        if run_worker:
            from pond.jobs.worker import run_worker as _run_worker

            runtime = JobRuntime(settings=settings, conninfo=conninfo, store=store)
            worker = asyncio.create_task(_run_worker(runtime, install_signal_handlers=False))
        # What start-up left alive (modules, routes, keys) stays for the process's life:
        # kept out of the collector's sight, full collections under load stay short.
        gc.collect()
        gc.freeze()
        log.info("api.started", worker=run_worker)
        try:
            yield
        finally:
            for task in (watching, worker):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await changes.stop()
            await pool.close()

    routes = [
        *auth_router.routes,
        *snapshots_router.routes,
        *downloads_router.routes,
        *events_router.routes,
        *webhook_routes,
        *console_routes,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *metrics_routes,
        *openapi.routes,
    ]
    return Starlette(
        routes=routes,
        exception_handlers=HANDLERS,
        lifespan=lifespan,
        middleware=[Middleware(AccessLog)],
    )

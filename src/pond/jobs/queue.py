"""Deferring and cancelling procrastinate jobs inside pond's own transactions.

pond needs a job to exist if and only if the rows that call for it do, so a
job is deferred (or cancelled) on the connection that writes those rows, in
its transaction, through procrastinate's own API for that: a task configured
with `connection=` and the job manager's `cancel_job_by_id_async(connection=)`.
Nothing of procrastinate's SQL is spelled here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import procrastinate
import psycopg
from procrastinate import exceptions
from procrastinate.jobs import JobDeferrer

# An app that is never opened: it owns no connection and runs its statements only on
# the connections it is given (a sync or an async psycopg connection).
_APP = procrastinate.App(connector=procrastinate.PsycopgConnector())


@contextlib.contextmanager
def _as_psycopg_errors() -> Iterator[None]:
    """Let a database error on the caller's connection surface as psycopg raised it.

    procrastinate wraps driver errors in its own exceptions; pond's callers (and its
    HTTP error handlers) treat errors on their connection as psycopg's.
    """
    try:
        yield
    except exceptions.ConnectorException as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, psycopg.Error):
            raise cause from None
        raise


def _deferrer(
    conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any],
    queue: str,
    task: str,
    priority: int,
) -> JobDeferrer:
    """Defers jobs of `task` on `conn`, in its transaction."""
    return _APP.configure_task(task, queue=queue, priority=priority, connection=conn)


def defer(
    conn: psycopg.Connection[Any],
    queue: str,
    task: str,
    args: dict[str, Any],
    *,
    count: int = 1,
    priority: int = 0,
) -> list[int]:
    """Queue `count` jobs of `task` with `args` on `conn`, in its transaction; return their ids."""
    if count < 1:
        return []
    with _as_psycopg_errors():
        return _deferrer(conn, queue, task, priority).batch_defer(*[args] * count)


async def defer_async(
    conn: psycopg.AsyncConnection[Any],
    queue: str,
    task: str,
    args: dict[str, Any],
    *,
    count: int = 1,
    priority: int = 0,
) -> list[int]:
    """`defer` on an async connection."""
    if count < 1:
        return []
    with _as_psycopg_errors():
        return await _deferrer(conn, queue, task, priority).batch_defer_async(*[args] * count)


async def cancel_async(conn: psycopg.AsyncConnection[Any], job_id: int) -> bool:
    """Cancel a queued job, or ask a running one to abort, on `conn`, in its transaction.

    False when the job had already ended (or never existed).
    """
    with _as_psycopg_errors():
        return await _APP.job_manager.cancel_job_by_id_async(
            job_id, abort=True, delete_job=False, connection=conn
        )

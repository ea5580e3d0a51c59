"""Retention: snapshots past their expiry lose their files and their parts, in batches.

A sweep takes up to `BATCH` due snapshots at a time. It deletes their objects in
as few requests as the store allows (`ObjectStore.delete_prefixes`: one
`DeleteObjects` per 1,000 keys on S3), then marks them expired and drops their
part rows in one short transaction, and goes on until none is due. The files go
first: a sweep cut short leaves snapshots that the next one sweeps again, never
one marked expired whose files stay. Only snapshots past `expires_at` are
touched. One sweep runs at a time in the whole deployment (an advisory lock); a
sweep that finds another running returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg
import structlog

from pond.exports import repository
from pond.storage.base import ObjectStore

log = structlog.get_logger("pond.retention")

# Snapshots per round: their objects are deleted together, their rows in one transaction.
BATCH = 500


async def sweep(conn: psycopg.AsyncConnection[Any], store: ObjectStore, batch: int = BATCH) -> int:
    """Expire every snapshot past retention; how many were expired (0 if another sweep runs).

    `conn` must be in autocommit mode, so that no transaction stays open while
    objects are deleted. A store error stops the sweep (OSError); what it had
    not marked yet stays due for the next one.
    """
    if not await repository.lock_retention(conn):
        log.info("retention.skipped", reason="another sweep is running")
        return 0
    expired = 0
    try:
        while due := await repository.due_for_expiry(conn, batch):
            await asyncio.to_thread(store.delete_prefixes, [str(sid) for sid in due])
            for sid in await repository.mark_expired(conn, due):
                log.info("snapshot.expired", snapshot_id=str(sid))
                expired += 1
            if len(due) < batch:
                break
    finally:
        # A lost connection has released the lock already.
        with contextlib.suppress(psycopg.OperationalError):
            await repository.unlock_retention(conn)
    return expired

"""The per-client request rate, shared by every API process: counted in PostgreSQL.

Requests that arrive together are counted together: while one statement runs,
the next requests gather, and the next statement counts all of them at once
(`pond.api.batching`), so the database sees one short statement per batch of
requests, not one per request, and no process can let through more than the
shared count allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from pond.api.batching import Batcher
from pond.limits import repository
from pond.limits.repository import Grant

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


class SharedRate:
    """`take(key)` lets a request through, or says how long to wait; `per_minute=0` is off."""

    def __init__(self, connect: Connect, per_minute: int) -> None:
        self.per_minute = per_minute
        self._connect = connect
        self._batcher: Batcher[str, Grant] = Batcher(self._load)

    @property
    def on(self) -> bool:
        return self.per_minute > 0

    def submit(self, key: str) -> asyncio.Future[Grant]:
        """Count one request of `key` now (only when `on`); `claim()` the result once it is in."""
        return self._batcher.submit(key)

    async def take(self, key: str) -> float:
        """0.0 if this request of `key` may go ahead, else the seconds until one may."""
        return (await self.submit(key)).claim() if self.on else 0.0

    async def _load(self, asked: dict[str, int]) -> dict[str, Grant]:
        async with self._connect() as conn:
            return await repository.take(conn, asked, self.per_minute)

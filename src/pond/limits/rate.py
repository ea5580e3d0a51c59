"""The per-client request rate, shared by every API process: counted in PostgreSQL.

Requests that arrive together are counted together: while one statement runs,
the next requests gather, and the next statement counts all of them at once
(`pond.api.batching`), so the database sees one short statement per batch of
requests, not one per request, and no process can let through more than the
shared count allows.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from pond.api.batching import Batcher
from pond.limits import repository

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]
_Request = tuple[str, int]  # (key, a number of this process, unique per request)


class SharedRate:
    """`take(key)` lets a request through, or says how long to wait; `per_minute=0` is off."""

    def __init__(self, connect: Connect, per_minute: int) -> None:
        self.per_minute = per_minute
        self._connect = connect
        self._numbers = itertools.count()
        self._batcher: Batcher[_Request, float] = Batcher(self._load)

    @property
    def on(self) -> bool:
        return self.per_minute > 0

    def submit(self, key: str) -> asyncio.Future[float]:
        """Count one request of `key` now; the future is 0.0 if it may go ahead, else the
        seconds until one may. Only when `on`."""
        # Each request its own batch key: the batcher must not merge two of one client.
        return self._batcher.submit((key, next(self._numbers)))

    async def take(self, key: str) -> float:
        """0.0 if this request of `key` may go ahead, else the seconds until one may."""
        return await self.submit(key) if self.on else 0.0

    async def _load(self, requests: list[_Request]) -> dict[_Request, float]:
        asked = Counter(key for key, _ in requests)
        async with self._connect() as conn:
            taken = await repository.take(conn, dict(asked), self.per_minute)
        answers: dict[_Request, float] = {}
        seen: Counter[str] = Counter()
        for request in requests:  # in arrival order: the first ones of a key go ahead
            key = request[0]
            seen[key] += 1
            outcome = taken[key]
            answers[request] = 0.0 if seen[key] <= outcome.granted else max(outcome.wait, 1e-3)
        return answers

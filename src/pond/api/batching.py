"""Reads of many concurrent requests in one statement, each still as fresh as its own.

`Batcher.get(key)` waits for a load of a batch of keys that *started after* the
call: every answer reflects whatever was committed before its request arrived,
just as a read of its own would. While a load is running, the keys asked for
gather; the next load takes them all at once. One client polling pays one
statement per request, as before; many clients at once share statements, and
the pool, the round trip and the statement's fixed cost are paid once per
batch instead of once per request (docs/benchmarks.md, case 8).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """Answers `get(key)` from `load(keys)`, at most `concurrency` loads running at once.

    `load` gets each key of the batch with how many requests asked for it, and must
    answer every key; the requests of one key share its value. If it raises, every
    request of that batch gets the exception. Use from one event loop.
    """

    def __init__(
        self, load: Callable[[dict[K, int]], Awaitable[dict[K, V]]], *, concurrency: int = 1
    ) -> None:
        self._load = load
        self._concurrency = concurrency
        self._queued: dict[K, list[asyncio.Future[V]]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # referenced until done
        self.loads = 0  # how many loads have started, for tests and measurements

    async def get(self, key: K) -> V:
        """The value for `key` from a load that begins after this call."""
        return await self.submit(key)

    def submit(self, key: K) -> asyncio.Future[V]:
        """`get` without waiting: the future of `key`'s value, to await later.

        Lets a request start a load and do something else meanwhile, without a task
        of its own.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self._queued.setdefault(key, []).append(future)
        if self._running < self._concurrency:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return future

    async def _drain(self) -> None:
        """Load what is queued, again and again, until nothing is."""
        try:
            while self._queued:
                batch, self._queued = self._queued, {}
                self.loads += 1
                try:
                    values = await self._load({key: len(asked) for key, asked in batch.items()})
                except Exception as error:
                    for futures in batch.values():
                        _fail(futures, error)
                    continue
                except BaseException:  # cancelled: the server is stopping
                    for futures in batch.values():
                        for future in futures:
                            future.cancel()
                    raise
                for key, futures in batch.items():
                    _answer(futures, values[key])
        finally:
            self._running -= 1


def _answer(futures: list[asyncio.Future[V]], value: V) -> None:
    for future in futures:
        if not future.done():  # done: its request was cancelled (the caller went away)
            future.set_result(value)


def _fail(futures: list[asyncio.Future[V]], error: Exception) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)

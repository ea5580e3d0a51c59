"""What the async client runs concurrently with: tasks, and their locks and events.

The same names as `pond.client.concurrency` (classes `Async`-prefixed), behaving
alike, so that `scripts/unasync.py` generates the sync modules from the async
ones by renaming alone. Where threads and tasks truly differ, the difference
lives here: a task is stopped by cancelling it, work that would block the
event loop goes to a thread (`run_blocking`), and no block of a part is hashed
on the loop (`CHECK_WHILE_WRITING`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from types import TracebackType
from typing import ParamSpec, Self, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

AsyncLock = asyncio.Lock
AsyncJob = asyncio.Task[None]

# Hashing each block on the event loop would hold up every other task: a part
# is checked once complete instead, by reading its file in a thread.
CHECK_WHILE_WRITING = False


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def run_blocking(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)` in a worker thread, so that the event loop goes on meanwhile."""
    return await asyncio.to_thread(call, *args, **kwargs)


class AsyncEvent:
    """A flag tasks can set and wait for, as `threading.Event`: `wait` takes a time limit."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, seconds: float | None = None) -> bool:
        """Wait until the flag is set or `seconds` have passed; True if it is set."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        return self._event.is_set()


class AsyncWorkers:
    """Calls run as tasks named `name`, at most `parallel` at once.

    Leaving the `async with` block cancels the tasks still running and waits
    for them to end.
    """

    def __init__(self, parallel: int, name: str) -> None:
        self._slots = asyncio.Semaphore(max(1, parallel))
        self._name = name
        self._tasks: list[AsyncJob] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        # Every task's end is collected here, so that no failure goes unretrieved.
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def start(
        self, call: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs
    ) -> AsyncJob:
        """Run `call(*args, **kwargs)` in a task as soon as a slot is free."""
        task = asyncio.create_task(self._run(call, *args, **kwargs), name=self._name)
        self._tasks.append(task)
        return task

    async def _run(
        self, call: Callable[P, Awaitable[None]], *args: P.args, **kwargs: P.kwargs
    ) -> None:
        async with self._slots:
            await call(*args, **kwargs)


async def wait_all(jobs: Collection[AsyncJob]) -> None:
    """Wait until every job has ended; raises the first failure as soon as it happens."""
    for job in asyncio.as_completed(jobs):
        await job


async def wait_any(jobs: Collection[AsyncJob], seconds: float | None) -> None:
    """Wait until one of `jobs` (not empty) has ended, or `seconds` have passed."""
    await asyncio.wait(jobs, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)

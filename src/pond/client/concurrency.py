"""What the sync client runs concurrently with: threads, and their locks and events.

The generated sync modules (`client.py`, `download.py`, `follower.py`) import
these; the async sources import the same names, `Async`-prefixed for classes,
from `pond.client.async_concurrency`, whose tasks behave alike. So
`scripts/unasync.py` turns one into the other by renaming alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from types import TracebackType
from typing import ParamSpec, Self, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

Lock = threading.Lock
Event = threading.Event
Job = Future[None]
sleep = time.sleep

# A thread can spend the CPU: each block of a part is checked (hashed) as it is written.
CHECK_WHILE_WRITING = True


def run_blocking(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`call(*args, **kwargs)`, here and now: a thread may block."""
    return call(*args, **kwargs)


class Workers:
    """Calls run in at most `parallel` threads named `name`.

    Leaving the `with` block drops the calls not started yet and waits for the
    running ones, which stop early only when told (an `Event` they check).
    """

    def __init__(self, parallel: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(max(1, parallel), name)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, call: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> Job:
        """Run `call(*args, **kwargs)` in a thread as soon as one is free."""
        return self._pool.submit(call, *args, **kwargs)


def wait_all(jobs: Collection[Job]) -> None:
    """Wait until every job has ended; raises the first failure as soon as it happens."""
    for job in as_completed(jobs):
        job.result()


def wait_any(jobs: Collection[Job], seconds: float | None) -> None:
    """Wait until one of `jobs` (not empty) has ended, or `seconds` have passed."""
    wait(jobs, timeout=seconds, return_when=FIRST_COMPLETED)

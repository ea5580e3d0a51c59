"""Brute-force protection for the token endpoint: failed authentications, counted in a window.

After `limit` failed authentications within `window` seconds from one client id, or
from one IP address, the token endpoint answers `429 too_many_requests` with
`Retry-After`, even to the right secret, until the oldest failure of the window
ages out. Successful authentications are not counted. The counts live in one
server process's memory, like the snapshot rate limit (`pond.snapshots.limits`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from pond.errors import TooManyFailures

# Keys are attacker-chosen (any client id, any address): bound what they can make us keep.
_MAX_KEYS = 100_000


class FailureThrottle:
    """Failure times per key over a sliding window; `limit=0` never refuses."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again; 0.0 if it may now."""
        if self.limit <= 0:
            return 0.0
        now = self._clock()
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.window - now

    def fail(self, key: str) -> None:
        """Count one failed authentication of `key`."""
        if self.limit <= 0:
            return
        now = self._clock()
        times = self._recent(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.limit)
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > _MAX_KEYS:
            self._failures.popitem(last=False)

    def check(self, *keys: str) -> None:
        """Raise `TooManyFailures` if any of `keys` has failed too often lately."""
        wait = max((self.wait(key) for key in keys), default=0.0)
        if wait > 0:
            raise TooManyFailures(
                "too many failed authentications; wait before trying again",
                hint=f"retry in {math.ceil(wait)} s (see the Retry-After header)",
                retry_after=math.ceil(wait),
            )

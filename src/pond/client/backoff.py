"""How long to wait before asking again: exponential backoff, jitter, `Retry-After`, deadlines.

Pure arithmetic over a clock and a random source the caller may replace, so
the sync and async clients share it and tests can pin it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Backoff:
    """Delays `initial * factor**attempt`, capped at `maximum`, of which `jitter` is random.

    With `jitter=0.5` each delay lies between half and all of its exponential
    value, so many clients started together spread out instead of polling in step.
    """

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial:
            raise ValueError("backoff needs initial > 0, factor >= 1 and maximum >= initial")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before try number `attempt + 1` (attempt counts from 0)."""
        # min() before the power would overflow for large attempts; cap the exponent instead.
        exponent = min(attempt, 64)
        full = min(self.maximum, self.initial * self.factor**exponent)
        return full * (1 - self.jitter * rand())


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`, seconds or HTTP date), if any."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# A `Retry-After` longer than this is not slept through inside one call: the error says it.
MAX_SERVER_DELAY = 120.0


def next_delay(
    backoff: Backoff,
    attempt: int,
    server_hint: float | None,
    rand: Callable[[], float] = random.random,
) -> float:
    """The backoff delay, never shorter than what the server asked for."""
    delay = backoff.delay(attempt, rand)
    return delay if server_hint is None else max(delay, server_hint)


class Deadline:
    """A point in monotonic time after which the caller gives up; None means never."""

    def __init__(self, timeout: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.timeout = timeout
        self._end = None if timeout is None else clock() + timeout

    def remaining(self) -> float | None:
        """Seconds left (0 once passed), or None without a deadline."""
        return None if self._end is None else max(0.0, self._end - self._clock())

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def clip(self, delay: float) -> float:
        """`delay`, shortened so a sleep ends no later than the deadline."""
        left = self.remaining()
        return delay if left is None else min(delay, left)


def poll_delay(
    backoff: Backoff,
    attempt: int,
    headers: Mapping[str, str],
    deadline: Deadline,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds until the next poll, or None when it could not come before the deadline.

    The server's `Retry-After` is never cut short: if it reaches past the
    deadline there is no next poll.
    """
    hint = retry_after(headers)
    left = deadline.remaining()
    if left is not None and (left <= 0 or (hint is not None and hint > left)):
        return None
    return deadline.clip(next_delay(backoff, attempt, hint, rand))

"""Per-client rate limit on the snapshot routes: a token bucket in this process's memory.

Each client's bucket holds `per_minute` tokens and refills at `per_minute / 60` a
second; a request takes one. The buckets live in one server process: several
processes behind a load balancer each allow the full rate (see docs/settings.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from pond.auth.bearer import Principal, authenticate
from pond.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by client id; `per_minute=0` allows everything."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Take one token for `key`: 0.0 if granted, else the seconds until one is free."""
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        capacity = float(self.per_minute)
        rate = capacity / 60.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


def check(request: Request, client_id: str, per_minute: int) -> None:
    """Count one request of `client_id`, or raise `RateLimited` with its Retry-After."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "pond_rate_limiter", None)
    if limiter is None or limiter.per_minute != per_minute:
        # Made on first use: one per application, so each test server starts afresh.
        limiter = RateLimiter(per_minute)
        state.pond_rate_limiter = limiter
    wait = limiter.take(client_id)
    if wait > 0:
        raise RateLimited(
            f"too many requests: this client may make {per_minute} a minute",
            hint=f"retry in {math.ceil(wait)} s (see the Retry-After header)",
            retry_after=math.ceil(wait),
        )


async def caller(request: Request) -> Principal:
    """The authenticated caller, counted against its rate limit (401/403, then 429)."""
    principal = await authenticate(request)
    check(request, principal.client_id, request.app.state.pond.settings.rate_limit_per_minute)
    return principal

"""Brute-force protection for the token endpoint: failed authentications, counted in a window.

After `limit` failed authentications within `window` seconds from one client id, or
from one IP address, the token endpoint answers `429 too_many_requests` with
`Retry-After`, even to the right secret, until the oldest failure of the window
ages out. Successful authentications are not counted. The failures are kept in
PostgreSQL (`pond.limits.repository`), so every API process counts the same ones:
behind a load balancer an attacker gets `limit` tries, not `limit` per process.
"""

from __future__ import annotations

import math

from pond.api.batching import Batcher
from pond.errors import TooManyFailures
from pond.limits import repository
from pond.limits.rate import Connect


class FailureThrottle:
    """Failure times per key over a sliding window, shared; `limit=0` never refuses.

    The checks of token requests that arrive together are one statement between
    them (`pond.api.batching`), like the reads of their clients.
    """

    def __init__(self, connect: Connect, limit: int, window: int) -> None:
        self.limit = limit
        self.window = window
        self._connect = connect
        self._waits: Batcher[str, float] = Batcher(self._load)

    async def wait(self, *keys: str) -> float:
        """Seconds until every one of `keys` may try again; 0.0 if they may now."""
        if self.limit <= 0:
            return 0.0
        asked = [self._waits.submit(key) for key in keys]  # in one batch
        return max([await wait for wait in asked], default=0.0)

    async def _load(self, keys: dict[str, int]) -> dict[str, float]:
        async with self._connect() as conn:
            return await repository.failure_waits(conn, list(keys), self.limit, self.window)

    async def check(self, *keys: str) -> None:
        """Raise `TooManyFailures` if any of `keys` has failed too often lately."""
        wait = await self.wait(*keys)
        if wait > 0:
            raise TooManyFailures(
                "too many failed authentications; wait before trying again",
                hint=f"retry in {math.ceil(wait)} s (see the Retry-After header)",
                retry_after=math.ceil(wait),
            )

    async def fail(self, *keys: str) -> None:
        """Count one failed authentication of each of `keys`."""
        if self.limit <= 0:
            return
        async with self._connect() as conn:
            await repository.record_failure(
                conn, list(dict.fromkeys(keys)), self.limit, self.window
            )

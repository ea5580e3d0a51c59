"""Per-client rate limit on the snapshot routes, shared by every API process.

Each client may spend `POND_RATE_LIMIT_PER_MINUTE` requests at once, then gets
one more every `60 / N` seconds; the count lives in PostgreSQL
(`pond.limits.rate`), so several `pond serve` processes behind one address allow
the configured rate between them. A snapshot GET is counted by the statement
that reads it (`pond.snapshots.repository.lookup_many`); other requests are
counted while their own read runs (`alongside`). Either way the count adds no
round trip to a request's time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from pond.api.state import AppState, app_state
from pond.auth import bearer
from pond.auth.bearer import Principal
from pond.errors import RateLimited
from pond.limits.repository import Grant
from pond.snapshots.records import Lookup

T = TypeVar("T")


async def alongside(state: AppState, client_id: str, work: Awaitable[T]) -> tuple[T, float]:
    """`work`'s result, and one request of `client_id` counted at the same time.

    The second value is what `refuse_over` takes: 0.0 when the request may go
    ahead. `work`'s exception, if any, is raised first.
    """
    rate = state.rate_limit
    if not rate.on:
        return await work, 0.0
    counted = rate.submit(client_id)  # under way while `work` runs; no task of its own
    try:
        result = await work
    except BaseException:
        counted.add_done_callback(_forget)
        raise
    return result, (await counted).claim()


def over(found: Lookup) -> float:
    """What `refuse_over` takes for a request whose read counted it (`Lookup.grant`)."""
    return found.grant.claim() if found.grant is not None else 0.0


def _forget(counted: asyncio.Future[Grant]) -> None:
    """Take the count's outcome, failure included, from a request that ended without it."""
    if not counted.cancelled():
        counted.exception()


def refuse_over(state: AppState, wait: float) -> None:
    """Raise `RateLimited` with its Retry-After if `wait` (from `alongside`) is not 0."""
    if wait > 0:
        per_minute = state.rate_limit.per_minute
        raise RateLimited(
            f"too many requests: this client may make {per_minute} a minute",
            hint=f"retry in {math.ceil(wait)} s (see the Retry-After header)",
            retry_after=math.ceil(wait),
        )


async def caller(request: Request) -> Principal:
    """The authenticated caller, counted against its rate limit (401/403, then 429)."""
    claims = await bearer.token_claims(request)
    state = app_state(request)
    principal, wait = await alongside(state, claims.client_id, bearer.principal(state, claims))
    refuse_over(state, wait)
    return principal

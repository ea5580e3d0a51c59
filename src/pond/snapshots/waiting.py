"""`GET <href>?wait=S`: hold the answer until the snapshot finishes, or S seconds pass.

The request polls its snapshot's row every `POLL_INTERVAL` seconds, holding a
pool connection only for each short query, so waiting clients never starve the
pool; the answer lags the state change by at most one interval.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.requests import Request

from pond.api.state import AppState
from pond.auth.bearer import Principal
from pond.errors import InputError
from pond.snapshots import service
from pond.snapshots.repository import SnapshotRecord

MAX_WAIT = 30.0
POLL_INTERVAL = 0.25
UNFINISHED = ("pending", "running")


def parse_wait(value: str | None) -> float | None:
    """Seconds to wait, None without `wait`; `InputError` unless 0 < S <= 30."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= MAX_WAIT):
        raise InputError(
            f"wait must be a number of seconds greater than 0 and at most {MAX_WAIT:g}"
            f" (got {value!r})"
        )
    return seconds


async def wait_until_finished(
    request: Request, state: AppState, principal: Principal, seconds: float
) -> SnapshotRecord:
    """The snapshot once it is neither pending nor running, or as it is after `seconds`.

    Raises what `service.find` raises (404, 410), also when that happens mid-wait
    (the snapshot is deleted or expires). Returns early if the caller hangs up.
    """
    deadline = time.monotonic() + seconds
    snapshot_id = request.path_params["snapshot_id"]
    while True:
        async with state.pool.connection() as conn:
            record = await service.find(conn, principal, snapshot_id)
        remaining = deadline - time.monotonic()
        if record.state not in UNFINISHED or remaining <= 0:
            return record
        if await request.is_disconnected():
            return record
        await asyncio.sleep(min(POLL_INTERVAL, remaining))

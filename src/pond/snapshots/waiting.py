"""`GET <href>?wait=S`: hold the answer until the snapshot finishes, or S seconds pass.

With `?details=true`, whose answer lists the parts of a running export as they
are written, the answer also comes as soon as that listing changes: the
snapshot starts running, a part is listed, or the export runs again.

A waiting request holds no database connection and reads nothing while it
waits: it subscribes to news of its snapshot (`pond.snapshots.changes`, one
listener per process), and reads the snapshot again only when there is some.
A caller that hangs up is noticed at the next news, or at the end of its wait.
Reads go through the batch of concurrent snapshot reads (`pond.api.batching`),
so a thousand requests woken by one export's end cost a statement or two.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid

from starlette.requests import Request

from pond.api.state import AppState
from pond.auth import bearer
from pond.auth.tokens import TokenClaims
from pond.errors import InputError
from pond.snapshots import limits, service
from pond.snapshots.changes import Mark
from pond.snapshots.records import PartRecord, SnapshotRecord

MAX_WAIT = 30.0
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
    request: Request,
    state: AppState,
    claims: TokenClaims,
    snapshot_id: uuid.UUID | None,
    wait: str,
    *,
    details: str | None = None,
) -> tuple[SnapshotRecord, list[PartRecord]]:
    """The snapshot and its parts once it is neither pending nor running, or after `wait` s;
    with `details` true, also as soon as what it lists differs from the first read (`mark`).

    Checks in the order of every snapshot GET: 401/403 (also when the client is
    revoked mid-wait), 429, 400 for a bad `wait` or `details`, then 404/410 (also when the
    snapshot is deleted or expires mid-wait). Returns early if the caller hangs up.
    """
    key = (claims.client_id, snapshot_id)
    with contextlib.ExitStack() as stack:
        # Subscribed before the first read: news that comes after it is never missed.
        news = stack.enter_context(state.changes.subscribe(snapshot_id)) if snapshot_id else None
        found = await state.lookups.get(key)
        bearer.admit(claims, found.client)
        limits.refuse_over(state, limits.over(found))
        deadline = time.monotonic() + (parse_wait(wait) or 0.0)
        listed = service.parse_details(details)
        first: Mark | None = None
        while True:
            record = service.visible(found.record)
            seen = mark(record, found.parts, details=listed)
            first = first or seen
            changed = listed and seen != first
            remaining = deadline - time.monotonic()
            if news is None or record.state not in UNFINISHED or remaining <= 0 or changed:
                return record, found.parts
            news.saw = seen
            if not await news.wait(remaining) or await request.is_disconnected():
                # Unchanged all along (the listener's sweep would have seen a change
                # whose notification was lost), or no one to answer.
                return service.visible(found.record), found.parts
            news.clear()
            found = await state.rereads.get(key)  # the same request: not counted again
            bearer.admit(claims, found.client)


def mark(record: SnapshotRecord, parts: list[PartRecord], *, details: bool) -> Mark:
    """What a waiter's answer shows of the snapshot: its state; with `details`, also the
    run and the complete parts a running export lists (`service.render`)."""
    if not details:
        return Mark(record.state)
    listed = sum(1 for part in parts if part.state == "complete")
    return Mark(record.state, record.attempts, listed)

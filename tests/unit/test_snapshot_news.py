"""Who a notification wakes: news of a snapshot's state wakes all its waiters, news of
the parts its export lists only those that show parts (or have not read yet)."""

from __future__ import annotations

import asyncio
import uuid

from pond.snapshots.changes import PARTS_NEWS, Mark, SnapshotChanges, Subscription


async def woken(*subscriptions: Subscription) -> list[bool]:
    """Whether each subscription has news (a wait of no time)."""
    return [await s.wait(0) for s in subscriptions]


def test_news_of_parts_wakes_only_the_waiters_that_show_parts() -> None:
    async def scenario() -> None:
        changes = SnapshotChanges("postgresql://unused")
        sid = uuid.uuid4()
        with (
            changes.subscribe(sid) as plain,
            changes.subscribe(sid) as detailed,
            changes.subscribe(sid) as unread,
            changes.subscribe(uuid.uuid4()) as other,
        ):
            plain.saw = Mark("running")
            detailed.saw = Mark("running", run=1, parts=2)
            changes.announce(f"{sid} {PARTS_NEWS}")
            assert await woken(plain, detailed, unread, other) == [False, True, True, False]
            changes.announce(str(sid))
            assert await woken(plain, detailed, unread, other) == [True, True, True, False]
            changes.announce("not an id")  # ignored: it names no snapshot
            assert await woken(other) == [False]

    asyncio.run(scenario())

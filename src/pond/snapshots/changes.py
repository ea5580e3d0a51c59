"""Changes of snapshots, heard once per process: PostgreSQL `LISTEN`/`NOTIFY`.

The database announces every change of a snapshot's state on the channel
`pond_snapshots`, with the snapshot's id as the payload (a trigger on `snapshots`,
so every writer is covered: the exporter, retention, a DELETE). Other news of a
snapshot may come on the same channel: a writer sends it with `SELECT
pg_notify('pond_snapshots', <id>::text)` in its transaction (delivered at commit),
and the waiters read the snapshot again. News of the parts a running export
lists (a part published, a run starting over) is `<id> parts`: it wakes only the
subscribers that show parts, not those waiting for the state alone. `SnapshotChanges`
holds one connection of its own (never one of the pool) that listens, and wakes
the subscribers of the snapshot named; what changed, each reads for itself.

A notification can be lost: PostgreSQL drops those sent while the listener is
reconnecting. So every subscriber is woken when the listener (re)connects, and
every `sweep_interval` seconds the listener *sweeps*: one statement on its own
connection reads the state of every snapshot someone waits for (with its run
and how many complete parts it lists; which also proves the connection alive),
and wakes the subscribers whose snapshot is no longer as they last `saw` it.
Waiting costs the database that one statement per interval, however many wait;
a subscriber is woken only when there is something to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from pond.snapshots import repository

log = structlog.get_logger("pond.snapshots")

SWEEP_SECONDS = 5.0
# Reconnection waits this long after a failure, doubling up to the most.
RETRY_SECONDS, RETRY_MAX_SECONDS = 0.5, 5.0
# After the id in a payload: news of the parts a running export lists, not of its state.
PARTS_NEWS = "parts"


@dataclass(frozen=True)
class Mark:
    """What a subscriber read of its snapshot, for the sweep to compare with the database.

    `run` (the export's attempt) and `parts` (complete parts listed) are compared
    only when set: a subscriber that shows no parts leaves them None.
    """

    state: str
    run: int | None = None
    parts: int | None = None

    def differs(self, now: Mark | None) -> bool:
        """Whether `now` (None: the snapshot is gone) is news to whoever saw this."""
        if now is None or now.state != self.state:
            return True
        return (self.run is not None and self.run != now.run) or (
            self.parts is not None and self.parts != now.parts
        )


class Subscription:
    """News of one snapshot since the last `clear()`; see `SnapshotChanges.subscribe`."""

    def __init__(self) -> None:
        self._news = asyncio.Event()
        # What the subscriber last read; the sweep wakes it if the snapshot differs.
        self.saw: Mark | None = None

    def notify(self) -> None:
        self._news.set()

    def clear(self) -> None:
        """Forget the news so far: call it before reading the snapshot again."""
        self._news.clear()

    async def wait(self, seconds: float) -> bool:
        """True once there is news since the last `clear()` (at once if there is); False
        after `seconds` without."""
        if self._news.is_set():
            return True
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await self._news.wait()
        except TimeoutError:
            return False
        return True


class SnapshotChanges:
    """One listener for a process, and the subscribers it wakes. Use from one event loop."""

    def __init__(self, conninfo: str, *, sweep_interval: float = SWEEP_SECONDS) -> None:
        self._conninfo = conninfo
        self.sweep_interval = sweep_interval
        self._subscribers: dict[uuid.UUID, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        # Whether the listener is connected and listening, for tests and logs.
        self.listening = False

    def start(self) -> None:
        """Start listening in the background (reconnecting until `stop`)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening = False

    @contextlib.contextmanager
    def subscribe(self, snapshot_id: uuid.UUID) -> Iterator[Subscription]:
        """A subscription to news of `snapshot_id`, for the duration of the block.

        Subscribe *before* reading the snapshot, and `clear()` before each new read:
        news that comes after the clear is then never missed.
        """
        subscription = Subscription()
        self._subscribers.setdefault(snapshot_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(snapshot_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[snapshot_id]

    async def wait(self, snapshot_id: uuid.UUID, seconds: float, saw: Mark | None = None) -> bool:
        """True when there is news of `snapshot_id` within `seconds`, else False.

        News is a notification, a reconnection of the listener, or (given what the
        caller `saw`) a sweep that finds the snapshot otherwise. The
        caller then reads the snapshot again and decides for itself; to read first
        and miss nothing, use `subscribe`.
        """
        with self.subscribe(snapshot_id) as subscription:
            subscription.saw = saw
            return await subscription.wait(seconds)

    @property
    def waiting(self) -> int:
        """Subscriptions open now."""
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    def seen(self, snapshot_id: uuid.UUID) -> list[Mark]:
        """What the subscribers of `snapshot_id` last read of it, for those that have."""
        subscribers = self._subscribers.get(snapshot_id, ())
        return [s.saw for s in subscribers if s.saw is not None]

    def announce(self, payload: str) -> None:
        """Wake the subscribers of the snapshot whose id `payload` starts with (anything else:
        no one); with `PARTS_NEWS` after it, only those that show parts, or have not read yet."""
        text, _, kind = payload.partition(" ")
        try:
            snapshot_id = uuid.UUID(text)
        except ValueError:
            return
        for subscription in self._subscribers.get(snapshot_id, ()):
            saw = subscription.saw
            if kind == PARTS_NEWS and saw is not None and saw.parts is None:
                continue  # news of the listed parts, for a subscriber that shows none
            subscription.notify()

    def wake_all(self) -> None:
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.notify()

    async def _listen_forever(self) -> None:
        delay = RETRY_SECONDS
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True
                ) as conn:
                    delay = RETRY_SECONDS
                    await self._listen(conn)
            except Exception as error:  # the database restarting, or anything else: go on
                if self.listening:
                    log.warning("snapshot_changes.disconnected", error=str(error))
                self.listening = False
                # Whatever was announced meanwhile is lost: everyone reads again.
                self.wake_all()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await repository.listen(conn)
        self.listening = True
        log.debug("snapshot_changes.listening")
        # Announcements made before LISTEN took effect were not heard.
        self.wake_all()
        while True:
            async for notice in conn.notifies(timeout=self.sweep_interval):
                self.announce(notice.payload)
            # A connection that died silently fails here, and a notification lost
            # for any other reason costs at most one interval.
            await self.sweep(conn)

    async def sweep(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Wake the subscribers whose snapshot is not as they last saw it."""
        marks = await repository.marks(conn, list(self._subscribers))
        for snapshot_id, subscribers in list(self._subscribers.items()):
            found = marks.get(snapshot_id)
            now = Mark(*found) if found is not None else None
            for subscription in subscribers:
                if subscription.saw is not None and subscription.saw.differs(now):
                    subscription.notify()

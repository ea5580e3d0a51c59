"""Waiting and downloading at once: each part fetched as soon as it is listed.

The snapshot is polled with `?details=true` every `POLL_INTERVAL` while its
export runs, each poll held by the server until a part finishes, the export
ends, or the interval passes (`?wait=`): what changes is seen as it happens. Each part
the listing shows finished is fetched at once, by the same machinery as a
plain download (`AsyncDownloader`: resumable, verified, renamed into place),
`parallel` at a time (`AsyncWorkers`). A fetch whose part changes (the export
ran again) is stopped; when the snapshot is complete, every file is checked
against the final listing and files of parts it does not list are removed
(`pond.client.listing.Tracker` decides all of this).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from pond.client.answers import check_finished
from pond.client.async_concurrency import (
    AsyncEvent,
    AsyncJob,
    AsyncWorkers,
    run_blocking,
    sleep,
    wait_any,
)
from pond.client.async_download import AsyncDownloader, AsyncLinkBook
from pond.client.backoff import Backoff
from pond.client.errors import ClientError, WaitTimeout
from pond.client.listing import (
    POLL_INTERVAL,
    Listing,
    Superseded,
    Tracker,
    Watch,
    next_interval,
    run_of,
    shows_parts_early,
)
from pond.client.models import Item, Snapshot
from pond.client.parts import Cancelled, Part, PartProgress
from pond.client.results import Download

Describe = Callable[[], Awaitable[Snapshot]]
Poll = Callable[[float], Awaitable[Snapshot]]
# The shortest hold asked of the server (`wait=`); a shorter pause is slept through.
_SHORTEST_HOLD = 0.05


def shown(snapshot: Snapshot) -> tuple[object, ...]:
    """What a description shows of the export: its state, its run and its items' states."""
    return (snapshot.state, run_of(snapshot), tuple(item.state for item in snapshot.items))


@dataclass
class AsyncFetch:
    """One part being fetched, as a listing showed it."""

    part: Part
    wanted: str
    stop: AsyncEvent = field(default_factory=AsyncEvent)
    job: AsyncJob | None = None


class AsyncListedLinks(AsyncLinkBook):
    """Fresh links from the latest listing, for parts listed before the export is complete."""

    def __init__(self, first: Snapshot, describe: Describe, tracker: Tracker) -> None:
        super().__init__(first, lambda href: describe())
        self._describe = describe
        self._tracker = tracker

    async def refresh(self, part: Part) -> Item:
        """`part`'s item in a new listing; `Superseded` when another version took its name."""
        return self._tracker.fresh_item(await self._describe(), part)


class AsyncFollower:
    """Follows one snapshot into a directory until every part of its final listing is there.

    Part bodies are fetched with `http` (no API auth: the links are signed),
    `parallel` at a time. One follower follows one snapshot.
    """

    # Set by `run`: the snapshot's description, its directory's bookkeeping, the caller's
    # hooks, and what runs the fetches.
    _describe: Describe
    _poll: Poll | None
    _tracker: Tracker
    _watch: Watch
    _workers: AsyncWorkers

    def __init__(
        self, http: httpx.AsyncClient, backoff: Backoff, *, fsync: bool = False, parallel: int = 4
    ) -> None:
        self._http = http
        self._backoff = backoff
        self._fsync = fsync
        self._parallel = max(1, parallel)
        self._fetches: dict[str, AsyncFetch] = {}
        self._downloader: AsyncDownloader | None = None

    async def run(
        self,
        describe: Describe,
        rest: Describe,
        tracker: Tracker,
        watch: Watch,
        poll: Poll | None = None,
    ) -> Download:
        """Follow the snapshot to the end: the verified files of its final listing.

        `describe()` GETs the snapshot with details; `poll(s)` does too, held by
        the server for up to `s` seconds unless what it lists changes sooner
        (None: `describe()` after a pause); `rest()` waits for it the plain way
        (long-poll or backoff), for a server that lists parts only once the
        export is complete. Raises what `AsyncClient.wait` and
        `AsyncClient.download` raise.
        """
        self._describe, self._poll, self._tracker, self._watch = describe, poll, tracker, watch
        self._workers = AsyncWorkers(self._parallel, "pond-download")
        async with self._workers:
            try:
                first = await describe() if watch.listed_early else await rest()
                return await self._follow(first, rest)
            except BaseException:
                for fetch in self._fetches.values():
                    fetch.stop.set()
                raise

    async def _follow(self, current: Snapshot, rest: Describe) -> Download:
        deadline = self._watch.deadline
        interval = POLL_INTERVAL
        while True:
            if self._watch.waiting is not None:
                self._watch.waiting(current)
            complete = check_finished(current)
            listing = self._steer(self._tracker.read(current))
            if complete:
                break
            if shows_parts_early(current) is False:
                current = await rest()  # no part before the end: wait as for any server
                continue
            interval = next_interval(current, interval)
            pause = deadline.clip(interval)
            until = time.monotonic() + pause
            poll = self._poll if pause >= _SHORTEST_HOLD else None
            if poll is not None:
                before = shown(current)
                current = await poll(pause)
                if shown(current) != before:
                    continue  # a part or the end, answered as it came: seen at once
            await self._pause(until)  # the fetches that ended; sleeps out an early answer
            if deadline.expired:
                raise WaitTimeout(
                    f"snapshot {current.id} is still {current.state} after {deadline.timeout:g}s",
                    hint=f"wait more with `pond snapshot download {current.id}`",
                )
            if poll is None:
                current = await self._describe()
        while self._fetches or self._tracker.to_start(listing, ()):
            if await self._pause(None):  # a fetch failed: fresh links before it starts again
                listing = self._tracker.read(await self._describe())
            listing = self._steer(listing)
        return self._tracker.settle(listing)

    def _steer(self, listing: Listing) -> Listing:
        """Stop the fetches the listing no longer wants; start those it wants."""
        fetching = {name: fetch.wanted for name, fetch in self._fetches.items()}
        for name in self._tracker.to_cancel(listing, fetching):
            self._fetches[name].stop.set()
        for part in self._tracker.to_start(listing, fetching):
            fetch = AsyncFetch(part, listing.wanted[part.name])
            self._fetches[part.name] = fetch
            fetch.job = self._workers.start(self._fetch, fetch, self._downloader_for(listing))
        return listing

    def _downloader_for(self, listing: Listing) -> AsyncDownloader:
        if self._downloader is None:
            self._downloader = AsyncDownloader(
                self._http,
                AsyncListedLinks(listing.snapshot, self._describe, self._tracker),
                backoff=self._backoff,
                progress=self._progress,
                sync=self._fsync,
            )
        return self._downloader

    async def _fetch(self, fetch: AsyncFetch, downloader: AsyncDownloader) -> None:
        """Bring one listed part to its verified file, unless stopped.

        A stopped fetch ends at its next block (`Cancelled` from the progress
        hook), never in the middle of a file operation.
        """
        if fetch.stop.is_set():
            raise Cancelled  # stopped while it waited for its turn: touch no file
        await run_blocking(self._tracker.prepare, fetch.part, fetch.wanted)
        try:
            if fetch.stop.is_set():
                raise Cancelled
            await downloader.fetch(fetch.part)
        except (Cancelled, Superseded):
            fetch.part.discard()  # a partial file of a version no longer wanted
            raise

    def _progress(self, event: PartProgress) -> None:
        fetch = self._fetches.get(event.name)
        if fetch is not None and fetch.stop.is_set() and not event.finished:
            raise Cancelled  # ends the fetch from inside its loop, between two blocks
        if self._watch.progress is not None:
            self._watch.progress(event)

    async def _pause(self, until: float | None) -> bool:
        """Reap fetches that end until `until` (None: until one ends); True if one failed."""
        failed = False
        while True:
            jobs = [f.job for f in self._fetches.values() if f.job is not None]
            left = None if until is None else max(0.0, until - time.monotonic())
            if not jobs:
                if left:
                    await sleep(left)
                return failed
            await wait_any(jobs, left)
            failed = self._reap() or failed
            if until is None or time.monotonic() >= until:
                return failed

    def _reap(self) -> bool:
        """Forget the fetches that ended; True if one failed (raises once failing is final)."""
        failed = False
        for name, fetch in list(self._fetches.items()):
            if fetch.job is None or not fetch.job.done():
                continue
            del self._fetches[name]
            error = fetch.job.exception()
            if error is None or isinstance(error, Cancelled):
                continue
            if not isinstance(error, ClientError):
                raise error
            self._tracker.failed(fetch.part, fetch.wanted, error)
            failed = True
        return failed

# Generated from src/pond/client/async_download.py by scripts/unasync.py: do not edit.
# Change the async module, then run `python scripts/unasync.py`.
"""Parallel, resumable part downloads: `Downloader` fetches the parts of a snapshot.

Each part streams to its `.part` file; a cut connection or a 5xx is retried
with backoff from the bytes on disk (`Range`); a refused link (403) makes the
client fetch the snapshot again for fresh links; a finished part is verified
and renamed into place. The first error stops the other parts, whose partial
files stay for the next run. What each answer means is decided, without I/O,
by `pond.client.parts`; the parts run concurrently as `Workers` run them.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from pond.client.backoff import Backoff, next_delay
from pond.client.concurrency import (
    CHECK_WHILE_WRITING,
    Event,
    Lock,
    Workers,
    run_blocking,
    wait_all,
)
from pond.client.errors import ClientError, IntegrityError
from pond.client.models import Item, Snapshot
from pond.client.parts import (
    PART_HEADERS,
    Cancelled,
    Part,
    PartProgress,
    PartWriter,
    ProgressCallback,
    Step,
    Tally,
    decide,
    fresh_item,
)
from pond.client.wire import blocks


class LinkBook:
    """The freshest links of one snapshot, shared by the parts being downloaded."""

    def __init__(self, snapshot: Snapshot, get: Callable[[str], Snapshot]) -> None:
        self._snapshot = snapshot
        self._get = get
        self._lock = Lock()

    def refresh(self, part: Part) -> Item:
        """A newer item for `part`; asks the server only if no other part already did."""
        with self._lock:
            current = fresh_item(self._snapshot, part)
            if current.href != part.item.href:
                return current
            self._snapshot = self._get(self._snapshot.href)
            return fresh_item(self._snapshot, part)


class Downloader:
    """Fetches parts with `http` (which must carry no API auth: links are signed)."""

    def __init__(
        self,
        http: httpx.Client,
        links: LinkBook,
        *,
        backoff: Backoff,
        progress: ProgressCallback | None = None,
        sync: bool = False,
    ) -> None:
        self._http = http
        self._links = links
        self._backoff = backoff
        self._progress = progress
        self._sync = sync  # fsync each part before it is renamed into place
        self._cancel = Event()

    def run(self, parts: list[Part], parallel: int) -> None:
        """Fetch every part, `parallel` at a time; raises the first part's error."""
        if parallel <= 1 or len(parts) <= 1:
            for part in parts:
                self.fetch(part)
            return
        with Workers(min(parallel, len(parts)), "pond-download") as workers:
            jobs = [workers.start(self.fetch, part) for part in parts]
            try:
                wait_all(jobs)
            except BaseException:
                self._cancel.set()
                raise

    def _report(self, part: Part, done: int, finished: bool = False) -> None:
        if self._progress is not None:
            self._progress(PartProgress(part.name, done, part.item.size, finished))

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled

    def fetch(self, part: Part) -> None:
        """Bring `part` to its verified final file; raises a `ClientError` when it cannot."""
        tally = Tally(part.name)
        while True:
            self._check()
            if part.is_done():
                part.discard()
                self._report(part, part.item.size or part.final.stat().st_size, finished=True)
                return
            before = part.have()
            self._report(part, before)
            size = part.item.size
            if size is not None and before == size:
                step, delay = Step.COMPLETE, None
            else:
                step, delay = self._attempt(part)
            if part.have() > before:
                tally.progressed()
            if step is Step.COMPLETE:
                try:
                    run_blocking(part.commit)
                except IntegrityError as error:
                    tally.restarted(error)
                    continue
                self._report(part, part.final.stat().st_size, finished=True)
                return
            if step is Step.REFRESH:
                tally.refreshed()
                part.item = self._links.refresh(part)
            elif step is Step.RESTART:
                part.discard()
                tally.restarted(ClientError(f"part {part.name}: the server's ranges do not fit"))
            elif step is Step.RETRY:
                attempt = tally.failed("connection failed or the server answered an error")
                self._cancel.wait(next_delay(self._backoff, attempt, delay))

    def _attempt(self, part: Part) -> tuple[Step, float | None]:
        """One request for the rest of `part`: what happened, and the server's asked delay."""
        headers = {**PART_HEADERS, **part.request_headers()}
        try:
            with self._http.stream(
                "GET", part.href, headers=headers, follow_redirects=True
            ) as response:
                decision = decide(part, response.status_code, response.headers)
                if decision.step is not Step.WRITE:
                    return decision.step, decision.server_delay
                with PartWriter(
                    part, decision.offset, check=CHECK_WHILE_WRITING, sync=self._sync
                ) as out:
                    for block in blocks(response):
                        self._check()
                        out.write(block)
                        self._report(part, out.written)
        except httpx.TransportError:
            return Step.RETRY, None
        size = part.item.size
        return (Step.COMPLETE, None) if size is None or part.have() >= size else (Step.RETRY, None)

# Generated from src/pond/client/async_client.py by scripts/unasync.py: do not edit.
# Change the async module, then run `python scripts/unasync.py`.
"""`Client`: the POND Snapshots API from Python.

    with Client() as pond:  # credentials from env or profile
        snapshot = pond.create("2019-03-13T18:00:00Z", "2019-03-28T18:00:00Z")
        snapshot = pond.wait(snapshot, timeout=3600)
        download = pond.download(snapshot, Path("out"), parallel=4)
        for row in download.iter_rows():
            ...

The sync and the async client have the same methods; the async client's are
awaited. Every method raises a `pond.client.errors.ClientError` subclass on
failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from pond.client import answers, protocol
from pond.client.auth import ClientCredentialsAuth, Token, cache_dir_for
from pond.client.backoff import Backoff, Deadline, next_delay, poll_delay
from pond.client.concurrency import sleep
from pond.client.config import ClientConfig, Secret, resolve
from pond.client.download import Downloader, LinkBook
from pond.client.errors import UsageError, WaitTimeout
from pond.client.follower import Follower
from pond.client.ledger import drop_superseded
from pond.client.listing import Tracker, Watch
from pond.client.models import Snapshot, SnapshotRef
from pond.client.parts import ProgressCallback, plan
from pond.client.protocol import USER_AGENT, Call
from pond.client.results import Download
from pond.client.wire import PartsHttp, default_transport


class Client:
    """A client of the API. Close it, or use `with`.

    One client may be shared: by the threads of a program (sync client), or
    by the tasks of one event loop (async client).
    Credentials and endpoints resolve as `pond.client.config.resolve` says,
    unless a whole `config` is given. `token_cache` keeps tokens on disk
    (True: the user's cache directory, or a directory of your choice).
    `fsync`: downloads sync each part to disk before renaming it into place, so
    a finished part survives a power cut too (slower: it waits for the disk).
    Raises `ConfigurationError` when no credentials can be found.
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        *,
        api_url: str | None = None,
        token_url: str | None = None,
        profile: str | None = None,
        config: ClientConfig | None = None,
        token_cache: bool | Path = False,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: Backoff | None = None,
        fsync: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config or resolve(
            client_id=client_id,
            client_secret=client_secret,
            api_url=api_url,
            token_url=token_url,
            profile=profile,
        )
        self._auth = ClientCredentialsAuth(self.config, cache_dir=cache_dir_for(token_cache))
        self._retries = retries
        self._fsync = fsync
        self._backoff = backoff or Backoff()
        self._extensions = protocol.Extensions.for_api(self.config.hosted)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": USER_AGENT},
            transport=transport or default_transport(),
        )
        self._parts = PartsHttp(self._http, chosen=transport is not None)

    def __repr__(self) -> str:
        return f"Client(api_url={self.config.api_url!r}, client_id={self.config.client_id!r})"

    def close(self) -> None:
        self._http.close()
        self._parts.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def token(self) -> Token:
        """A valid access token (from the cache, or fetched now)."""
        try:
            return self._auth.fetch(self._http)
        except httpx.TransportError as error:
            raise answers.unreachable(self.config.token_url, error) from None

    def _send(self, call: Call) -> httpx.Response:
        """Send `call` with the token, retrying transient failures with backoff."""
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.url,
                    data=call.data,
                    headers=call.headers,
                    auth=self._auth,
                    timeout=protocol.timeout_for(call, self._http.timeout),
                )
            except httpx.TransportError as error:
                if attempt >= self._retries or not protocol.retry_error(call, error):
                    raise answers.unreachable(call.url, error) from None
                delay = next_delay(self._backoff, attempt, None)
            else:
                pause = protocol.resend_delay(call, response, attempt, self._retries, self._backoff)
                if pause is None:
                    return response
                delay = pause
            attempt += 1
            sleep(delay)

    def _describe(self, href: str, wait: float | None = None) -> httpx.Response:
        """`GET href` with the extensions this server takes (details, and a long-poll `wait`)."""
        while True:
            extensions = self._extensions
            call = protocol.get_call(
                href,
                details=extensions.details,
                wait=wait if extensions.long_poll else None,
            )
            response = self._send(call)
            if not extensions.drop_rejected(call, response):
                return response

    def _href(self, snapshot: SnapshotRef) -> str:
        return protocol.snapshot_href(self.config.api_url, snapshot)

    def create(
        self,
        created_at_from: datetime | str,
        created_at_to: datetime | str,
        entity: str = "event",
        *,
        idempotency_key: str | None = None,
        **extra: str | int | float | bool,
    ) -> Snapshot:
        """Schedule a snapshot of `entity` rows created in `[created_at_from, created_at_to)`.

        Times must carry a zone (`UsageError` otherwise). `extra` form fields are
        passed through for server extensions. Raises `RequestRejected` for a
        range the server refuses, `AuthenticationFailed`, `ServiceUnavailable`.
        """
        call = protocol.create_call(
            self.config.api_url,
            created_at_from,
            created_at_to,
            entity,
            extra,
            idempotency_key or protocol.new_idempotency_key(),
        )
        return answers.read_created(self._send(call))

    def get(self, snapshot: SnapshotRef) -> Snapshot:
        """The snapshot as the server describes it now (links freshly signed when complete).

        `snapshot` is a `Snapshot`, an href or an id. Raises `SnapshotNotFound`,
        `SnapshotExpired`.
        """
        return answers.read_snapshot(self._describe(self._href(snapshot)))

    def iter_snapshots(
        self,
        *,
        state: str | Sequence[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Snapshot]:
        """The client's snapshots, newest first, page after page (following `next`).

        Filters: `state` (one or several of pending, running, complete, failed)
        and the creation time. Raises `NotOffered` when the server has no list,
        `RequestRejected` for a filter it refuses.
        """
        url: str | None = protocol.list_url(
            self.config.api_url,
            state=state,
            created_after=created_after,
            created_before=created_before,
            page_size=page_size,
        )
        while url is not None:
            snapshots, url = answers.read_page(self._send(protocol.list_call(url)))
            for snapshot in snapshots:
                yield snapshot

    def list(
        self,
        *,
        state: str | Sequence[str] | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
    ) -> list[Snapshot]:
        """At most `limit` (default: all) of the client's snapshots, newest first.

        Filters as `iter_snapshots`; `NotOffered` when the server has no list,
        `UsageError` for a negative `limit` (0 gives none, without a request).
        """
        if limit is not None and limit < 0:
            raise UsageError(
                f"a list holds at most `limit` snapshots, which cannot be {limit}",
                hint="give a limit of 0 or more, or none for all",
            )
        found: list[Snapshot] = []
        if limit == 0:
            return found
        for snapshot in self.iter_snapshots(
            state=state,
            created_after=created_after,
            created_before=created_before,
            page_size=limit,
        ):
            found.append(snapshot)
            if limit is not None and len(found) >= limit:
                break
        return found

    def delete(self, snapshot: SnapshotRef) -> None:
        """Delete a snapshot and its files, when the server offers it (`NotOffered` otherwise)."""
        answers.read_deleted(self._send(protocol.delete_call(self._href(snapshot))))

    def wait(
        self,
        snapshot: SnapshotRef,
        *,
        timeout: float | None = None,
        progress: Callable[[Snapshot], None] | None = None,
        backoff: Backoff | None = None,
        long_poll: bool | None = None,
    ) -> Snapshot:
        """Poll until the snapshot is complete, and return it (with fresh links).

        Polls back off exponentially with jitter and never come sooner than the
        server's `Retry-After`; `progress` gets every description polled.
        A server that offers it (any but the hosted service) is long-polled instead
        (`?wait=25`: it answers as soon as the snapshot finishes), unless `long_poll`
        is False; one that refuses `wait` is polled as above.
        Raises `SnapshotFailed`, `SnapshotExpired`, or `WaitTimeout` after `timeout` seconds.
        """
        deadline = Deadline(timeout)
        backoff = backoff or self._backoff
        href = self._href(snapshot)
        attempt = 0
        previous: str | None = None
        while True:
            asked = self._extensions.long_poll_seconds(deadline.remaining())
            if long_poll is False:
                asked = None
            started = time.monotonic()
            response = self._describe(href, asked)
            current = answers.read_snapshot(response)
            if progress is not None:
                progress(current)
            if answers.check_finished(current):
                return current
            held = protocol.long_poll_held(asked, time.monotonic() - started, previous, current)
            previous = current.state
            if held and self._extensions.long_poll and not deadline.expired:
                continue  # the server held the request until now: ask again at once
            delay = poll_delay(backoff, attempt, response.headers, deadline)
            if delay is None:
                raise WaitTimeout(
                    f"snapshot {current.id} is still {current.state} after {timeout:g}s",
                    hint=f"wait more with `pond snapshot wait {current.id}`",
                )
            sleep(delay)
            attempt += 1

    def download(
        self,
        snapshot: SnapshotRef,
        directory: Path,
        *,
        parallel: int = 4,
        progress: ProgressCallback | None = None,
        replace: bool = False,
    ) -> Download:
        """Download every part of a complete snapshot into `directory`, `parallel` at a time.

        Parts already there are kept, partial ones continue where they stopped.
        Each part is checked against its size and checksum (its row count where the
        server gives no checksum) before it is renamed into place. Raises
        `SnapshotNotReady` (wait first), `IntegrityError`, `LinkRefused`,
        `SnapshotExpired`, `ServiceUnavailable`, and `UsageError` when `directory`
        holds another snapshot (unless `replace`).
        """
        current = snapshot if isinstance(snapshot, Snapshot) else self.get(snapshot)
        parts = plan(current, directory, replace=replace)
        drop_superseded(directory, current, parts)
        downloader = Downloader(
            self._parts.client(),
            LinkBook(current, self.get),
            backoff=self._backoff,
            progress=progress,
            sync=self._fsync,
        )
        downloader.run(parts, parallel)
        return Download(current, directory, tuple(part.final for part in parts))

    def wait_and_download(
        self,
        snapshot: SnapshotRef,
        directory: Path,
        *,
        parallel: int = 4,
        timeout: float | None = None,
        waiting: Callable[[Snapshot], None] | None = None,
        progress: ProgressCallback | None = None,
        replace: bool = False,
    ) -> Download:
        """`wait` and `download` in one, each part fetched as soon as the server lists it
        finished (pond, asked for details; see `pond.client.follower`). `waiting` gets
        every description polled. Raises what `wait` and `download` raise."""
        href = self._href(snapshot)
        deadline = Deadline(timeout)

        def describe() -> Snapshot:
            return answers.read_snapshot(self._describe(href))

        def poll(seconds: float) -> Snapshot:
            # Held until a part finishes, the export ends, or `seconds` pass; answered at
            # once by a server that refused `wait` (the follower then pauses the rest).
            return answers.read_snapshot(self._describe(href, seconds))

        def rest() -> Snapshot:
            return self.wait(href, timeout=deadline.remaining(), progress=waiting)

        follower = Follower(
            self._parts.client(), self._backoff, fsync=self._fsync, parallel=parallel
        )
        return follower.run(
            describe,
            rest,
            Tracker(directory, replace=replace),
            Watch(waiting, progress, listed_early=self._extensions.details, deadline=deadline),
            poll,
        )

"""The client on pond's API extensions, against a real server: listing across pages,
long-poll, checksums, idempotent creation, delete and rate limits."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pond.client import (
    AsyncClient,
    IntegrityError,
    RequestRejected,
    ServiceUnavailable,
    Snapshot,
    SnapshotNotFound,
    WaitTimeout,
)
from pond.client.export import STATE_FILE, export, request_fields
from tests.integration.client.fixtures import END, FAST, START, Setup


class Recording(httpx.HTTPTransport):
    """The real transport, recording each API request and the status it got.

    `reject` answers 400 itself to GETs whose query holds one of its words,
    as a server without that extension would; `drop_posts` loses the answer
    to that many POSTs after the server has handled them.
    """

    def __init__(self, reject: tuple[str, ...] = (), drop_posts: int = 0) -> None:
        super().__init__()
        self.reject = reject
        self.drop_posts = drop_posts
        self.seen: list[tuple[str, httpx.URL, int, httpx.Headers]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        query = request.url.query.decode()
        if request.method == "GET" and any(f"{word}=" in query for word in self.reject):
            self.seen.append((request.method, request.url, 400, request.headers))
            body = {"error": "invalid_request", "error_description": f"unknown parameter {query}"}
            return httpx.Response(400, json=body, request=request)
        response = super().handle_request(request)
        if request.url.path != "/oauth2/token":
            self.seen.append((request.method, request.url, response.status_code, request.headers))
        if request.method == "POST" and self.drop_posts and request.url.path != "/oauth2/token":
            self.drop_posts -= 1
            response.read()
            response.close()
            raise httpx.ReadError("connection reset by peer (injected)", request=request)
        return response

    def gets(self, path_part: str = "/insights/snapshots") -> list[httpx.URL]:
        return [url for method, url, _, _ in self.seen if method == "GET" and path_part in url.path]


def test_list_follows_next_across_pages_with_filters(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(run_worker=False)
    transport = Recording()
    with setup.client(transport=transport) as pond:
        older = [pond.create(START, END) for _ in range(3)]
        time.sleep(0.05)
        middle = datetime.now(UTC)
        time.sleep(0.05)
        newer = [pond.create(START, END) for _ in range(2)]

        listed = list(pond.iter_snapshots(page_size=2))
        pages = [url for url in transport.gets() if url.path == "/insights/snapshots"]
        assert [s.href for s in listed] == [s.href for s in reversed(older + newer)]
        assert len(pages) == 3  # 2 + 2 + 1, following `next`
        assert all("cursor=" in str(url) for url in pages[1:])

        recent = pond.list(created_after=middle, limit=10)
        assert [s.href for s in recent] == [s.href for s in reversed(newer)]
        assert [s.href for s in pond.list(created_before=middle)] == [
            s.href for s in reversed(older)
        ]
        assert pond.list(state="pending", limit=4) == pond.list(limit=4)
        assert len(pond.list(state="pending", limit=4)) == 4
        assert pond.list(state=["complete", "failed"]) == []
        with pytest.raises(RequestRejected, match="state"):
            pond.list(state="finished")


def test_wait_long_polls_instead_of_sleeping(acme: Setup) -> None:
    acme.seed(1500)
    transport = Recording()
    with acme.client(transport=transport) as pond:
        created = pond.create(START, END)
        started = time.monotonic()
        done = pond.wait(created, timeout=60)
        elapsed = time.monotonic() - started
    polls = transport.gets(created.id)
    assert done.is_complete
    assert 1 <= len(polls) <= 3
    assert all("wait=25" in str(url) for url in polls)
    assert elapsed < 10


def test_a_long_poll_is_held_until_the_deadline(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(run_worker=False)  # stays pending
    transport = Recording()
    with setup.client(transport=transport) as pond:
        created = pond.create(START, END)
        started = time.monotonic()
        with pytest.raises(WaitTimeout):
            pond.wait(created, timeout=3.5)
    assert time.monotonic() - started >= 3
    polls = transport.gets(created.id)
    assert len(polls) <= 2  # a 3 s long-poll, then the rest too short to ask again
    assert "wait=3" in str(polls[0])


def test_a_server_without_long_poll_or_details_is_polled_plainly(acme: Setup) -> None:
    acme.seed(1500)
    transport = Recording(reject=("wait", "details"))
    with acme.client(transport=transport) as pond:
        done = pond.wait(pond.create(START, END), timeout=60)
        again = pond.get(done)
    assert done.is_complete
    assert "sha256" not in again.items[0].extra
    statuses = [status for method, _, status, _ in transport.seen if method == "GET"]
    assert statuses.count(400) == 2  # wait refused once, details refused once: then never sent
    later = [str(url) for url in transport.gets(done.id)][2:]
    assert later
    assert not any("wait=" in url or "details=" in url for url in later)


def test_checksums_are_verified_and_a_tampered_part_is_caught(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1500)
    with acme.client() as pond:
        snapshot = pond.wait(pond.create(START, END), timeout=60)
        assert all(len(item.extra["sha256"]) == 64 for item in snapshot.items)
        assert all("expires_at" in item.extra for item in snapshot.items)
        download = pond.download(snapshot, tmp_path / "good")
        assert download.rows == 1500

        # One digit changed in place: same size, same rows, another checksum.
        stored = acme.server.settings.objects_dir / snapshot.id / "event_001"
        data = bytearray(stored.read_bytes())
        header_end = data.index(b"\n") + 1
        at = next(i for i in range(header_end, len(data)) if chr(data[i]).isdigit())
        data[at] = ord("1") if data[at] != ord("1") else ord("2")
        stored.write_bytes(bytes(data))

        with pytest.raises(IntegrityError, match="sha256") as caught:
            pond.download(pond.get(snapshot), tmp_path / "bad")
    assert caught.value.exit_code == 6
    assert not (tmp_path / "bad" / "event_001.csv").exists()


def test_a_create_retried_after_a_lost_answer_makes_one_snapshot(acme: Setup) -> None:
    transport = Recording(drop_posts=1)
    with acme.client(transport=transport) as pond:
        created = pond.create(START, END)
        listed = pond.list()
    posts = [headers for method, _, _, headers in transport.seen if method == "POST"]
    assert len(posts) == 2
    assert posts[0]["idempotency-key"] == posts[1]["idempotency-key"]
    assert [s.href for s in listed] == [created.href]


def test_one_key_one_snapshot_and_a_reused_key_is_a_usage_error(acme: Setup) -> None:
    with acme.client() as pond:
        first = pond.create(START, END, idempotency_key="key-1")
        assert pond.create(START, END, idempotency_key="key-1").href == first.href
        assert pond.create(START, END).href != pond.create(START, END).href  # fresh keys
        with pytest.raises(RequestRejected, match="Idempotency-Key was already used") as caught:
            pond.create(START, datetime(2019, 3, 20, tzinfo=UTC), idempotency_key="key-1")
    assert caught.value.exit_code == 2


def test_export_reuses_the_recorded_key_after_a_crash(acme: Setup, tmp_path: Path) -> None:
    acme.seed(500)
    with acme.client() as pond:
        # A run that crashed after its POST reached the server, before it saved the href.
        first = pond.create(START, END, idempotency_key="recorded-key")
        state = {"version": 1, "request": request_fields(START, END, "event", {})}
        state["key"] = "recorded-key"
        (tmp_path / STATE_FILE).write_text(json.dumps(state))
        download = export(pond, tmp_path, START, END)
        listed = pond.list()
    assert download.snapshot.href == first.href
    assert [s.href for s in listed] == [first.href]
    assert json.loads((tmp_path / STATE_FILE).read_text())["key"] == "recorded-key"


def test_delete_then_not_found(acme: Setup) -> None:
    with acme.client() as pond:
        created = pond.create(START, END)
        pond.delete(created)
        with pytest.raises(SnapshotNotFound) as caught:
            pond.delete(created)
        assert caught.value.exit_code == 4
        assert pond.list() == []


def test_rate_limits_are_honoured(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(run_worker=False, rate_limit_per_minute=30)  # a token every 2 s
    transport = Recording()
    with setup.client(transport=transport) as pond:
        created = pond.create(START, END)
        for _ in range(29):
            pond.get(created)  # the bucket of 30 is now empty
        started = time.monotonic()
        assert pond.get(created).href == created.href
        waited = time.monotonic() - started
        limited = [status for _, _, status, _ in transport.seen].count(429)
        assert limited >= 1
        assert waited >= 1.5  # Retry-After: 2, not the 0.05 s backoff
    # The bucket is empty again (the retried GET took the token that came back).
    with setup.client(retries=0) as impatient, pytest.raises(ServiceUnavailable) as caught:
        impatient.get(created)
    assert caught.value.exit_code == 9
    assert "rate limiting" in caught.value.message
    assert "retry in" in (caught.value.hint or "")


def test_the_async_client_pages_long_polls_and_verifies(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1500)

    async def go() -> tuple[list[str], Snapshot, int]:
        async with AsyncClient(
            acme.client_id,
            acme.client_secret,
            api_url=acme.server.base_url,
            token_url=acme.server.token_url,
            backoff=FAST,
        ) as pond:
            first = await pond.create(START, END)
            second = await pond.create(START, END, idempotency_key="async-key")
            again = await pond.create(START, END, idempotency_key="async-key")
            assert again.href == second.href
            hrefs = [s.href async for s in pond.iter_snapshots(page_size=1)]
            assert hrefs == [second.href, first.href]
            done = await pond.wait(first, timeout=60)
            download = await pond.download(done, tmp_path)
            return hrefs, done, download.rows

    _, done, rows = asyncio.run(go())
    assert rows == 1500
    assert all(len(item.extra["sha256"]) == 64 for item in done.items)

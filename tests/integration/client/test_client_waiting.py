"""Waiting against a real server: Retry-After, timeouts, tokens that expire meanwhile."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pond.client import Backoff, Snapshot, SnapshotNotReady, WaitTimeout
from tests.integration.client.fixtures import END, START, Setup

EAGER = Backoff(initial=0.01, factor=1.5, maximum=0.05, jitter=0)


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting token requests."""

    def __init__(self) -> None:
        super().__init__()
        self.token_requests = 0
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/oauth2/token":
            self.token_requests += 1
        elif response.status_code == 401:
            self.refused += 1
        return response


def test_polls_never_come_sooner_than_retry_after(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(run_worker=False)  # the snapshot stays pending; the server says wait 1 s
    polls: list[float] = []
    with setup.client(backoff=EAGER) as pond:
        created = pond.create(START, END)
        with pytest.raises(WaitTimeout) as caught:
            pond.wait(
                created,
                timeout=3.5,
                progress=lambda _: polls.append(time.monotonic()),
                long_poll=False,  # plain polls, as against the hosted service
            )
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert 3 <= len(polls) <= 4
    assert min(gaps) >= 0.95
    assert caught.value.exit_code == 7
    assert created.id in caught.value.message


def test_a_pending_snapshot_cannot_be_downloaded(
    make_setup: Callable[..., Setup], tmp_path: Path
) -> None:
    setup = make_setup(run_worker=False)
    with setup.client() as pond:
        created = pond.create(START, END)
        with pytest.raises(SnapshotNotReady, match="pending, not complete"):
            pond.download(created, tmp_path)


def test_a_token_that_expires_during_a_long_wait_is_renewed(
    make_setup: Callable[..., Setup],
) -> None:
    api_only = make_setup(run_worker=False, token_ttl=2)  # tokens live 2 s
    api_only.seed(300)
    transport = CountingTransport()
    seen: list[Snapshot] = []

    def start_a_worker_later() -> None:
        time.sleep(5)
        make_setup(token_ttl=2)  # a second server on the same database runs the job

    helper = threading.Thread(target=start_a_worker_later)
    with api_only.client(transport=transport) as pond:
        created = pond.create(START, END)
        helper.start()
        # Plain polls: a long-poll would hold one request (and one token) for 25 s.
        snapshot = pond.wait(created, timeout=60, progress=seen.append, long_poll=False)
    helper.join()
    assert snapshot.is_complete
    assert snapshot.count == 300
    assert transport.token_requests >= 3  # the wait outlived at least two tokens
    assert transport.refused == 0  # each was replaced before it expired


def test_a_refused_token_is_replaced_once(acme: Setup, tmp_path: Path) -> None:
    transport = CountingTransport()
    cache = tmp_path / "tokens"
    with acme.client(token_cache=cache, transport=transport) as pond:
        pond.token()
    [cached] = list(cache.iterdir())
    data = json.loads(cached.read_text())
    data["access_token"] = "revoked-or-forged"  # still looks fresh to the client
    cached.write_text(json.dumps(data))
    with acme.client(token_cache=cache, transport=transport) as pond:
        created = pond.create(START, END)
    assert created.href
    assert transport.refused == 1
    assert transport.token_requests == 2

"""Parts of a running export, downloadable as soon as they are written.

The documented GET shows a running snapshot as one running item until it is
complete. With `?details=true` it lists, in order, the parts finished so far,
each with its signed link, size, count and SHA-256, then the running item.
A run that ends early takes its parts with it: the next run lists its own.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pond.events import seeding
from pond.exports import coordinator
from pond.exports import repository as exports
from pond.snapshots.changes import Mark
from pond.snapshots.dates import parse_instant
from pond.storage.local import LocalStore
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule
from tests.integration.test_openapi import check

Creds = Callable[[str], tuple[str, str]]


@pytest.fixture
def idle(start_server: Callable[..., RunningServer]) -> RunningServer:
    """No worker: the test runs the export itself."""
    return start_server(run_worker=False)


class GatedStore(LocalStore):
    """The server's own local store, but the third planned part waits for the test."""

    def __init__(self, root: Path, signer: Any) -> None:
        super().__init__(root, signer)
        self.reached = threading.Event()
        self.go = threading.Event()

    def stage(self, key: str):  # type: ignore[no-untyped-def]
        if key.rsplit("/", 1)[1].startswith("event_p") and key.endswith("_2_0"):
            self.reached.set()
            assert self.go.wait(30)
        return super().stage(key)


def start(server: RunningServer, creds: Creds, rows: int) -> tuple[str, str, GatedStore]:
    token_answer = httpx.post(
        server.token_url, auth=creds("acme"), data={"grant_type": "client_credentials"}
    )
    token = str(token_answer.json()["access_token"])
    seeding.seed(
        server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=rows,
    )
    href = str(schedule(server.base_url, token).json()["snapshot"]["href"])
    state: Any = server.app.state.pond
    return token, href, GatedStore(state.store.root, state.signer)


def export_in_thread(server: RunningServer, store: LocalStore, href: str) -> threading.Thread:
    sid = uuid.UUID(href.rsplit("/", 1)[1])
    thread = threading.Thread(
        target=coordinator.run, args=(server.conninfo, store, sid), kwargs={"max_rows": 300}
    )
    thread.start()
    return thread


def test_finished_parts_are_listed_with_details_while_the_plain_answer_stays_documented(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token, href, store = start(idle, client_credentials, 700)
    thread = export_in_thread(idle, store, href)
    try:
        assert store.reached.wait(30)
        plain = httpx.get(href, headers=bearer(token))
        assert plain.json() == {
            "href": href,
            "items": [
                {
                    "href": None,
                    "size": None,
                    "count": None,
                    "state": "running",
                    "query": {"entity": "event", "created_at": [FROM, TO]},
                }
            ],
        }
        detailed = httpx.get(href, params={"details": "true"}, headers=bearer(token))
        spec = httpx.get(f"{idle.base_url}/openapi.json").json()
        check(spec, "/insights/snapshots/{snapshot_id}", "get", detailed)
        items = detailed.json()["items"]
        assert [item["state"] for item in items] == ["complete", "complete", "running"]
        running = items[-1]
        assert running["href"] is None
        assert running["run"] == 1
        seen: dict[str, bytes] = {}
        for number, item in enumerate(items[:2]):
            assert item["run"] == 1
            assert item["count"] == 300
            body = httpx.get(item["href"]).content  # the link needs no token
            assert len(body) == item["size"]
            assert hashlib.sha256(body).hexdigest() == item["sha256"]
            assert len(list(csv.DictReader(io.StringIO(body.decode())))) == 300
            name = httpx.URL(item["href"]).path.rsplit("/", 1)[1]
            assert name == f"event_{number:03d}"
            seen[name] = body
    finally:
        store.go.set()
        thread.join(30)
    final = httpx.get(href, params={"details": "true"}, headers=bearer(token)).json()["items"]
    assert [(item["state"], item["count"]) for item in final] == [
        ("complete", 300),
        ("complete", 300),
        ("complete", 100),
    ]
    for item in final[:2]:  # the parts listed early are the parts of the end
        name = httpx.URL(item["href"]).path.rsplit("/", 1)[1]
        assert httpx.get(item["href"]).content == seen[name]


def test_a_run_that_ends_early_takes_its_listed_parts_with_it(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token, href, store = start(idle, client_credentials, 700)
    sid = uuid.UUID(href.rsplit("/", 1)[1])
    thread = export_in_thread(idle, store, href)
    try:
        assert store.reached.wait(30)
        listed = httpx.get(href, params={"details": "true"}, headers=bearer(token)).json()
        assert len(listed["items"]) == 3
        # Another worker takes the snapshot over, as after this one was thought dead.
        with psycopg.connect(idle.conninfo) as conn:
            assert exports.claim(conn, sid) is not None
        items = httpx.get(href, params={"details": "true"}, headers=bearer(token)).json()["items"]
        assert [(item["state"], item["run"]) for item in items] == [("running", 2)]
    finally:
        store.go.set()
        thread.join(30)
    state: Any = idle.app.state.pond
    outcome = coordinator.run(idle.conninfo, state.store, sid, max_rows=300)
    assert outcome.published
    items = httpx.get(href, params={"details": "true"}, headers=bearer(token)).json()["items"]
    assert [(item["state"], item["run"]) for item in items] == [("complete", 3)] * 3
    assert sum(item["count"] for item in items) == 700
    # Only the last run's parts remain in storage.
    assert sorted(p.name for p in (state.store.root / str(sid)).iterdir()) == [
        "event_000",
        "event_001",
        "event_002",
    ]


class TwoGates(LocalStore):
    """The server's local store, but the second and the third planned parts each wait."""

    def __init__(self, root: Path, signer: Any) -> None:
        super().__init__(root, signer)
        self.reached = {part: threading.Event() for part in (1, 2)}
        self.go = {part: threading.Event() for part in (1, 2)}

    def stage(self, key: str):  # type: ignore[no-untyped-def]
        name = key.rsplit("/", 1)[1]
        for part in self.reached:
            if name.startswith("event_p") and name.endswith(f"_{part}_0"):
                self.reached[part].set()
                assert self.go[part].wait(30)
        return super().stage(key)


def test_a_long_poll_with_details_answers_when_a_part_is_listed_or_another_run_starts(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token, href, gated = start(idle, client_credentials, 700)
    state: Any = idle.app.state.pond
    store = TwoGates(gated.root, state.signer)
    sid = uuid.UUID(href.rsplit("/", 1)[1])

    def long_poll(details: bool) -> list[tuple[str, int]]:
        params = {"wait": "30", **({"details": "true"} if details else {})}
        answer = httpx.get(href, params=params, headers=bearer(token), timeout=40)
        assert answer.status_code == 200, answer.text
        return [(item["state"], item.get("run", 0)) for item in answer.json()["items"]]

    def waiting(*marks: Mark) -> None:
        """Until requests have read the snapshot as `marks` say, and wait for news."""
        deadline = time.monotonic() + 30
        while not all(mark in state.changes.seen(sid) for mark in marks):
            assert time.monotonic() < deadline, state.changes.seen(sid)
            time.sleep(0.02)

    thread = export_in_thread(idle, store, href)
    try:
        with ThreadPoolExecutor(2) as pool:
            assert store.reached[1].wait(30)  # event_000 listed, event_001 on its way
            plain = pool.submit(long_poll, False)
            listed = pool.submit(long_poll, True)
            waiting(Mark("running"), Mark("running", 1, 1))
            store.go[1].set()
            # event_001 listed: the details answer comes (long before its 30 s are over),
            # the plain one waits on.
            assert listed.result(20) == [("complete", 1), ("complete", 1), ("running", 1)]
            assert store.reached[2].wait(30)
            assert not plain.done()

            # Another worker takes the snapshot over: its listing starts again.
            listed = pool.submit(long_poll, True)
            waiting(Mark("running", 1, 2))
            with psycopg.connect(idle.conninfo) as conn:
                assert exports.claim(conn, sid) is not None
            assert listed.result(20) == [("running", 2)]
            assert not plain.done()
            # The snapshot ends (here it fails): the plain answer comes.
            with psycopg.connect(idle.conninfo) as conn:
                exports.fail(conn, sid, "the test ended it")
            assert plain.result(40) == [("failed", 0)]
    finally:
        for go in store.go.values():
            go.set()
        thread.join(30)

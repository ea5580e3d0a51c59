"""Parts downloaded while the export still runs: the client fetches each one as soon as the
server lists it (`?details=true`), and the documented GET says nothing of them until the end."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pond.client import AsyncClient, Download, Snapshot, listing
from pond.storage.local import LocalStore
from tests.integration.client.fixtures import END, FAST, START, Setup

PARTS = 6  # 6000 rows, parts of at most 1000: one planned range each
GATED_FROM = 2  # the first planned range whose part waits (run 1 only)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The local store holds back run 1's parts from planned range `GATED_FROM` on, until set.

    So the first parts are published (and downloadable) while the snapshot still runs.
    """
    release = threading.Event()
    stage = LocalStore.stage

    def gated(store: LocalStore, key: str) -> Any:
        planned = re.search(r"/event_p1_(\d+)_", key)
        if planned and int(planned.group(1)) >= GATED_FROM:
            assert release.wait(60), "the test never released the export"
        return stage(store, key)

    monkeypatch.setattr(LocalStore, "stage", gated)
    yield release
    release.set()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ids_in(files: tuple[Path, ...]) -> list[int]:
    ids: list[int] = []
    for path in files:
        with path.open(newline="") as stream:
            ids.extend(int(row["id"]) for row in csv.DictReader(stream))
    return ids


def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def in_background(work: Callable[[], Download]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["download"] = work()
        except BaseException as error:  # handed to the test, which fails with it
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def following(
    flavour: str,
    setup: Setup,
    pond: Any,
    snapshot: Snapshot,
    out: Path,
    waiting: Callable[[Snapshot], None] | None = None,
) -> Callable[[], Download]:
    """`wait_and_download` of `snapshot` into `out`, by the sync client `pond` or by an
    async client of the same credentials (`flavour`), to run in the background."""
    if flavour == "sync":
        return lambda: pond.wait_and_download(snapshot, out, waiting=waiting)

    async def follow() -> Download:
        async with AsyncClient(
            setup.client_id,
            setup.client_secret,
            api_url=setup.server.base_url,
            token_url=setup.server.token_url,
            backoff=FAST,
        ) as client:
            return await client.wait_and_download(snapshot, out, waiting=waiting)

    return lambda: asyncio.run(follow())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_finished_parts_are_on_disk_and_verified_while_the_export_runs(
    make_setup: Callable[..., Setup], gate: threading.Event, tmp_path: Path, flavour: str
) -> None:
    setup = make_setup(part_max_rows=1000)
    setup.seed(PARTS * 1000)
    out = tmp_path / "out"
    polled: list[Snapshot] = []
    with setup.client() as pond:
        snapshot = pond.create(START, END)
        token = pond.token().access_token
        work = following(flavour, setup, pond, snapshot, out, waiting=polled.append)
        thread, outcome = in_background(work)
        try:
            early = [out / f"event_{n:03d}.csv" for n in range(GATED_FROM)]
            until(lambda: all(path.exists() for path in early), "the first parts never arrived")

            # The export is still running: the documented GET shows one running item, as
            # the seed's pending one, and nothing of the parts.
            plain = httpx.get(snapshot.href, headers={"Authorization": f"Bearer {token}"})
            assert plain.json() == {
                "href": snapshot.href,
                "items": [
                    {
                        "href": None,
                        "size": None,
                        "count": None,
                        "state": "running",
                        "query": {
                            "entity": "event",
                            "created_at": ["2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"],
                        },
                    }
                ],
            }
            assert list(plain.json()["items"][0]) == ["href", "size", "count", "state", "query"]
            # Each part on disk is the one listed, checked before it was renamed into place.
            listed = pond.get(snapshot).items
            assert [i.state for i in listed] == [*["complete"] * GATED_FROM, "running"]
            for path, item in zip(early, listed, strict=False):
                assert sha256(path) == item.extra["sha256"]
            assert not (out / f"event_{GATED_FROM:03d}.csv").exists()
            assert not outcome  # still following: neither a download nor an error yet
        finally:
            gate.set()
            thread.join(60)
    assert "error" not in outcome, outcome.get("error")
    download: Download = outcome["download"]
    assert [p.name for p in download.files] == [f"event_{n:03d}.csv" for n in range(PARTS)]
    assert sorted(ids_in(download.files)) == list(range(1, PARTS * 1000 + 1))
    assert sorted(p.name for p in out.glob("event_*")) == [p.name for p in download.files]
    assert download.snapshot.is_complete
    running = [s for s in polled if s.state == "running"]
    assert any(sum(i.state == "complete" for i in s.items) == GATED_FROM for s in running)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_end_of_the_export_is_seen_as_it_happens(
    make_setup: Callable[..., Setup],
    gate: threading.Event,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flavour: str,
) -> None:
    """Each poll is held by the server until the export finishes: with polls 30 s apart,
    the client still has every part moments after the last one is written."""
    monkeypatch.setattr(listing, "POLL_INTERVAL", 30.0)
    setup = make_setup(part_max_rows=1000)
    setup.seed(PARTS * 1000)
    out = tmp_path / "out"
    with setup.client() as pond:
        snapshot = pond.create(START, END)
        work = following(flavour, setup, pond, snapshot, out)
        thread, outcome = in_background(work)
        try:
            early = [out / f"event_{n:03d}.csv" for n in range(GATED_FROM)]
            until(lambda: all(path.exists() for path in early), "the first parts never arrived")
        finally:
            gate.set()
            released = time.monotonic()
            thread.join(60)
        took = time.monotonic() - released
    assert "error" not in outcome, outcome.get("error")
    download: Download = outcome["download"]
    assert [p.name for p in download.files] == [f"event_{n:03d}.csv" for n in range(PARTS)]
    assert download.snapshot.is_complete
    assert took < 20, f"the client saw the end {took:.1f} s after the export was let go"

"""Following a running snapshot, without the network: what each listing makes the client do
with the files in its directory, so that it never ends with parts of two runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pond.client import ClientError, Snapshot
from pond.client.ledger import LEDGER, drop_superseded
from pond.client.listing import Tracker, run_of, shows_parts_early, visible_items
from pond.client.parts import plan

HREF = "https://pond.example/insights/snapshots/s1"
QUERY = {"entity": "event", "created_at": ["2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"]}


def body(n: int) -> bytes:
    return b"id,created_at\n" + b"".join(b"%d,run\n" % (n * 10 + i) for i in range(3))


def part(name: str, data: bytes, run: int = 1) -> dict[str, Any]:
    return {
        "href": f"https://pond.example/objects/s1/{name}?Signature=x",
        "size": len(data),
        "count": 3,
        "state": "complete",
        "query": QUERY,
        "sha256": hashlib.sha256(data).hexdigest(),
        "run": run,
    }


def running(*parts: dict[str, Any], run: int = 1) -> Snapshot:
    tail = {"href": None, "size": None, "count": None, "state": "running", "query": QUERY}
    return Snapshot.from_wire({"href": HREF, "items": [*parts, {**tail, "run": run}]})


def complete(*parts: dict[str, Any]) -> Snapshot:
    return Snapshot.from_wire({"href": HREF, "items": list(parts)})


def fetched(tracker: Tracker, name: str, data: bytes, wanted: str) -> None:
    """What a fetch leaves: the ledger's entry, then the verified file."""
    tracker.ledger.record(f"{name}.csv", wanted)
    (tracker.directory / f"{name}.csv").write_bytes(data)


def test_a_running_listing_shows_its_finished_parts_and_run() -> None:
    snapshot = running(part("event_000", body(0), 3), part("event_001", body(1), 3), run=3)
    assert [item.name for item in visible_items(snapshot)] == ["event_000", "event_001"]
    assert run_of(snapshot) == 3
    assert shows_parts_early(snapshot) is True
    pending = Snapshot.from_wire(
        {"href": HREF, "items": [{"href": None, "state": "pending", "query": QUERY}]}
    )
    assert shows_parts_early(pending) is None
    plain = Snapshot.from_wire(
        {"href": HREF, "items": [{"href": None, "state": "running", "query": QUERY}]}
    )
    assert shows_parts_early(plain) is False  # a server that lists parts only at the end


def test_a_listed_part_is_fetched_once(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path)
    listing = tracker.read(running(part("event_000", body(0))))
    [first] = tracker.to_start(listing, ())
    assert first.name == "event_000"
    assert tracker.to_start(listing, {"event_000"}) == []  # being fetched
    fetched(tracker, "event_000", body(0), listing.wanted["event_000"])
    again = tracker.read(running(part("event_000", body(0)), part("event_001", body(1))))
    assert [p.name for p in tracker.to_start(again, ())] == ["event_001"]


def test_a_rerun_cancels_old_fetches_and_replaces_old_files(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path)
    old = tracker.read(running(part("event_000", body(0)), part("event_001", body(1))))
    fetched(tracker, "event_000", body(0), old.wanted["event_000"])
    fetching = {"event_001": old.wanted["event_001"], "event_002": "sha256:" + "0" * 64}

    # Same run, a part not listed yet: a fetch of it may go on.
    assert tracker.to_cancel(old, fetching) == []
    # The export started over: its new event_000 holds other rows; nothing of run 1 goes on.
    new = tracker.read(running(part("event_000", body(7), run=2), run=2))
    assert new.strict
    assert sorted(tracker.to_cancel(new, fetching)) == ["event_001", "event_002"]
    [replacement] = tracker.to_start(new, ())
    tracker.prepare(replacement, new.wanted["event_000"])
    assert not (tmp_path / "event_000.csv").exists()  # run 1's file is gone before the fetch


def test_the_final_listing_keeps_only_its_own_parts(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path)
    old = tracker.read(running(*(part(f"event_00{n}", body(n)) for n in range(3))))
    for n in range(3):
        fetched(tracker, f"event_00{n}", body(n), old.wanted[f"event_00{n}"])
    final = tracker.read(complete(part("event_000", body(0), run=2), part("event_001", body(9))))
    # event_000 is the same in both runs: kept; event_001 changed: fetched again.
    assert [p.name for p in tracker.to_start(final, ())] == ["event_001"]
    with pytest.raises(ClientError, match="event_001"):
        tracker.settle(final)
    fetched(tracker, "event_001", body(9), final.wanted["event_001"])
    download = tracker.settle(final)
    assert [p.name for p in download.files] == ["event_000.csv", "event_001.csv"]
    assert sorted(p.name for p in tmp_path.glob("event_*")) == ["event_000.csv", "event_001.csv"]


def test_a_file_the_ledger_does_not_know_is_kept_only_if_it_is_the_listed_part(
    tmp_path: Path,
) -> None:
    (tmp_path / "event_000.csv").write_bytes(body(0))
    (tmp_path / "event_001.csv").write_bytes(body(5))  # same size, other bytes
    tracker = Tracker(tmp_path, replace=True)
    listing = tracker.read(complete(part("event_000", body(0)), part("event_001", body(1))))
    for each in listing.parts:
        tracker.prepare(each, listing.wanted[each.name])
    assert (tmp_path / "event_000.csv").read_bytes() == body(0)
    assert not (tmp_path / "event_001.csv").exists()
    assert [p.name for p in tracker.to_start(listing, ())] == ["event_001"]


def test_a_plain_download_drops_what_the_ledger_says_is_another_version(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path)
    old = tracker.read(running(part("event_000", body(0)), part("event_001", body(1))))
    for n in range(2):
        fetched(tracker, f"event_00{n}", body(n), old.wanted[f"event_00{n}"])
    final = complete(part("event_000", body(3), run=2))
    drop_superseded(tmp_path, final, plan(final, tmp_path))
    assert not list(tmp_path.glob("event_*"))
    assert json.loads((tmp_path / LEDGER).read_text())["files"] == {}

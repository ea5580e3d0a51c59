"""Typed snapshots and items mirror the wire JSON."""

from __future__ import annotations

from typing import Any

import pytest

from pond.client.models import Item, Snapshot

HREF = "https://api.sgipond.com/insights/snapshots/c5e99fed-e2d4-471f-88f7-123456789"
QUERY = {"entity": "event", "created_at": ["2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"]}


def pending() -> dict[str, Any]:
    item = {"href": None, "size": None, "count": None, "state": "pending", "query": QUERY}
    return {"href": HREF, "items": [item]}


def complete(parts: int = 1) -> dict[str, Any]:
    items = [
        {
            "href": f"https://exports.example/c5e99fed/event_{n:03d}?AWSAccessKeyId=X&Signature=Y",
            "size": 100 + n,
            "count": 10 + n,
            "state": "complete",
            "query": QUERY,
        }
        for n in range(parts)
    ]
    return {"href": HREF, "items": items}


def test_the_documented_pending_answer() -> None:
    snapshot = Snapshot.from_wire(pending())
    assert snapshot.id == "c5e99fed-e2d4-471f-88f7-123456789"
    assert snapshot.state == "pending"
    assert not snapshot.is_complete
    assert snapshot.size is None
    assert snapshot.count is None
    assert snapshot.query is not None
    assert snapshot.query.created_at_from == "2019-03-13T18:00:00.000Z"
    assert snapshot.items[0].name is None


def test_the_documented_complete_answer() -> None:
    snapshot = Snapshot.from_wire(complete(3))
    assert snapshot.is_complete
    assert [item.name for item in snapshot.items] == ["event_000", "event_001", "event_002"]
    assert snapshot.size == 303
    assert snapshot.count == 33


def test_round_trip_keeps_unknown_fields() -> None:
    wire = complete()
    wire["items"][0]["sha256"] = "ab" * 32
    wire["webhook"] = "https://example.test/hook"
    snapshot = Snapshot.from_wire(wire)
    assert snapshot.items[0].extra == {"sha256": "ab" * 32}
    assert snapshot.to_wire() == wire


def test_failed_items_fail_the_snapshot_and_keep_their_reason() -> None:
    wire = pending()
    wire["items"][0].update(state="failed", reason="the export failed")
    snapshot = Snapshot.from_wire(wire)
    assert snapshot.state == "failed"
    assert snapshot.failure_reason == "the export failed"


def test_mixed_states_are_running() -> None:
    wire = complete(2)
    wire["items"][1].update(state="running", href=None)
    assert Snapshot.from_wire(wire).state == "running"


@pytest.mark.parametrize(
    "href",
    [
        "https://x.example/objects/s/..",
        "https://x.example/objects/s/",
        "https://x.example/objects/s/%2e%2e%2fetc",
        "https://x.example/objects/s/a%2Fb",
    ],
)
def test_link_names_that_are_not_safe_file_names_are_ignored(href: str) -> None:
    item = Item.from_wire({"href": href, "size": 1, "count": 0, "state": "complete"})
    assert item.name is None


@pytest.mark.parametrize(
    "wire",
    [
        [],
        {"items": []},
        {"href": HREF},
        {"href": HREF, "items": [{"size": -1}]},
        {"href": HREF, "items": [{"count": "ten"}]},
        {"href": HREF, "items": [{"query": {"created_at": ["x"]}}]},
    ],
)
def test_malformed_answers_are_refused(wire: Any) -> None:
    with pytest.raises(ValueError, match="must"):
        Snapshot.from_wire(wire)

"""The wire object of a snapshot: documented keys always, pond's extras on request."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pond.downloads.signing import LinkSigner
from pond.snapshots.records import PartRecord, SnapshotRecord
from pond.snapshots.service import render
from pond.storage.local import LocalStore


def running(rows: int | None) -> SnapshotRecord:
    now = datetime.now(UTC)
    return SnapshotRecord(
        id=uuid.uuid4(),
        org_id=1,
        client_id="c",
        entity="event",
        created_at_from=now - timedelta(days=1),
        created_at_to=now,
        state="running",
        reason=None,
        created_at=now,
        expires_at=now + timedelta(days=7),
        deleted_at=None,
        rows_exported=rows,
    )


def test_progress_shows_only_with_details(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, LinkSigner("k", b"s" * 32))
    record = running(1234)
    plain = render(record, [], base_url="http://h", store=store, link_ttl=60)
    [item] = plain["items"]
    assert list(item) == ["href", "size", "count", "state", "query"]
    detailed = render(record, [], base_url="http://h", store=store, link_ttl=60, details=True)
    assert detailed["items"][0]["rows_exported"] == 1234
    fresh = render(running(None), [], base_url="http://h", store=store, link_ttl=60, details=True)
    assert fresh["items"][0]["rows_exported"] == 0


def test_a_failed_part_is_listed_beside_the_complete_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, LinkSigner("k", b"s" * 32))
    record = dataclasses.replace(running(None), state="failed", reason="1 of 2 parts failed")
    parts = [
        PartRecord(0, "event_000", 10, 2, "ab" * 32),
        PartRecord(1, "event_001", None, None, None, "failed", "event_001: OSError: disk full"),
    ]
    body = render(record, parts, base_url="http://h", store=store, link_ttl=60)
    good, bad = body["items"]
    assert good["state"] == "complete"
    assert good["href"].startswith(f"http://h/objects/{record.id}/event_000?")
    assert (good["size"], good["count"]) == (10, 2)
    assert bad == {
        "href": None,
        "size": None,
        "count": None,
        "state": "failed",
        "query": good["query"],
        "reason": "event_001: OSError: disk full",
    }
    # A snapshot that failed before any part was published is one failed item.
    [only] = render(record, [], base_url="http://h", store=store, link_ttl=60)["items"]
    assert (only["state"], only["reason"]) == ("failed", "1 of 2 parts failed")

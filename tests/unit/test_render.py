"""The wire object of a snapshot: documented keys always, pond's extras on request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pond.downloads.signing import LinkSigner
from pond.snapshots.repository import SnapshotRecord
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

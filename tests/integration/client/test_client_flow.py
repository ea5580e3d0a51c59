"""The SDK against a real server: schedule, wait, download, verify, read rows."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from pond.client import (
    AsyncClient,
    AuthenticationFailed,
    RequestRejected,
    SnapshotNotFound,
    UsageError,
)
from tests.integration.client.fixtures import END, FAST, START, Setup


def test_create_wait_download_and_read_every_row(acme: Setup, tmp_path: Path) -> None:
    acme.seed(3500)
    with acme.client() as pond:
        created = pond.create(START, END)
        assert created.state in ("pending", "running")
        snapshot = pond.wait(created, timeout=60)
        assert len(snapshot.items) == 4
        assert snapshot.count == 3500
        download = pond.download(snapshot, tmp_path, parallel=3)
    names = [path.name for path in download.files]
    assert names == ["event_000.csv", "event_001.csv", "event_002.csv", "event_003.csv"]
    sizes = [path.stat().st_size for path in download.files]
    assert sizes == [item.size for item in snapshot.items]
    assert not list(tmp_path.glob("*.part"))
    ids = [int(row["id"]) for row in download.iter_rows()]
    assert len(ids) == len(set(ids)) == 3500
    merged = download.merge(tmp_path / "all.csv")
    with merged.open(newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0][0] == "id"
    assert len(rows) == 3501
    assert sum(1 for row in rows if row == rows[0]) == 1


def test_a_second_download_fetches_nothing(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1500)
    with acme.client() as pond:
        snapshot = pond.wait(pond.create(START, END), timeout=60)
        pond.download(snapshot, tmp_path)
        before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.csv")}
        events = []
        pond.download(snapshot, tmp_path, progress=events.append)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.csv")} == before
    assert all(event.finished for event in events)


def test_another_snapshot_is_not_mixed_into_a_directory(acme: Setup, tmp_path: Path) -> None:
    acme.seed(100)
    with acme.client() as pond:
        first = pond.wait(pond.create(START, END), timeout=60)
        second = pond.wait(pond.create(START, END), timeout=60)
        pond.download(first, tmp_path)
        with pytest.raises(UsageError, match="another snapshot"):
            pond.download(second, tmp_path)


def test_the_async_client_does_the_same(acme: Setup, tmp_path: Path) -> None:
    acme.seed(2500)

    async def go() -> int:
        async with AsyncClient(
            acme.client_id,
            acme.client_secret,
            api_url=acme.server.base_url,
            token_url=acme.server.token_url,
            backoff=FAST,
        ) as pond:
            token = await pond.token()
            assert token.access_token
            snapshot = await pond.wait(await pond.create(START, END), timeout=60)
            download = await pond.download(snapshot, tmp_path, parallel=2)
            return sum(1 for _ in download.iter_rows())

    assert asyncio.run(go()) == 2500
    assert len(list(tmp_path.glob("event_*.csv"))) == 3


def test_get_by_id_and_errors_a_user_can_act_on(acme: Setup) -> None:
    with acme.client() as pond:
        created = pond.create(START, END, entity="event")
        assert pond.get(created.id).href == created.href
        with pytest.raises(SnapshotNotFound):
            pond.get("00000000-0000-0000-0000-000000000000")
        with pytest.raises(RequestRejected, match="entity"):
            pond.create(START, END, entity="no_such_entity")
        assert created.href in [s.href for s in pond.list()]
        pond.delete(created)
        with pytest.raises(SnapshotNotFound):
            pond.get(created.id)


def test_wrong_credentials_are_refused(acme: Setup) -> None:
    bad = Setup(acme.server, acme.client_id, "not-the-secret")
    with bad.client() as pond, pytest.raises(AuthenticationFailed, match="refused"):
        pond.create(START, END)

"""The same scenarios against the sync and the async client, on a real server.

`Client` is generated from `AsyncClient` (scripts/unasync.py), over threads
where the async client has tasks; each scenario here runs against both
(`connect`, parametrised), so that they behave alike where a user meets them.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pond.api.app import create_app
from pond.client import (
    AuthenticationFailed,
    PartProgress,
    RequestRejected,
    SnapshotExpired,
    SnapshotNotFound,
    SnapshotNotReady,
    UsageError,
    WaitTimeout,
)
from pond.db.migrate import upgrade
from pond.settings import Settings
from tests.conftest import RunningServer, _ThreadedServer, free_port
from tests.integration.client.fixtures import END, START, Setup
from tests.integration.client.flavours import Counts
from tests.integration.client.proxy import FaultyProxy

Connect = Callable[..., Any]


def ids_in(files: tuple[Path, ...]) -> list[int]:
    ids: list[int] = []
    for path in files:
        with path.open(newline="") as stream:
            ids.extend(int(row["id"]) for row in csv.DictReader(stream))
    return ids


def test_create_get_list_wait_download_delete(
    acme: Setup, connect: Connect, tmp_path: Path
) -> None:
    acme.seed(2500)
    pond = connect(acme)
    created = pond.create(START, END)
    assert created.state in ("pending", "running")
    assert pond.get(created.id).href == created.href
    snapshot = pond.wait(created, timeout=60)
    assert snapshot.is_complete
    assert (snapshot.count, len(snapshot.items)) == (2500, 3)

    newer = pond.create(START, END)
    assert [s.href for s in pond.list()] == [newer.href, created.href]  # newest first
    assert [s.href for s in pond.list(limit=1)] == [newer.href]
    assert [s.href for s in pond.iter_snapshots(page_size=1)] == [newer.href, created.href]
    assert pond.list(limit=0) == []
    with pytest.raises(UsageError, match="cannot be -1") as caught:
        pond.list(limit=-1)
    assert caught.value.exit_code == 2

    events: list[PartProgress] = []
    download = pond.download(snapshot, tmp_path, parallel=2, progress=events.append)
    assert [p.name for p in download.files] == ["event_000.csv", "event_001.csv", "event_002.csv"]
    assert [p.stat().st_size for p in download.files] == [i.size for i in snapshot.items]
    ids = ids_in(download.files)
    assert len(ids) == len(set(ids)) == 2500
    assert {e.name for e in events if e.finished} == {"event_000", "event_001", "event_002"}
    assert not list(tmp_path.glob("*.part"))

    pond.delete(created)
    with pytest.raises(SnapshotNotFound):
        pond.get(created.id)
    assert [s.href for s in pond.list()] == [newer.href]


def test_wait_and_download_brings_every_part(acme: Setup, connect: Connect, tmp_path: Path) -> None:
    acme.seed(2500)
    pond = connect(acme)
    created = pond.create(START, END)
    polled: list[str] = []
    download = pond.wait_and_download(
        created.id, tmp_path, parallel=2, timeout=60, waiting=lambda s: polled.append(s.state)
    )
    assert download.snapshot.is_complete
    assert polled[-1] == "complete"
    assert len(download.files) == 3
    ids = ids_in(download.files)
    assert len(ids) == len(set(ids)) == 2500


@pytest.fixture
def other_service(
    empty_database: Callable[[], str], make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[RunningServer]:
    """A second pond service: its own database, so its own token keys."""
    database = empty_database()
    upgrade(database)
    settings = make_settings(database_url=database, data_dir=tmp_path / "other")
    app, port = create_app(settings, database, run_worker=False), free_port()
    server = _ThreadedServer(app, port)
    server.start()
    yield RunningServer(f"http://127.0.0.1:{port}", settings, database, app)
    server.stop()


def test_errors_a_user_can_act_on(
    acme: Setup, other_service: RunningServer, connect: Connect, tmp_path: Path
) -> None:
    with pytest.raises(AuthenticationFailed, match="refused the credentials") as refused:
        connect(acme, secret="not-the-secret").create(START, END)
    assert (refused.value.status, refused.value.exit_code) == (400, 3)  # Cognito's invalid_client
    astray = connect(acme, api_url=other_service.base_url)  # tokens of one service, API of another
    with pytest.raises(AuthenticationFailed, match="refused the access token") as unknown:
        astray.list()
    assert (unknown.value.status, unknown.value.exit_code) == (401, 3)

    pond = connect(acme)
    with pytest.raises(RequestRejected, match="entity") as rejected:
        pond.create(START, END, entity="no_such_entity")
    assert rejected.value.status == 400
    with pytest.raises(SnapshotNotFound) as missing:
        pond.get("00000000-0000-0000-0000-000000000000")
    assert (missing.value.status, missing.value.exit_code) == (404, 4)

    created = pond.create(START, END)
    with psycopg.connect(acme.server.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE snapshots SET expires_at = now() - interval '1 second' WHERE id = %s",
            (created.id,),
        )
    with pytest.raises(SnapshotExpired) as expired:
        pond.get(created)
    assert (expired.value.status, expired.value.exit_code) == (410, 5)
    with pytest.raises(SnapshotExpired):
        pond.wait(created, timeout=10)
    with pytest.raises(SnapshotExpired):
        pond.download(created.id, tmp_path)


def test_a_snapshot_never_done_times_out_and_cannot_be_downloaded(
    make_setup: Callable[..., Setup], connect: Connect, tmp_path: Path
) -> None:
    pond = connect(make_setup(run_worker=False))  # the snapshot stays pending
    created = pond.create(START, END)
    with pytest.raises(SnapshotNotReady, match="pending, not complete"):
        pond.download(created, tmp_path)
    with pytest.raises(WaitTimeout, match=created.id) as caught:
        pond.wait(created, timeout=1.5, long_poll=False)
    assert caught.value.exit_code == 7


def test_a_refused_token_is_replaced_once(acme: Setup, connect: Connect, tmp_path: Path) -> None:
    cache = tmp_path / "tokens"
    counts = Counts()
    assert connect(acme, token_cache=cache, counts=counts).token().access_token
    [cached] = list(cache.iterdir())
    data = json.loads(cached.read_text())
    data["access_token"] = "revoked-or-forged"  # still looks fresh to the client
    cached.write_text(json.dumps(data))
    assert connect(acme, token_cache=cache, counts=counts).create(START, END).href
    assert (counts.token_requests, counts.refused) == (2, 1)


def test_a_token_about_to_expire_is_replaced_before_it_is_sent(
    make_setup: Callable[..., Setup], connect: Connect
) -> None:
    setup = make_setup(token_ttl=2)  # tokens live 2 s, and count as stale 0.2 s before
    counts = Counts()
    pond = connect(setup, counts=counts)
    first = pond.token()
    time.sleep(2)
    pond.create(START, END)
    assert pond.token().access_token != first.access_token
    assert (counts.token_requests, counts.refused) == (2, 0)


def test_a_connection_cut_mid_part_resumes_with_range(
    behind_proxy: Callable[..., tuple[Setup, FaultyProxy]], connect: Connect, tmp_path: Path
) -> None:
    setup, proxy = behind_proxy(part_max_rows=2000)
    setup.seed(6000)
    pond = connect(setup)
    snapshot = pond.wait(pond.create(START, END), timeout=60)
    proxy.cut_after, proxy.cuts_left = 100_000, 4  # parts are ~420 KB: each is cut
    download = pond.download(snapshot, tmp_path, parallel=3)
    assert proxy.cuts_left == 0
    resumed = [rng for _, rng in proxy.seen.downloads() if rng is not None]
    assert len(resumed) >= 4
    assert all(rng.startswith("bytes=") and not rng.startswith("bytes=0-") for rng in resumed)
    ids = ids_in(download.files)
    assert len(ids) == len(set(ids)) == 6000

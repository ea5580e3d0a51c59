"""Downloads that go wrong on the way: cut connections, expired links, killed runs."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from pond.client import Backoff, PartProgress
from tests.integration.client.fixtures import END, START, Setup
from tests.integration.client.proxy import FaultyProxy

Proxied = Callable[..., tuple[Setup, FaultyProxy]]


def rows_in(files: list[Path]) -> list[str]:
    ids: list[str] = []
    for path in files:
        with path.open(newline="") as stream:
            ids.extend(row["id"] for row in csv.DictReader(stream))
    return ids


def test_a_connection_cut_mid_part_resumes_with_range(
    behind_proxy: Proxied, tmp_path: Path
) -> None:
    setup, proxy = behind_proxy(part_max_rows=2000)
    setup.seed(6000)
    with setup.client() as pond:
        snapshot = pond.wait(pond.create(START, END), timeout=60)
        assert len(snapshot.items) == 3
        proxy.cut_after, proxy.cuts_left = 100_000, 4  # parts are ~420 KB: each is cut
        events: list[PartProgress] = []
        download = pond.download(snapshot, tmp_path, parallel=3, progress=events.append)
    assert proxy.cuts_left == 0
    resumed = [rng for _, rng in proxy.seen.downloads() if rng is not None]
    assert len(resumed) >= 4
    assert all(rng.startswith("bytes=") and not rng.startswith("bytes=0-") for rng in resumed)
    ids = rows_in(list(download.files))
    assert len(ids) == len(set(ids)) == 6000
    assert [p.stat().st_size for p in download.files] == [i.size for i in snapshot.items]
    assert {e.name for e in events if e.finished} == {"event_000", "event_001", "event_002"}


def test_links_that_expire_mid_download_are_renewed(behind_proxy: Proxied, tmp_path: Path) -> None:
    setup, proxy = behind_proxy(part_max_rows=2000, link_ttl=1)
    setup.seed(4000)
    patient = Backoff(initial=2.5, factor=1, maximum=2.5, jitter=0)  # outlive the 1 s links
    with setup.client(backoff=patient) as pond:
        snapshot = pond.wait(pond.create(START, END), timeout=60)
        proxy.cut_after, proxy.cuts_left = 50_000, 2
        download = pond.download(snapshot, tmp_path, parallel=2)
    assert 403 in proxy.seen.statuses  # the old links were refused...
    assert sum(1 for _, rng in proxy.seen.downloads() if rng) >= 2  # ...and the parts resumed
    ids = rows_in(list(download.files))
    assert len(ids) == len(set(ids)) == 4000


def test_connections_dropped_before_any_byte_are_retried(
    behind_proxy: Proxied, tmp_path: Path
) -> None:
    setup, proxy = behind_proxy()
    setup.seed(500)
    with setup.client() as pond:
        snapshot = pond.wait(pond.create(START, END), timeout=60)
        proxy.cut_after, proxy.cuts_left = 0, 3
        download = pond.download(snapshot, tmp_path)
    assert proxy.cuts_left == 0
    assert len(proxy.seen.downloads()) == 4
    assert len(rows_in(list(download.files))) == 500

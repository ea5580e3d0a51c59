"""Sync windows: aligned on the first start, back to back, the last one ending at `until`."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from pond.client.sync import next_bound, window_folder

DAY = timedelta(days=1)
ORIGIN = datetime(2019, 3, 13, tzinfo=UTC)


def windows(cursor: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    while cursor < until:
        bound = next_bound(ORIGIN, cursor, DAY, until)
        out.append((cursor, bound))
        cursor = bound
    return out


def test_windows_are_contiguous_and_aligned() -> None:
    first = windows(ORIGIN, ORIGIN + timedelta(days=2, hours=12))
    assert [b - a for a, b in first] == [DAY, DAY, timedelta(hours=12)]
    later = windows(first[-1][1], ORIGIN + timedelta(days=4, hours=6))
    assert later[0] == (ORIGIN + timedelta(days=2, hours=12), ORIGIN + timedelta(days=3))
    assert later[-1][1] == ORIGIN + timedelta(days=4, hours=6)
    bounds = first + later
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_no_window_when_up_to_date() -> None:
    assert windows(ORIGIN, ORIGIN) == []


def test_window_folders_sort_in_time_order() -> None:
    assert window_folder(ORIGIN, ORIGIN + DAY) == "20190313T000000Z_20190314T000000Z"

"""How an export plan sizes its parts: balanced over its streams, exact whatever the estimate."""

from __future__ import annotations

import pytest

from pond.exports.exporter import BALANCE_MIN_ROWS, Sizing, sizing

MAX = 1_000_000


def cut(rows: int, sizes: Sizing) -> list[int]:
    """The parts the index walk cuts from `rows` actual rows: each boundary lies
    `sizes.step(seq)` rows on, and a part with no row that far on is the last."""
    parts: list[int] = []
    seq = 0
    while rows > sizes.step(seq):
        parts.append(sizes.step(seq))
        rows -= sizes.step(seq)
        seq += 1
    return [*parts, rows]


@pytest.mark.parametrize("streams", [1, 2, 3, 6, 32])
@pytest.mark.parametrize("rows", [1_000_001, 1_999_999, 5_000_000, 7_777_777, 64_000_000])
def test_a_good_estimate_gives_a_multiple_of_the_streams_in_even_parts(
    rows: int, streams: int
) -> None:
    parts = cut(rows, sizing(rows, MAX, streams))
    assert len(parts) % streams == 0
    assert len(parts) < -(-rows // MAX) + streams  # no more parts than balance needs
    assert max(parts) <= MAX
    assert max(parts) - min(parts) <= len(parts)  # even, but for rounding
    assert sum(parts) == rows


def test_five_million_rows_over_two_streams_are_six_parts() -> None:
    assert cut(5_000_000, sizing(5_000_000, MAX, 2)) == [833_334] * 5 + [833_330]


def test_an_estimate_a_little_low_grows_the_last_part_rather_than_adding_one() -> None:
    # PostgreSQL estimated the benchmark's 5,000,000 rows as 4,998,372.
    assert cut(5_000_000, sizing(4_998_372, MAX, 2)) == [833_062] * 5 + [834_690]


@pytest.mark.parametrize("estimate", [0, 1, 999_999, 1_000_001, 2_500_000, 40_000_000, 10**12])
@pytest.mark.parametrize("rows", [0, 1, 1_000_000, 1_000_001, 5_000_000, 23_456_789])
@pytest.mark.parametrize("streams", [1, 2, 5])
def test_any_estimate_gives_exact_parts_within_the_limit(
    estimate: int, rows: int, streams: int
) -> None:
    parts = cut(rows, sizing(estimate, MAX, streams))
    assert sum(parts) == rows
    assert max(parts) <= MAX
    assert all(part > 0 for part in parts) or parts == [0]


@pytest.mark.parametrize("estimate", [0, 10, MAX])
def test_a_snapshot_that_fits_in_one_part_stays_one_part(estimate: int) -> None:
    assert sizing(estimate, MAX, 4) == Sizing(1, MAX, MAX)
    assert cut(estimate, sizing(estimate, MAX, 4)) == [estimate]


def test_small_parts_keep_their_size_and_count() -> None:
    small = BALANCE_MIN_ROWS - 1
    assert sizing(10 * small + 1, small, 2) == Sizing(1, small, small)
    assert cut(3 * small + 1, sizing(3 * small + 1, small, 2)) == [small] * 3 + [1]

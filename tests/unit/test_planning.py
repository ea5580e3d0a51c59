"""How an export plans its parts from a sample: balanced over its streams, never a
lone last part, and covering the snapshot's rows exactly once."""

from __future__ import annotations

import bisect
import itertools

import pytest

from pond.exports import planning
from pond.exports.job import Key
from pond.exports.planning import Sample, boundaries, part_count, plan

MAX = 1_000_000


def cut(total: int, starts: list[Key]) -> list[int]:
    """The rows of each planned range when the rows' keys are (0, 0) ... (total - 1, 0)."""
    edges = [0, *(int(key[0]) for key in starts), total]
    return [b - a for a, b in itertools.pairwise(edges)]


def sample_of(total: int, every: int) -> Sample:
    """A sample holding every `every`-th row of `total`, as pages drawn evenly would."""
    keys: list[Key] = [(n, 0) for n in range(0, total, every)]
    return Sample(keys, 1.0 if every == 1 else 1 / every)


@pytest.mark.parametrize("streams", [1, 2, 3, 6])
@pytest.mark.parametrize("rows", [1_000_001, 2_000_000, 5_000_000, 7_777_777])
def test_a_fair_sample_gives_a_multiple_of_the_streams_in_even_rounds_under_the_limit(
    rows: int, streams: int
) -> None:
    parts = cut(rows, boundaries(sample_of(rows, 400), MAX, streams))
    assert len(parts) % streams == 0
    assert max(parts) <= MAX * planning.FILL * 1.01
    assert sum(parts) == rows
    # Each stream's share is the same, but for the sample's grain: none ends alone.
    shares = [sum(parts[i::streams]) for i in range(streams)]
    assert max(shares) - min(shares) <= 2 * 400 * len(parts) // streams


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_a_first_round_of_small_parts_then_even_ones(streams: int) -> None:
    parts = cut(5_000_000, boundaries(sample_of(5_000_000, 500), MAX, streams))
    first, rest = parts[:streams], parts[streams:]
    assert all(0 < p < min(rest) * planning.RAMP * 1.2 for p in first)
    assert max(rest) - min(rest) <= 2 * 500
    assert len(parts) % streams == 0


def test_five_million_rows_over_two_streams_start_with_two_parts_of_62_500() -> None:
    parts = cut(5_000_000, boundaries(sample_of(5_000_000, 500), MAX, 2))
    assert len(parts) == 10
    assert [round(p, -2) for p in parts[:2]] == [62_500, 62_500]
    assert all(abs(p - 609_375) <= 1_000 for p in parts[2:])


@pytest.mark.parametrize("rows", [0, 1, 5_000, 99_999])
def test_a_small_snapshot_stays_one_part(rows: int) -> None:
    assert boundaries(sample_of(rows, 1), MAX, 4) == []


def test_a_middling_snapshot_is_split_over_the_streams() -> None:
    assert cut(300_000, boundaries(sample_of(300_000, 1), MAX, 2)) == [150_000, 150_000]


def test_a_complete_sample_cuts_small_parts_of_exactly_the_limit() -> None:
    assert cut(1000, boundaries(sample_of(1000, 1), 300, 4)) == [300, 300, 300, 100]


def test_an_empty_sample_plans_one_range_over_everything() -> None:
    assert plan(Sample([], 0.01), MAX, 2) == [planning.Range(0, None, None)]


def test_a_wild_overestimate_plans_no_more_parts_than_the_sample_can_tell_apart() -> None:
    keys: list[Key] = [(n, 0) for n in range(1000)]
    found = boundaries(Sample(keys, 0.000_001), 300, 2)
    assert len(found) + 1 <= 1000 // planning.MIN_SAMPLED_PER_PART


@pytest.mark.parametrize("every", [1, 7, 1000])
@pytest.mark.parametrize("max_rows", [1, 300, 99_999, MAX])
def test_the_ranges_cover_everything_once_in_order(every: int, max_rows: int) -> None:
    sample = sample_of(123_457, every)
    ranges = plan(sample, max_rows, 2)
    assert ranges[0].after is None
    assert ranges[-1].before is None
    for left, right in itertools.pairwise(ranges):
        assert left.before == right.after
        assert left.before is not None
        assert bisect.bisect_left(sample.keys, left.before) < len(sample.keys)
    assert [r.range_no for r in ranges] == list(range(len(ranges)))
    assert {r.sub_no for r in ranges} == {0}


@pytest.mark.parametrize("estimate", [0, 99_999, 100_000, 800_000, 800_001, 10**9])
def test_part_counts_are_multiples_of_the_streams_once_split(estimate: int) -> None:
    count = part_count(estimate, MAX, 3, exact=False)
    assert count == 1 or count % 3 == 0
    assert count * MAX * planning.FILL >= estimate


def test_a_sampled_count_gives_even_small_parts_rather_than_a_short_last_one() -> None:
    parts = cut(26_990, boundaries(sample_of(26_990, 10), 10_000, 2))
    assert len(parts) == 4  # parts of 80% of the limit at most, where the count is a guess
    assert max(parts) - min(parts) <= 2 * 10
    assert sum(parts) == 26_990


def test_a_ramped_plan_says_how_many_rows_its_first_part_holds() -> None:
    assert planning.layout(sample_of(5_000_000, 500), MAX, 2).first == 62_500


@pytest.mark.parametrize("rows", [50_000, 1_500_000])
def test_a_plan_without_a_small_first_part_has_none_to_cut_exactly(rows: int) -> None:
    assert planning.layout(sample_of(rows, 500), MAX, 2).first is None

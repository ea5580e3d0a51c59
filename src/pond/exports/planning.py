"""Plan an export's parts from a sample of the table, before any row is exported.

The plan reads at most `SAMPLE_PAGES` of the table's pages (`TABLESAMPLE
SYSTEM`), inside the export's own point-in-time view, and keeps the (time, id)
keys of the snapshot's rows it finds there. From them it estimates how many
rows there are and cuts the range into planned ranges of about equal size, as
many as the export's streams share evenly (a multiple of them), each expected to
hold `FILL` of `POND_PART_MAX_ROWS` so that an estimate a little low does not
overflow a part. No index is walked and no row is counted: the streams start
at once.

The plan only has to be good, not exact: each range is exported with
`LIMIT POND_PART_MAX_ROWS`, and a range holding more rows than that is cut
where the limit falls, its remainder becoming the next part (see
`pond.exports.part_copy`). Parts are therefore exact and never over the limit
whatever the sample says; a sample that misjudges only costs balance.

Where the table is small enough to be read whole (`SAMPLE_PAGES` pages at
most), the sample holds every row and the plan is exact: parts of exactly
`POND_PART_MAX_ROWS` rows, or balanced ones, as below.

A sample reads whole pages, and rows written together sit on the same pages, so
a cut near the start of the range is the least sure: where the first part is
meant to be small (`RAMP`), a sample of a few hundred pages may make it a
hundred times smaller or larger. Its end is therefore found exactly
(`first_cut`): the index is read for that part's rows alone, at most
`RAMP * FILL` of `POND_PART_MAX_ROWS` of them, whatever the snapshot's size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import psycopg

from pond.entities import get_entity
from pond.exports import repository
from pond.exports.job import Job, Key, Range

# Most pages a plan reads: 2 MiB, wherever they are in the table.
SAMPLE_PAGES = 256
# The same pages for the same table, so that a rerun plans alike.
SAMPLE_SEED = 0
# A planned part's share of the limit when its size is an estimate.
FILL = 0.8
# Where the streams each export more than one part, their first parts are this share of
# an even part: the first data can be downloaded sooner (a tenth of a 625,000-row part
# is written in a few tenths of a second), and the streams stay even.
RAMP = 0.1
# A planned part has at least this many sampled keys where the sample is a guess: a
# sample that overestimates wildly does not plan thousands of tiny parts.
MIN_SAMPLED_PER_PART = 16
# Fewer rows than this stay one part, read by one stream.
SPLIT_MIN_ROWS = 100_000
# With `max_rows` below this, parts keep exactly `max_rows` rows where the count is
# exact, rather than being balanced over the streams: small parts keep the count their
# users expect.
BALANCE_MIN_ROWS = 100_000


@dataclass(frozen=True)
class Sample:
    """The keys, in order, of the snapshot's rows on the pages read; `fraction` of the
    table's pages were read (1.0: all of them, so `keys` holds every row)."""

    keys: list[Key]
    fraction: float

    @property
    def exact(self) -> bool:
        return self.fraction >= 1.0

    @property
    def estimate(self) -> int:
        """How many rows the snapshot holds, as the sample tells (0: it cannot tell)."""
        if self.exact:
            return len(self.keys)
        return round(len(self.keys) / self.fraction) if self.fraction > 0 else 0


def take_sample(conn: psycopg.Connection[Any], job: Job) -> Sample:
    """Read the sample inside `conn`'s transaction (the export's point-in-time view)."""
    entity = get_entity(job.entity)
    pages = repository.table_pages(conn, entity)
    if pages is None:
        # A view cannot be sampled: one planned range, cut into parts as it is exported.
        return Sample([], 0.0)
    percent = 100.0 if pages <= SAMPLE_PAGES else 100.0 * SAMPLE_PAGES / pages
    where = entity.where_params(job.org_id, job.start, job.end)
    keys = repository.sample_keys(conn, entity, percent, SAMPLE_SEED, where)
    return Sample(keys, percent / 100.0)


def part_count(estimate: int, max_rows: int, streams: int, *, exact: bool) -> int:
    """How many parts to plan for `estimate` rows.

    Small snapshots stay one part. Parts of at most `max_rows` (`FILL` of it when
    the estimate is a guess), as few as that allows, rounded up to a multiple of the
    `streams` so none sits idle at the end; with `max_rows` under
    `BALANCE_MIN_ROWS`, simply parts of `max_rows` rows.
    """
    fill = 1.0 if exact else FILL
    per_part = max(1.0, max_rows * fill)
    if max_rows < BALANCE_MIN_ROWS:
        return max(1, math.ceil(estimate / per_part))
    if estimate < SPLIT_MIN_ROWS:
        return 1
    parts = math.ceil(estimate / per_part)
    return math.ceil(parts / streams) * streams


@dataclass(frozen=True)
class Layout:
    """Where the planned ranges end, in rows of the estimate (the last one excepted), and
    how many rows the first holds when it is a small first part (`RAMP`; else None)."""

    cuts: list[float]
    first: int | None


def layout(sample: Sample, max_rows: int, streams: int) -> Layout:
    """How the estimated rows are cut into planned ranges."""
    estimate = sample.estimate
    parts = part_count(estimate, max_rows, streams, exact=sample.exact)
    capped = max(1, len(sample.keys) // MIN_SAMPLED_PER_PART)
    if not sample.exact and parts > capped:
        parts = capped
        per_part = estimate / parts
    elif max_rows < BALANCE_MIN_ROWS and sample.exact:
        per_part = max_rows
    else:
        # Even parts: where the count is an estimate, parts of exactly `max_rows` cannot be
        # cut anyway, and a short last part would only be a part exported alone.
        per_part = estimate / parts
    ramped = parts >= 2 * streams and max_rows >= BALANCE_MIN_ROWS and parts <= capped
    if not ramped:
        return Layout([per_part * i for i in range(1, parts)], None)
    # A first round of small parts, one per stream, so that the first data can be
    # downloaded early; then parts of one size again, still a multiple of the streams.
    first = per_part * RAMP
    rest = estimate - first * streams
    later = max(streams, part_count(round(rest), max_rows, streams, exact=sample.exact))
    each = rest / later
    cuts = [first * i for i in range(1, streams + 1)]
    cuts += [first * streams + each * j for j in range(1, later)]
    return Layout(cuts, max(1, round(first)))


def boundaries(sample: Sample, max_rows: int, streams: int) -> list[Key]:
    """The keys where the planned ranges start, the first excepted (in order, distinct)."""
    keys = sample.keys
    if not keys:
        return []
    scale = len(keys) / sample.estimate  # sampled keys per row
    found: list[Key] = []
    last = 0
    for cut in layout(sample, max_rows, streams).cuts:
        at = round(cut * scale)
        if at >= len(keys):
            break
        if at > last:
            found.append(keys[at])
            last = at
    return found


def first_cut(
    conn: psycopg.Connection[Any], job: Job, sample: Sample, max_rows: int, streams: int
) -> Key | None:
    """Where a small first part ends, read from the index (see the module doc); None when
    the plan has no small first part, or the sample already holds every row."""
    first = layout(sample, max_rows, streams).first if sample.keys else None
    if first is None or sample.exact:
        return None
    entity = get_entity(job.entity)
    where = entity.where_params(job.org_id, job.start, job.end)
    return repository.key_after(conn, entity, where, after=False, before=False, offset=first)


def plan_export(
    conn: psycopg.Connection[Any], job: Job, max_rows: int, streams: int
) -> list[Range]:
    """The planned ranges of `job`'s export, in `conn`'s transaction (its view)."""
    sample = take_sample(conn, job)
    ranges = plan(sample, max_rows, streams)
    exact = first_cut(conn, job, sample, max_rows, streams)
    if exact is None:
        return ranges
    # The sampled cuts after the exact one stay; one the sample put before it goes. Only
    # the times are compared here (a key's order is the database's collation, not Python's):
    # a cut at the same time is dropped too, which only joins two ranges.
    later = [r.after for r in ranges[1:] if r.after is not None and r.after[0] > exact[0]]
    return ranges_from([exact, *later])


def plan(sample: Sample, max_rows: int, streams: int) -> list[Range]:
    """The planned ranges: together they cover the snapshot's range exactly once."""
    return ranges_from(boundaries(sample, max_rows, streams))


def ranges_from(cuts: list[Key]) -> list[Range]:
    """The ranges that `cuts` (keys in order, distinct) divide the snapshot's range into."""
    starts: list[Key | None] = [None, *cuts]
    ends: list[Key | None] = [*starts[1:], None]
    return [
        Range(n, after, before) for n, (after, before) in enumerate(zip(starts, ends, strict=True))
    ]

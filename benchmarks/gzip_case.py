"""Case 3: the export job writing gzipped parts against the same job writing plain ones."""

from __future__ import annotations

import shutil
import uuid

import psycopg

from benchmarks.environment import Bench
from benchmarks.inprocess import PART_MAX_ROWS, STREAMS, new_snapshot, store
from benchmarks.measure import Comparison, Series, alternate, timed
from pond.exports import coordinator


def run(bench: Bench, compression: str | None, sizes: dict[str, int]) -> float:
    """Seconds for one export job of the whole range; its files are removed afterwards."""
    sid: uuid.UUID = new_snapshot(bench)
    with psycopg.connect(bench.conninfo) as conn:
        conn.execute("UPDATE snapshots SET compression = %s WHERE id = %s", (compression, sid))
    objects = store(bench)
    seconds = timed(
        lambda: coordinator.run(
            bench.conninfo, objects, sid, max_rows=PART_MAX_ROWS, streams=STREAMS
        )
    )
    with psycopg.connect(bench.conninfo) as conn:
        row = conn.execute(
            "SELECT sum(row_count), sum(size) FROM snapshot_parts WHERE snapshot_id = %s", (sid,)
        ).fetchone()
    assert row is not None
    if int(row[0]) != bench.rows:
        raise RuntimeError(f"the export wrote {row[0]} rows, expected {bench.rows}")
    sizes[compression or "plain"] = int(row[1])
    shutil.rmtree(objects.root / str(sid), ignore_errors=True)
    return seconds


def compare(bench: Bench) -> list[Comparison]:
    gz = Series("pond export job, compression=gzip")
    plain = Series("pond export job, plain CSV")
    sizes: dict[str, int] = {}
    alternate(
        bench.repeat,
        (gz, lambda _: run(bench, "gzip", sizes)),
        (plain, lambda _: run(bench, None, sizes)),
    )
    note = (
        f"{bench.rows:,} rows, {STREAMS} export streams; gzip parts hold {sizes['gzip']:,} bytes"
        f" for {sizes['plain']:,} bytes of CSV ({sizes['gzip'] / sizes['plain']:.0%}),"
        " compressed with ISA-L (isal) at level 1 while the COPY streams"
    )
    return [
        Comparison(
            case="3",
            title="gzip parts against plain parts",
            pond=gz,
            reference=plain,
            target=1.1,
            higher_is_better=False,
            ratio_meaning="gzip time / plain time",
            notes=[note],
        )
    ]

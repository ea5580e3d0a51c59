"""Case 5: peak memory (RSS) of the export job for all rows against a fiftieth of them."""

from __future__ import annotations

import shutil
import subprocess
import sys

from benchmarks.environment import END, START, Bench
from benchmarks.inprocess import PART_MAX_ROWS, new_snapshot
from benchmarks.measure import Comparison, Series

_LIMIT_MB = 150.0


def _peak_mb(bench: Bench, fraction: int) -> float:
    """Peak RSS of a fresh process exporting 1/`fraction` of the range; its files removed."""
    sid = new_snapshot(bench, START, START + (END - START) / fraction)
    root = bench.work_dir / "rss-objects"
    argv = [sys.executable, "-m", "benchmarks.rss_probe", bench.conninfo, str(root), str(sid)]
    done = subprocess.run(  # noqa: S603 - our interpreter running our probe
        [*argv, str(PART_MAX_ROWS)], check=True, capture_output=True, text=True
    )
    shutil.rmtree(root / str(sid), ignore_errors=True)
    return float(done.stdout.strip().splitlines()[-1])


def compare(bench: Bench) -> list[Comparison]:
    full = Series("export job, all rows", unit="MB")
    small = Series("export job, 1/50 of the rows", unit="MB")
    for _ in range(bench.repeat):
        full.values.append(_peak_mb(bench, 1))
        small.values.append(_peak_mb(bench, 50))
    return [
        Comparison(
            case="5",
            title="Peak memory of the export job: all rows vs a fiftieth of them",
            pond=full,
            reference=small,
            target=1.1,
            higher_is_better=False,
            ratio_meaning="peak RSS (all rows) / peak RSS (1/50 of the rows)",
            notes=[
                f"{bench.rows:,} against about {bench.rows // 50:,} rows; each run a fresh"
                " process (its VmHWM, which includes the interpreter and imports), with the default"
                " number of export streams"
            ],
            limits=[(f"≤ {_LIMIT_MB:g} MB", full.median <= _LIMIT_MB)],
        )
    ]

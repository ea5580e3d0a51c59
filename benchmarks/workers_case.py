"""Scale out: one snapshot exported by one `pond worker` process, then by two.

Each worker runs one job at a time with one COPY stream, so the only
difference between the contenders is the number of processes: with two, the
second takes the export's helper job and a share of its parts. Both export the
same rows in the same parts, from POST (the snapshot row and its job, as the
API writes them) to complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from benchmarks.environment import END, START, Bench
from benchmarks.inprocess import new_snapshot
from benchmarks.measure import Comparison, Series
from pond.jobs import queue
from pond.snapshots.repository import EXPORT_QUEUE, EXPORT_TASK

PARTS = 8  # the range is cut into this many parts, whatever its size


def _env(bench: Bench, objects: Path) -> dict[str, str]:
    return {
        **os.environ,
        "POND_DATABASE_URL": bench.conninfo,
        "POND_DATA_DIR": str(bench.work_dir / "workers"),
        "POND_STORAGE_URL": objects.as_uri(),
        "POND_PART_MAX_ROWS": str(max(1, -(-bench.rows // PARTS))),
        "POND_EXPORT_STREAMS": "1",
        "POND_EXPORT_HELPERS": "1",
        "POND_LOG_FORMAT": "json",
    }


def _live_workers(bench: Bench) -> int:
    with psycopg.connect(bench.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - interval '5 seconds'"
        ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def workers(bench: Bench, count: int, objects: Path) -> Iterator[None]:
    """`count` `pond worker --concurrency 1` processes, running until the block ends."""
    env = _env(bench, objects)
    logs = bench.work_dir / "worker-logs"
    logs.mkdir(exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            with (logs / f"worker-{count}-{n}.log").open("ab") as log:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "pond", "worker", "--concurrency", "1"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )
                )
        deadline = time.monotonic() + 60
        while _live_workers(bench) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                raise RuntimeError(f"{count} workers did not start; see {logs}")
            time.sleep(0.1)
        yield
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _export(bench: Bench, objects: Path, *, warm_up: bool = False) -> float:
    """Seconds from scheduling a snapshot of the whole range (a sliver: `warm_up`) to complete."""
    sid = (
        new_snapshot(bench, START, START + (END - START) / 100) if warm_up else new_snapshot(bench)
    )
    started = time.perf_counter()
    with psycopg.connect(bench.conninfo, autocommit=True) as conn:
        with conn.transaction():
            [job] = queue.defer(conn, EXPORT_QUEUE, EXPORT_TASK, {"snapshot_id": str(sid)})
            conn.execute("UPDATE snapshots SET job_id = %s WHERE id = %s", (job, sid))
        while True:
            row = conn.execute("SELECT state FROM snapshots WHERE id = %s", (sid,)).fetchone()
            if row is not None and row[0] == "complete":
                break
            if row is None or row[0] not in ("pending", "running"):
                raise RuntimeError(f"snapshot {sid} ended {row}")
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        counted = conn.execute(
            "SELECT count(*), sum(row_count) FROM snapshot_parts WHERE snapshot_id = %s", (sid,)
        ).fetchone()
    if not warm_up and (counted is None or int(counted[1]) != bench.rows):
        raise RuntimeError(f"the export wrote {counted}, expected {bench.rows} rows")
    shutil.rmtree(objects / str(sid), ignore_errors=True)
    return seconds


def _helped(bench: Bench) -> int:
    """Parts that helper jobs took, over the two-worker runs (from the workers' logs)."""
    total = 0
    for log in (bench.work_dir / "worker-logs").glob("worker-2-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") == "export.helped":
                    total += int(entry.get("parts", 0))
    return total


def compare(bench: Bench) -> list[Comparison]:
    objects = bench.work_dir / "worker-objects"
    one = Series("one worker process")
    two = Series("two worker processes")
    # Each run starts its own processes; the order alternates so that drift hits both.
    for run in range(bench.repeat):
        for count, series in ((1, one), (2, two)) if run % 2 == 0 else ((2, two), (1, one)):
            with workers(bench, count, objects):
                _export(bench, objects, warm_up=True)  # connections and caches
                series.values.append(_export(bench, objects))
    helped = _helped(bench)
    return [
        Comparison(
            case="10",
            title="Scale out: one snapshot, two worker processes against one",
            pond=two,
            reference=one,
            target=1.0,
            higher_is_better=True,
            ratio_meaning="one-worker time / two-worker time (speed-up)",
            notes=[
                f"{bench.rows:,} rows in {PARTS} parts; each `pond worker --concurrency 1`"
                " with one COPY stream (`POND_EXPORT_STREAMS=1`), so the second process is"
                " the only difference; POST to complete; each run starts its workers and warms"
                " them up with a snapshot of 1/100 of the range",
                f"with two workers the helper jobs exported {helped} of the"
                f" {PARTS * bench.repeat} parts",
                f"{os.cpu_count()} cores: PostgreSQL's COPY backends and both workers share them",
            ],
        )
    ]

"""Cases 1 and 2: the export job against `psql \\copy` and against a plain Python exporter."""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import subprocess
import uuid
from pathlib import Path

import psycopg

from benchmarks.environment import END, START, Bench
from benchmarks.measure import Comparison, Series, alternate, busy_cpu, timed
from pond.downloads.signing import LinkSigner
from pond.entities import EVENT
from pond.exports import exporter
from pond.settings import Settings
from pond.storage.local import LocalStore

PART_MAX_ROWS: int = Settings.model_fields["part_max_rows"].default
STREAMS: int = Settings.model_fields["export_streams"].default
_FETCH = 10_000


def new_snapshot(bench: Bench, start: object = START, end: object = END) -> uuid.UUID:
    """A pending snapshot row of the benchmark client, as the API would insert it."""
    sid = uuid.uuid4()
    with psycopg.connect(bench.conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from, created_at_to,"
            " expires_at) VALUES (%s, %s, %s, 'event', %s, %s, now() + interval '1 day')",
            (sid, bench.org_id, bench.client_id, start, end),
        )
    return sid


def export_sql(bench: Bench) -> str:
    """The exporter's own SELECT with the benchmark's values inlined, for psql."""
    with psycopg.connect(bench.conninfo) as conn:
        cur = psycopg.ClientCursor(conn)
        return cur.mogrify(EVENT.export_query(), (bench.org_id, START, END))


def store(bench: Bench) -> LocalStore:
    return LocalStore(bench.work_dir / "objects", LinkSigner("bench", b"b" * 32))


def run_pond(bench: Bench, sizes: dict[str, set[int]], cpu: list[float]) -> float:
    """Seconds for one export job of the whole range; its files are removed afterwards.

    The machine's busy CPU-seconds during the run go to `cpu`.
    """
    sid = new_snapshot(bench)
    objects = store(bench)
    before = busy_cpu()
    seconds = timed(
        lambda: exporter.run(bench.conninfo, objects, sid, max_rows=PART_MAX_ROWS, streams=STREAMS)
    )
    cpu.append(busy_cpu() - before)
    with psycopg.connect(bench.conninfo) as conn:
        row = conn.execute(
            "SELECT count(*), sum(row_count), sum(size) FROM snapshot_parts WHERE snapshot_id = %s",
            (sid,),
        ).fetchone()
    assert row is not None
    parts, rows, size = int(row[0]), int(row[1]), int(row[2])
    if rows != bench.rows:
        raise RuntimeError(f"the export wrote {rows} rows, expected {bench.rows}")
    header = len(",".join(EVENT.columns)) + 1
    # Without the repeated headers, the parts together are exactly what psql writes.
    sizes.setdefault("pond", set()).add(size - (parts - 1) * header)
    shutil.rmtree(objects.root / str(sid), ignore_errors=True)
    return seconds


def run_psql(bench: Bench, select: str, sizes: dict[str, set[int]], cpu: list[float]) -> float:
    """Seconds for `psql \\copy (SELECT ...) TO file`; the file is removed afterwards."""
    target = bench.work_dir / "psql-export.csv"
    before = busy_cpu()
    command = f"\\copy ({select}) TO '{target}' WITH (FORMAT csv, HEADER)"
    argv = [str(bench.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bench.conninfo]
    seconds = timed(
        lambda: subprocess.run([*argv, "-c", command], check=True)  # noqa: S603 - our psql, our SQL
    )
    cpu.append(busy_cpu() - before)
    sizes.setdefault("psql", set()).add(target.stat().st_size)
    target.unlink()
    return seconds


def python_export(conninfo: str, org_id: int, target: Path) -> int:
    """The straightforward exporter: server-side cursor, fetchmany, csv.writer. Rows written."""
    written = 0
    with (
        psycopg.connect(conninfo) as conn,
        conn.cursor(name="bench_export") as cur,
        target.open("w", newline="") as handle,
    ):
        cur.execute(EVENT.export_query(), (org_id, START, END))
        out = csv.writer(handle)
        out.writerow(EVENT.columns)
        while rows := cur.fetchmany(_FETCH):
            out.writerows(rows)
            written += len(rows)
    return written


def run_python(bench: Bench) -> float:
    target = bench.work_dir / "python-export.csv"
    seconds = timed(lambda: python_export(bench.conninfo, bench.org_id, target))
    target.unlink()
    return seconds


def compare(bench: Bench) -> list[Comparison]:
    """Both export comparisons; pond's runs are shared between them."""
    select = export_sql(bench)
    pond = Series("pond export job")
    psql = Series("psql \\copy (SELECT ...) TO file")
    python = Series("Python: named cursor, fetchmany(10000), csv.writer")
    sizes: dict[str, set[int]] = {}
    pond_cpu: list[float] = []
    psql_cpu: list[float] = []
    alternate(
        bench.repeat,
        (pond, lambda _: run_pond(bench, sizes, pond_cpu)),
        (psql, lambda _: run_psql(bench, select, sizes, psql_cpu)),
    )
    for _ in range(bench.repeat):
        python.values.append(run_python(bench))
    every = sizes["pond"] | sizes["psql"]
    same = (
        f"pond's parts hold the same {every.pop():,} CSV bytes as psql's file"
        if len(every) == 1
        else f"CSV sizes differ: {sizes}"
    )
    note = (
        f"{bench.rows:,} rows in parts of at most {PART_MAX_ROWS:,}, {STREAMS} export streams"
        f" (the defaults); {same}"
    )
    cores = os.cpu_count() or 1
    floor = statistics.median(pond_cpu) / cores
    cpu_note = (
        f"the whole machine's busy CPU time per run (PostgreSQL included), medians: pond"
        f" {statistics.median(pond_cpu):.2f} s, psql {statistics.median(psql_cpu):.2f} s; even"
        f" spread perfectly over the {cores} cores, pond's work cannot take less than"
        f" {floor:.2f} s, {floor / psql.median:.2f}× psql's time"
    )
    return [
        Comparison(
            case="1",
            title="Export of the whole range: pond vs psql \\copy",
            pond=pond,
            reference=psql,
            target=0.8,
            higher_is_better=False,
            ratio_meaning="pond time / psql time",
            notes=[note, cpu_note],
        ),
        Comparison(
            case="2",
            title="Export of the whole range: pond vs a plain Python exporter",
            pond=pond,
            reference=python,
            target=7.0,
            higher_is_better=True,
            ratio_meaning="Python time / pond time (speed-up)",
            notes=[note],
        ),
    ]

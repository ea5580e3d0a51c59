"""Cases 1, 2, 11 to 14: exports as users meet them, on rows just written.

Every run exports rows written for it alone, just before it: `bench.rows` events
of a new organisation, streamed in as `pond seed` writes them, with no VACUUM
and no ANALYZE afterwards (autovacuum as PostgreSQL ships it may run when it
likes, as on a live events table). Each contender thus meets a table in the
state a user's table is in, and none reads pages that another made warm.

- pond (cases 1 and 13): `pond serve` with its default settings, in its own
  process. A client takes a token, POSTs the snapshot and long-polls its href
  (`?wait=25`) until every part is complete; a second client polls
  `?details=true` every 100 ms, as a progressive client does, to see when the
  first part can be downloaded (case 12).
- time to data (cases 11 and 14): a fresh `pond export` process, the command a
  user runs: token, POST, wait, download every part, check each SHA-256.
- the reference: `psql \\copy (SELECT the same columns of the same rows in the
  same order) TO file`, the hand-written export pond should beat.
- case 2: a plain Python exporter (named cursor, `fetchmany`, `csv.writer`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from benchmarks.environment import END, START, Bench, create_client
from benchmarks.measure import Comparison, Series, busy_cpu, timed
from benchmarks.serving import SCOPE, free_port, process
from pond.entities import EVENT
from pond.events import seeding

TIME_TO_DATA_ROWS = 2_000_000  # the second size the headline cases run at
FIRST_PART_TARGET = 1.0  # seconds from POST until a part can be downloaded
DETAILS_POLL = 0.1
_FETCH = 10_000
_counter = iter(range(1_000_000))


@dataclass(frozen=True)
class Fresh:
    """An organisation whose `rows` events were just written, and a client of it."""

    slug: str
    org_id: int
    rows: int
    client_id: str
    client_secret: str


def fresh_rows(bench: Bench, rows: int) -> Fresh:
    """Write `rows` events of a new organisation, as `pond seed` does; nothing vacuumed."""
    slug = f"fresh-{next(_counter)}-{os.getpid()}"
    seeding.seed(bench.conninfo, org=slug, start=START, end=END, count=rows)
    made = create_client(bench.conninfo, slug)
    with psycopg.connect(bench.conninfo) as conn:
        row = conn.execute("SELECT id FROM organisations WHERE slug = %s", (slug,)).fetchone()
    assert row is not None
    return Fresh(slug, int(row[0]), rows, made.client_id, made.client_secret)


@contextlib.contextmanager
def default_service(bench: Bench, name: str = "service") -> Iterator[str]:
    """`pond serve` with its defaults (API and worker in one process) on the benchmark
    database, its data directory `name` in the work directory; its base URL."""
    data_dir = bench.work_dir / name
    data_dir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env.update(POND_DATABASE_URL=bench.conninfo, POND_DATA_DIR=str(data_dir))
    base = f"http://127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "pond", "serve", "--port", base.rsplit(":", 1)[1]]
    with process(argv, env, bench.work_dir / f"{name}.log", f"{base}/healthz"):
        yield base


def _token(base: str, fresh: Fresh) -> str:
    answer = httpx.post(
        f"{base}/oauth2/token",
        auth=(fresh.client_id, fresh.client_secret),
        data={"grant_type": "client_credentials", "scope": SCOPE},
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@dataclass
class ServiceRun:
    seconds: float  # POST until every part is complete
    first_part: float  # POST until a part can be downloaded
    parts: int


def run_service(base: str, fresh: Fresh) -> ServiceRun:
    """POST a snapshot of the organisation's rows and long-poll it to the end."""
    headers = {"Authorization": f"Bearer {_token(base, fresh)}"}
    first: list[float] = []
    done = threading.Event()
    with httpx.Client(timeout=60, headers=headers) as http:
        started = time.perf_counter()
        answer = http.post(
            f"{base}/insights/snapshots",
            data={"created_at_from": START.isoformat(), "created_at_to": END.isoformat()},
        )
        answer.raise_for_status()
        href = str(answer.json()["snapshot"]["href"])

        def watch() -> None:
            with httpx.Client(timeout=60, headers=headers) as poller:
                while not done.is_set():
                    items = poller.get(href, params={"details": "true"}).json()["items"]
                    if any(item["state"] == "complete" for item in items):
                        first.append(time.perf_counter() - started)
                        return
                    time.sleep(DETAILS_POLL)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            while True:
                items = http.get(href, params={"wait": "25"}).json()["items"]
                states = {item["state"] for item in items}
                if states == {"complete"}:
                    break
                if "failed" in states:
                    raise RuntimeError(f"the benchmark snapshot failed: {items}")
            seconds = time.perf_counter() - started
        finally:
            done.set()
            watcher.join()
    rows = sum(int(item["count"]) for item in items)
    if rows != fresh.rows:
        raise RuntimeError(f"the export wrote {rows} rows, expected {fresh.rows}")
    # A part is downloadable once the snapshot is complete, if no poll saw one sooner.
    return ServiceRun(seconds, first[0] if first else seconds, len(items))


def run_pond_export(base: str, fresh: Fresh, out: Path) -> float:
    """Seconds for a fresh `pond export` process, from start to verified files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env.update(
        POND_API_URL=base,
        POND_TOKEN_URL=f"{base}/oauth2/token",
        POND_CLIENT_ID=fresh.client_id,
        POND_CLIENT_SECRET=fresh.client_secret,
        XDG_CONFIG_HOME=str(out / "config"),
        XDG_CACHE_HOME=str(out / "cache"),
    )
    argv = [
        sys.executable,
        "-m",
        "pond",
        "export",
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
        "--out",
        str(out / "data"),
    ]
    done: subprocess.CompletedProcess[str] | None = None

    def go() -> None:
        nonlocal done
        done = subprocess.run(argv, env=env, capture_output=True, text=True)  # noqa: S603 - our interpreter running pond

    seconds = timed(go)
    assert done is not None
    if done.returncode != 0:
        raise RuntimeError(f"pond export exited with {done.returncode}: {done.stderr}")
    rows = 0
    for part in (out / "data").glob("event_*"):
        with part.open("rb") as handle:
            rows += sum(1 for _ in handle) - 1
    if rows != fresh.rows:
        raise RuntimeError(f"pond export wrote {rows} rows, expected {fresh.rows}")
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def select_sql(bench: Bench, fresh: Fresh) -> str:
    """The exporter's own SELECT for the organisation, with the values inlined, for psql."""
    with psycopg.connect(bench.conninfo) as conn:
        return psycopg.ClientCursor(conn).mogrify(EVENT.export_query(), (fresh.org_id, START, END))


def run_psql(bench: Bench, fresh: Fresh) -> float:
    """Seconds for `psql \\copy (SELECT ...) TO file`; the file is removed afterwards."""
    target = bench.work_dir / "psql-export.csv"
    command = f"\\copy ({select_sql(bench, fresh)}) TO '{target}' WITH (FORMAT csv, HEADER)"
    seconds = timed(
        lambda: subprocess.run(bench.psql_command(command), check=True)  # noqa: S603 - our psql, our SQL
    )
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


def run_python(bench: Bench, fresh: Fresh) -> float:
    target = bench.work_dir / "python-export.csv"
    seconds = timed(lambda: python_export(bench.conninfo, fresh.org_id, target))
    target.unlink()
    return seconds


@dataclass
class Sized:
    """The figures of one size."""

    rows: int
    service: Series
    export: Series
    psql: Series
    python: Series
    first_part: Series
    service_cpu: list[float]
    export_cpu: list[float]
    psql_cpu: list[float]
    parts: set[int]


def _measure(bench: Bench, base: str, rows: int, *, python: bool) -> Sized:
    sized = Sized(
        rows,
        Series("pond serve: POST → every part complete"),
        Series("pond export (a fresh process): token → verified files"),
        Series("psql \\copy (SELECT ...) TO file"),
        Series("Python: named cursor, fetchmany(10000), csv.writer"),
        Series("pond serve: POST → first part downloadable"),
        [],
        [],
        [],
        set(),
    )

    def service() -> float:
        fresh = fresh_rows(bench, rows)
        before = busy_cpu()
        result = run_service(base, fresh)
        sized.service_cpu.append(busy_cpu() - before)
        sized.parts.add(result.parts)
        sized.first_part.values.append(result.first_part)
        return result.seconds

    def export() -> float:
        fresh = fresh_rows(bench, rows)
        before = busy_cpu()
        seconds = run_pond_export(base, fresh, bench.work_dir / "pond-export")
        sized.export_cpu.append(busy_cpu() - before)
        return seconds

    def psql() -> float:
        fresh = fresh_rows(bench, rows)
        before = busy_cpu()
        seconds = run_psql(bench, fresh)
        sized.psql_cpu.append(busy_cpu() - before)
        return seconds

    contenders: list[tuple[Series, Callable[[], float]]] = [
        (sized.service, service),
        (sized.export, export),
        (sized.psql, psql),
    ]
    for run in range(bench.repeat):
        # Who goes first turns with each run, so that drift hits every contender alike.
        shift = run % len(contenders)
        for series, action in contenders[shift:] + contenders[:shift]:
            series.values.append(action())
            print(f"  {rows:,} rows, {series.label}: {series.values[-1]:.2f} s", flush=True)
    if python:
        for _ in range(bench.repeat):
            sized.python.values.append(run_python(bench, fresh_rows(bench, rows)))
    return sized


def _setting(sized: Sized) -> str:
    parts = ", ".join(str(p) for p in sorted(sized.parts))
    return (
        f"{sized.rows:,} rows written just before each run by `pond seed`'s writer, for that"
        " run alone; no VACUUM, no ANALYZE (autovacuum as shipped); `pond serve` with its"
        f" default settings ({parts} parts); the client long-polls (`?wait=25`)"
    )


def _cpu_note(sized: Sized, pond_cpu: list[float], pond_label: str) -> str:
    """The machine's busy CPU per run, and how long that much work lasts on these cores.

    Work that keeps the machine busy for `cpu` CPU-seconds takes at least
    `cpu / cores` seconds, however well it is spread: a floor under the ratio
    that no scheduling can beat on this machine.
    """
    cores = len(os.sched_getaffinity(0))
    cpu = statistics.median(pond_cpu)
    floor = cpu / cores / statistics.median(sized.psql.values)
    return (
        f"the whole machine's busy CPU time per run (PostgreSQL included), medians:"
        f" {pond_label} {cpu:.2f} s, psql {statistics.median(sized.psql_cpu):.2f} s;"
        f" {pond_label}'s, spread evenly over the {cores} cores, alone lasts"
        f" {floor:.2f}× psql's median time"
    )


def compare(bench: Bench) -> list[Comparison]:
    """The headline export cases at the benchmark's size, and at 2M rows when it is larger."""
    sizes = [bench.rows] + ([TIME_TO_DATA_ROWS] if bench.rows > TIME_TO_DATA_ROWS else [])
    results: list[Comparison] = []
    with default_service(bench) as base:
        measured = [_measure(bench, base, rows, python=(rows == bench.rows)) for rows in sizes]
    for sized, (case_service, case_export) in zip(
        measured, [("1", "11"), ("13", "14")], strict=False
    ):
        results.append(
            Comparison(
                case=case_service,
                title=f"Export of {sized.rows:,} fresh rows through pond serve: POST → complete,"
                " vs psql \\copy",
                pond=sized.service,
                reference=sized.psql,
                target=0.8,
                higher_is_better=False,
                ratio_meaning="pond time / psql time",
                notes=[_setting(sized), _cpu_note(sized, sized.service_cpu, "pond serve")],
            )
        )
        results.append(
            Comparison(
                case=case_export,
                title=f"Time to data, {sized.rows:,} fresh rows: a fresh `pond export`"
                " vs psql \\copy",
                pond=sized.export,
                reference=sized.psql,
                target=0.8,
                higher_is_better=False,
                ratio_meaning="pond export time / psql time",
                notes=[_setting(sized), _cpu_note(sized, sized.export_cpu, "pond export")],
            )
        )
    full = measured[0]
    results.append(
        Comparison(
            case="2",
            title="Export of fresh rows through pond serve vs a plain Python exporter",
            pond=full.service,
            reference=full.python,
            target=7.0,
            higher_is_better=True,
            ratio_meaning="Python time / pond time (speed-up)",
            notes=[_setting(full)],
        )
    )
    first = full.first_part
    results.append(
        Comparison(
            case="12",
            title=f"POST → first part downloadable, {full.rows:,} fresh rows",
            pond=first,
            reference=None,
            target=None,
            higher_is_better=False,
            ratio_meaning="seconds (no reference)",
            notes=[
                "a client polling `?details=true` every 100 ms sees the first part listed"
                " with its link"
            ],
            limits=[(f"median < {FIRST_PART_TARGET:g} s", first.median < FIRST_PART_TARGET)],
        )
    )
    return results

"""Case 21: pond at scale: 20M events over 1,000 organisations, 10,000 snapshots.

Not one of `make bench`'s cases (seeding alone takes minutes): `make bench-scale`
runs it (`python -m benchmarks --cases scale`; `--quick` for a twentieth of
everything, `--scale-events N` for another size).

Two databases on the benchmark's PostgreSQL server, each with its own `pond
serve` on its default settings: the *large* one holds 20M events of 1,000
organisations and 10,000 snapshots, the *small* one 1M events and 100
snapshots. The measured tenant holds the same 100,000 events in both. Every
figure alternates runs between the two (or, for retention, between a run with
a sweep and one without), so that the drift of a shared machine hits both:

- the tenant's export of its whole range: POST, then long-poll until complete;
- the p99 of `GET /insights/snapshots/{id}` (one of its snapshots, two parts)
  and of the list (`GET /insights/snapshots?limit=20`, a full page in both),
  under `CLIENTS` clients of `benchmarks.load`;
- retention, on the large one: as many due snapshots as the table holds, with
  their files, swept by that server's own maintenance job while the load
  generator GETs, against the same load with nothing to sweep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks import scale_data
from benchmarks.environment import Bench
from benchmarks.export_case import Fresh, default_service, run_service
from benchmarks.load import Load, generator
from benchmarks.measure import Comparison, Series, alternate, timed
from benchmarks.scale_data import Size
from benchmarks.serving import SCOPE
from pond.db import embedded
from pond.db.migrate import upgrade
from pond.jobs import queue

CLIENTS = 8
LIST_LIMIT = 20
TARGET = 1.25  # large / small, for the export and for both p99s
SWEEP_LIMIT = 60.0  # seconds: a sweep ends before the next maintenance run begins
STALL_LIMIT = 0.250  # the GET p99 while a sweep runs
SWEEP_LEAD = 1.5  # seconds between starting the load generator and the sweep
POLL_SECONDS = 0.05


@dataclass
class Table:
    """One database of the case, its data, and the `pond serve` in front of it."""

    name: str
    conninfo: str
    events: int
    snapshots: int
    seed_seconds: float
    vacuum_seconds: float
    tenant: Fresh
    target: uuid.UUID  # the snapshot whose GET is measured
    base: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def sign_in(self) -> None:
        """A fresh token of the tenant's client (a full-size run outlasts one)."""
        answer = httpx.post(
            f"{self.base}/oauth2/token",
            auth=(self.tenant.client_id, self.tenant.client_secret),
            data={"grant_type": "client_credentials", "scope": SCOPE},
        )
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}


def build(bench: Bench, name: str, events: int, snapshots: int, size: Size) -> Table:
    """A fresh database `name` with `events` events and `snapshots` snapshots, vacuumed."""
    database = f"bench_scale_{name}"
    embedded.ensure_database(bench.root_conninfo, database)
    conninfo = bench.database(database)
    upgrade(conninfo)
    print(
        f"  {name}: seeding {events:,} events of {size.organisations:,} organisations", flush=True
    )
    seed_seconds = scale_data.seed_events(conninfo, events, size)
    tenant = scale_data.add_clients(conninfo)
    ids = scale_data.add_snapshots(conninfo, snapshots)

    def vacuum() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    vacuum_seconds = timed(vacuum)
    print(
        f"  {name}: seeded in {seed_seconds:.1f} s, vacuumed in {vacuum_seconds:.1f} s", flush=True
    )
    target = ids[scale_data.GET_TARGET]
    return Table(name, conninfo, events, snapshots, seed_seconds, vacuum_seconds, tenant, target)


@contextlib.contextmanager
def serving(bench: Bench, table: Table) -> Iterator[Table]:
    with default_service(dataclasses.replace(bench, conninfo=table.conninfo), table.name) as base:
        table.base = base
        table.sign_in()
        yield table


def _milliseconds(load: Load) -> float:
    return load.p99 * 1000


def _loads(
    bench: Bench, size: Size, large: Table, small: Table, path: str
) -> tuple[Series, Series]:
    """The p99 (ms) of `path` on both tables, runs alternating."""
    load = generator(CLIENTS)
    label = f"GET {path}"
    figures = (
        Series(f"{label} p99, {large.snapshots:,} snapshots", unit="ms"),
        Series(f"{label} p99, {small.snapshots:,} snapshots", unit="ms"),
    )

    def run(table: Table) -> float:
        url = f"{table.base}{path.format(id=table.target)}"
        return _milliseconds(load(url, table.headers, size.load_seconds))

    alternate(
        bench.repeat,
        (figures[0], lambda _: run(large)),
        (figures[1], lambda _: run(small)),
        warm_up=True,
    )
    return figures


def _trigger_maintenance(conninfo: str) -> int:
    """Queue the periodic maintenance job now, as its schedule does every minute; its id."""
    with psycopg.connect(conninfo) as conn:
        [job] = queue.defer(
            conn, "maintenance", "pond.maintenance", {"timestamp": int(time.time())}
        )
    return job


def _job_done(conn: psycopg.Connection[tuple[Any, ...]], job: int) -> bool:
    """Whether the job has ended (one row read: the poll must not load the server)."""
    row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job,)).fetchone()
    if row is not None and row[0] == "failed":
        raise RuntimeError("the maintenance job failed; see the server's log")
    return row is not None and row[0] == "succeeded"


def _away_from_the_minute(seconds: float) -> None:
    """Wait until the next `seconds` hold no minute boundary, when the periodic job runs."""
    now = datetime.now(UTC)
    into = now.second + now.microsecond / 1e6
    if into < 2 or into + seconds > 58:
        time.sleep(60 - into + 2)


@dataclass
class Sweeps:
    seconds: Series  # each sweep, from its job being queued until none is left
    during: Series  # the GET p99 of a load run with a sweep in it
    quiet: Series  # the same without
    alone: float = 0.0  # the first sweep, with no load
    window: int = 0  # seconds of each load run


def _due(table: Table, objects: Path) -> list[uuid.UUID]:
    """`table.snapshots` snapshots with their files, due for retention a second from now
    (the periodic job must not take them before the case does)."""
    ids = scale_data.add_snapshots(table.conninfo, table.snapshots, due=True)
    scale_data.write_files(objects, ids)
    _away_from_the_minute(SWEEP_LEAD + 5)
    scale_data.make_due(table.conninfo, ids)
    return ids


def _sweep(table: Table, objects: Path, ids: list[uuid.UUID]) -> float:
    """Have the server's maintenance job sweep the due `ids`: the seconds from queueing
    the job until none of them is left."""
    with psycopg.connect(table.conninfo, autocommit=True) as conn:
        started = time.perf_counter()
        job = _trigger_maintenance(table.conninfo)
        while not _job_done(conn, job):
            time.sleep(POLL_SECONDS)
        # The periodic run may have taken the sweep first: this one then ends at once.
        while scale_data.remaining(table.conninfo, ids):
            time.sleep(POLL_SECONDS * 5)
        seconds = time.perf_counter() - started
    if any((objects / str(sid)).exists() for sid in ids):
        raise RuntimeError("retention marked snapshots expired and left their files")
    return seconds


def _window(alone: float) -> int:
    """Whole seconds of a load run that holds a sweep that took `alone` seconds with no load,
    started `SWEEP_LEAD` seconds in, even if the load makes it twice as slow."""
    return max(2, math.ceil(SWEEP_LEAD + 2 * alone) + 1)


def _sweeps(bench: Bench, table: Table, objects: Path) -> Sweeps:
    load = generator(CLIENTS)
    found = Sweeps(
        Series(f"retention sweep of {table.snapshots:,} due snapshots"),
        Series("GET snapshot p99 while the sweep runs", unit="ms"),
        Series("GET snapshot p99, nothing to sweep", unit="ms"),
    )
    found.alone = _sweep(table, objects, _due(table, objects))
    found.window = _window(found.alone)
    url = f"{table.base}/insights/snapshots/{table.target}"

    def during(_: int) -> float:
        due = _due(table, objects)
        loaded: list[Load] = []
        runner = threading.Thread(
            target=lambda: loaded.append(load(url, table.headers, found.window))
        )
        runner.start()
        time.sleep(SWEEP_LEAD)
        found.seconds.values.append(_sweep(table, objects, due))
        runner.join()
        if not loaded:
            raise RuntimeError("the load generator failed while retention swept")
        return _milliseconds(loaded[0])

    def quiet(_: int) -> float:
        return _milliseconds(load(url, table.headers, found.window))

    alternate(bench.repeat, (found.during, during), (found.quiet, quiet))
    return found


def _export_seconds(table: Table) -> float:
    """The seconds from creation to completion of the tenant's newest snapshot, by the
    database's clock: the client sees the end only at its next long-poll wake-up."""
    with psycopg.connect(table.conninfo) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM completed_at - created_at) FROM snapshots"
            " WHERE org_id = %s AND state = 'complete' ORDER BY created_at DESC LIMIT 1",
            (table.tenant.org_id,),
        ).fetchone()
    assert row is not None
    return float(row[0])


def _listed(numbers: set[int]) -> str:
    return " or ".join(str(n) for n in sorted(numbers))


def _ratio(pair: tuple[Series, Series]) -> float:
    return pair[0].median / pair[1].median


def compare(bench: Bench) -> list[Comparison]:
    size = Size.for_events(bench.scale_events)
    began = datetime.now(UTC).strftime("%Y-%m-%d")
    load_before = os.getloadavg()[0]
    large = build(bench, "large", size.events, size.snapshots, size)
    small = build(bench, "small", size.small_events, size.small_snapshots, size)
    rows = f"the tenant's {size.tenant_rows:,} events"
    exports = (
        Series(f"export of {rows}, {large.events:,} in the table: POST → complete, server clock"),
        Series(f"export of {rows}, {small.events:,} in the table: POST → complete, server clock"),
    )
    seen = (
        Series(f"the same, {large.events:,}: as the long-polling client saw it"),
        Series(f"the same, {small.events:,}: as the long-polling client saw it"),
    )
    parts: dict[str, set[int]] = {large.name: set(), small.name: set()}

    def export(table: Table, run: int) -> float:
        done = run_service(table.base, table.tenant)
        parts[table.name].add(done.parts)
        if run >= 0:  # not the warm-up
            seen[0 if table is large else 1].values.append(done.seconds)
        return _export_seconds(table)

    with serving(bench, large), serving(bench, small):
        print("  exports ...", flush=True)
        alternate(
            bench.repeat,
            (exports[0], lambda run: export(large, run)),
            (exports[1], lambda run: export(small, run)),
            warm_up=True,
        )
        print("  snapshot GET and list ...", flush=True)
        get = _loads(bench, size, large, small, "/insights/snapshots/{id}")
        listed = _loads(bench, size, large, small, f"/insights/snapshots?limit={LIST_LIMIT}")
        print("  retention ...", flush=True)
        large.sign_in()
        sweeps = _sweeps(bench, large, bench.work_dir / large.name / "objects")
    tenants = scale_data.organisation_rows(size.events - size.tenant_rows, size.organisations - 1)
    sweep_median = statistics.median(sweeps.seconds.values)
    during, quiet = sweeps.during.median, sweeps.quiet.median
    notes = [
        f"measured on {began}: {large.events:,} events of {size.organisations:,} organisations"
        f" (the others hold {max(tenants.values()):,} down to {min(tenants.values()):,},"
        f" sized 1/rank) and {large.snapshots:,} snapshots, against {small.events:,} events and"
        f" {small.snapshots:,} snapshots; the tenant's {size.tenant_rows:,} events are the same"
        f" rows in both; load average {load_before:.1f} at the start and"
        f" {os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores",
        f"seeding the large table with pond's seeding path (binary COPY, many organisations per"
        f" COPY): {large.seed_seconds:.1f} s, {large.events / large.seed_seconds:,.0f} events/s;"
        f" then VACUUM ANALYZE {large.vacuum_seconds:.1f} s (the small table:"
        f" {small.seed_seconds:.1f} s and {small.vacuum_seconds:.1f} s)",
        "the export: POST, then long-poll until complete, through `pond serve` with its default"
        " settings, runs alternating between the tables after a warm-up of each; it reads the"
        " tenant's rows by the (org_id, created_at, id) index and plans its parts from a sample"
        " of at most 256 pages, so the other tenants' rows cost it only a deeper index;"
        " the ratio is of the database's own times (creation to completion), as a waiting"
        " client learns of the end only when its long-poll next looks;"
        f" parts per export: {_listed(parts[large.name])} at {large.events:,} events,"
        f" {_listed(parts[small.name])} at {small.events:,}"
        + (
            "; the plans differ (the sample of the larger table holds fewer of the tenant's"
            " rows, and a snapshot estimated under 100,000 rows is one part), so the ratio"
            " also weighs one plan against the other"
            if parts[large.name] != parts[small.name]
            else ""
        ),
        f"GET and list: {CLIENTS} clients ({generator(CLIENTS).description}), runs of"
        f" {size.load_seconds} s alternating between the tables after a warm-up of each, each"
        f" figure the run's own p99; large / small: GET {_ratio(get):.2f}×, list"
        f" {_ratio(listed):.2f}× (a page of {LIST_LIMIT} of the tenant's snapshots, their parts"
        " signed)",
        f"retention: {large.snapshots:,} due snapshots of two files each, swept by the large"
        f" server's own maintenance job: {sweeps.alone:.1f} s with no load, {sweep_median:.1f} s"
        f" within load runs of {sweeps.window} s (starting {SWEEP_LEAD:g} s in; the longest"
        f" took {max(sweeps.seconds.values):.1f} s); the GET p99 of those runs {during:.1f} ms"
        f" against {quiet:.1f} ms in runs as long with nothing to sweep",
    ]
    return [
        Comparison(
            case="21",
            title=f"Scale: {size.events:,} events of {size.organisations:,} organisations,"
            f" {size.snapshots:,} snapshots",
            pond=exports[0],
            reference=exports[1],
            target=TARGET,
            higher_is_better=False,
            ratio_meaning=f"export time at {large.events:,} events / at {small.events:,}",
            notes=notes,
            limits=[
                (f"GET p99 ≤ {TARGET:g}×", _ratio(get) <= TARGET),
                (f"list p99 ≤ {TARGET:g}×", _ratio(listed) <= TARGET),
                (
                    f"sweep of {large.snapshots:,} ≤ {SWEEP_LIMIT:g} s",
                    sweep_median <= SWEEP_LIMIT,
                ),
                (
                    f"GET p99 while it runs ≤ {STALL_LIMIT * 1000:g} ms",
                    during <= STALL_LIMIT * 1000,
                ),
            ],
            series=[*seen, *get, *listed, sweeps.seconds, sweeps.during, sweeps.quiet],
        )
    ]

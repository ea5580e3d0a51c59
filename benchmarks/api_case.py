"""Cases 4 and 8: the API's own latency, on a `pond serve` process of the benchmark's own.

Case 4 has no reference tool: the time from POST to complete of a small
snapshot is judged against its targets directly. Case 8 compares the
authenticated snapshot GET with `/healthz` on the same server, under the same
load of concurrent clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import httpx

from benchmarks.environment import END, START, Bench
from benchmarks.measure import Comparison, Series, alternate, percentile
from benchmarks.serving import POLL_SECONDS, serve

SMALL_ROWS = 27_000  # the seed document's example
CLIENTS = 32
P50_LIMIT, P99_LIMIT = 0.300, 1.0
GET_P99_LIMIT = 0.050


def small_snapshot(bench: Bench) -> list[Comparison]:
    """Case 4: POST to complete of a ~27,000-row snapshot, `bench.latency_runs` times."""
    end = START + (END - START) * min(1.0, SMALL_ROWS / bench.rows)
    runs = Series("POST to every part complete")
    with serve(bench, "serve-small") as api, httpx.Client(timeout=30) as http:
        rows = 0
        for run in range(-1, bench.latency_runs):  # run -1 is a warm-up
            started = time.perf_counter()
            response = http.post(
                f"{api.base}/insights/snapshots",
                headers=api.headers,
                data={"created_at_from": START.isoformat(), "created_at_to": end.isoformat()},
            )
            response.raise_for_status()
            items = api.wait(response.json()["snapshot"]["href"], http)
            if run >= 0:
                runs.values.append(time.perf_counter() - started)
            rows = sum(int(str(item["count"])) for item in items)
    p50, p99 = percentile(runs.values, 0.5), percentile(runs.values, 0.99)
    return [
        Comparison(
            case="4",
            title=f"Small snapshot ({rows:,} rows): POST to complete, p50 and p99",
            pond=runs,
            reference=None,
            target=None,
            higher_is_better=False,
            ratio_meaning="the latencies are judged against the targets directly",
            notes=[
                f"{len(runs.values)} snapshots of the same {rows:,} rows, one after another, after"
                f" one warm-up; p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (nearest rank)",
                f"the client polls the snapshot every {POLL_SECONDS * 1000:g} ms, so each figure"
                " includes up to that much waiting",
            ],
            limits=[
                (f"p50 ≤ {P50_LIMIT * 1000:g} ms", p50 <= P50_LIMIT),
                (f"p99 ≤ {P99_LIMIT:g} s", p99 <= P99_LIMIT),
            ],
        )
    ]


async def _load(url: str, headers: dict[str, str], requests: int) -> tuple[float, list[float]]:
    """`requests` GETs of `url` by `CLIENTS` concurrent clients: seconds, and each latency.

    Each client is its own `httpx.AsyncClient` with one keep-alive connection: one
    client shared by all tasks spends more time in its connection pool than the
    server spends answering (about 4x fewer requests/s here).
    """
    latencies: list[float] = []
    remaining = requests

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            began = time.perf_counter()
            answer = await http.get(url)
            latencies.append(time.perf_counter() - began)
            if answer.status_code != 200:
                raise RuntimeError(f"GET {url} answered {answer.status_code}")

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(headers=headers, timeout=30))
            for _ in range(CLIENTS)
        ]
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for http in clients))
        return time.perf_counter() - started, latencies


def authenticated_get(bench: Bench) -> list[Comparison]:
    """Case 8: snapshot GET against /healthz, `CLIENTS` at once, `bench.requests` each run."""
    end = START + (END - START) * min(1.0, SMALL_ROWS / bench.rows)
    latencies: dict[str, list[float]] = {"pond": [], "healthz": []}
    with serve(bench, "serve-get") as api:
        href = api.create(START, end)
        parts = len(api.wait(href))
        targets = {"pond": href, "healthz": f"{api.base}/healthz"}

        def run(name: str, number: int) -> float:
            count = max(CLIENTS, bench.requests // 10) if number < 0 else bench.requests
            seconds, times = asyncio.run(_load(targets[name], api.headers, count))
            if number >= 0:
                latencies[name] += times
            return seconds

        pond = Series(f"GET snapshot (bearer token, {parts} part link(s) signed)")
        healthz = Series("GET /healthz (trivial JSON)")
        alternate(
            bench.repeat,
            (pond, lambda n: run("pond", n)),
            (healthz, lambda n: run("healthz", n)),
            warm_up=True,
        )
    p99 = percentile(latencies["pond"], 0.99)
    healthz_p99 = percentile(latencies["healthz"], 0.99)
    rate = {
        name: bench.requests / series.median
        for name, series in [("pond", pond), ("healthz", healthz)]
    }
    return [
        Comparison(
            case="8",
            title=f"Authenticated snapshot GET vs a trivial JSON route, {CLIENTS} clients",
            pond=pond,
            reference=healthz,
            target=0.5,
            higher_is_better=True,
            ratio_meaning="snapshot GET requests/s / healthz requests/s",
            notes=[
                f"{bench.requests:,} requests per run from {CLIENTS} concurrent clients"
                " (httpx.AsyncClient, one keep-alive connection each) in one process; the figures"
                " are seconds per run, after one shorter warm-up run of each",
                f"requests/s (median): snapshot GET {rate['pond']:,.0f},"
                f" healthz {rate['healthz']:,.0f}",
                f"latency p99: snapshot GET {p99 * 1000:.1f} ms,"
                f" healthz {healthz_p99 * 1000:.1f} ms",
                *(
                    [
                        f"the trivial route's own p99 ({healthz_p99 * 1000:.1f} ms) is over the"
                        f" {GET_P99_LIMIT * 1000:g} ms limit too: the load generator (one Python"
                        f" process, {CLIENTS} clients) and the server share the machine's"
                        f" {os.cpu_count()} cores, and its tail is the scheduler's, not the route's"
                    ]
                    if healthz_p99 > GET_P99_LIMIT
                    else []
                ),
            ],
            limits=[(f"p99 ≤ {GET_P99_LIMIT * 1000:g} ms", p99 <= GET_P99_LIMIT)],
        )
    ]

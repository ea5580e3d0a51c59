"""Cases 4 and 8: the API's own latency, on a `pond serve` process of the benchmark's own.

Case 4 has no reference tool: the time from POST to complete of a small
snapshot is judged against its targets directly. Case 8 compares the
authenticated snapshot GET with `/healthz` on the same server, under the same
load of concurrent clients.
"""

from __future__ import annotations

import math
import os
import statistics
import time

import httpx

from benchmarks.environment import END, START, Bench
from benchmarks.load import Load, generator
from benchmarks.measure import Comparison, Series, alternate, percentile
from benchmarks.serving import POLL_SECONDS, serve

SMALL_ROWS = 27_000  # the seed document's example
CLIENTS = 32
P50_LIMIT, P99_LIMIT = 0.300, 1.0
GET_P99_LIMIT = 0.050
# Case 8 runs with the shared per-client rate limit on, at a rate no run reaches:
# every GET is counted in PostgreSQL, none is refused.
RATE_LIMIT_PER_MINUTE = 100_000_000
WARM_UP_SECONDS = 1  # case 8: each route's first run, which also sets the runs' length


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


def _run_seconds(requests: int, warm_up_rates: dict[str, float]) -> int:
    """Whole seconds (wrk takes no less) in which the slower route serves about `requests`."""
    return max(1, math.ceil(requests / min(warm_up_rates.values())))


def _milliseconds(values: list[float]) -> str:
    return ", ".join(f"{value * 1000:.1f}" for value in values)


def authenticated_get(bench: Bench) -> list[Comparison]:
    """Case 8: snapshot GET against /healthz, `CLIENTS` at once, about `bench.requests` a run.

    Each run lasts the same whole seconds for both routes: what the slower one needs
    for `bench.requests` requests at its warm-up rate. A run's figure is seconds per
    1,000 requests, so the ratio of the medians is one of requests/s.
    """
    end = START + (END - START) * min(1.0, SMALL_ROWS / bench.rows)
    load = generator(CLIENTS)
    warm_up_rates: dict[str, float] = {}
    loads: dict[str, list[Load]] = {"pond": [], "healthz": []}
    rate_limit = {"POND_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE)}
    with serve(bench, "serve-get", settings=rate_limit) as api:
        href = api.create(START, end)
        parts = len(api.wait(href))
        targets = {"pond": href, "healthz": f"{api.base}/healthz"}

        def run(name: str, number: int) -> float:
            if number < 0:
                done = load(targets[name], api.headers, WARM_UP_SECONDS)
                warm_up_rates[name] = done.rate
            else:
                done = load(targets[name], api.headers, _run_seconds(bench.requests, warm_up_rates))
                loads[name].append(done)
            return 1000 / done.rate

        pond = Series(
            f"GET snapshot (bearer token, {parts} part link(s) signed), per 1,000 requests"
        )
        healthz = Series("GET /healthz (trivial JSON), per 1,000 requests")
        alternate(
            bench.repeat,
            (pond, lambda n: run("pond", n)),
            (healthz, lambda n: run("healthz", n)),
            warm_up=True,
        )
    seconds = _run_seconds(bench.requests, warm_up_rates)
    p99s = {name: [done.p99 for done in runs] for name, runs in loads.items()}
    p99 = {name: statistics.median(values) for name, values in p99s.items()}
    rate = {name: statistics.median(done.rate for done in runs) for name, runs in loads.items()}
    served = {
        name: statistics.median(done.requests for done in runs) for name, runs in loads.items()
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
                f"load generator: {load.description}, each sending its next GET as soon as"
                " the last answer is in; any answer but 200 fails the case",
                f"the shared rate limit is on (POND_RATE_LIMIT_PER_MINUTE="
                f"{RATE_LIMIT_PER_MINUTE:,}, more than any run asks): every snapshot GET is"
                " counted in PostgreSQL by the statement that reads its batch of GETs",
                f"each run lasts {seconds} s for both routes, the whole seconds the slower"
                f" route needs for {bench.requests:,} requests at its rate in a"
                f" {WARM_UP_SECONDS} s warm-up run of each; requests per run (median):"
                f" snapshot GET {served['pond']:,.0f}, healthz {served['healthz']:,.0f};"
                " the figures are seconds per 1,000 requests",
                f"requests/s (median): snapshot GET {rate['pond']:,.0f},"
                f" healthz {rate['healthz']:,.0f}",
                f"latency p99, the median of the runs' own p99s: snapshot GET"
                f" {p99['pond'] * 1000:.1f} ms (runs: {_milliseconds(p99s['pond'])}),"
                f" healthz {p99['healthz'] * 1000:.1f} ms"
                f" (runs: {_milliseconds(p99s['healthz'])})",
                f"with {CLIENTS} requests always in flight, the mean latency is {CLIENTS} ÷"
                f" requests/s (Little's law): {CLIENTS / rate['pond'] * 1000:.1f} ms for the"
                " snapshot GET",
                *(
                    [
                        f"the trivial route's own p99 ({p99['healthz'] * 1000:.1f} ms) is over the"
                        f" {GET_P99_LIMIT * 1000:g} ms limit too: the load generator, the"
                        " server and whatever else runs share the machine's"
                        f" {os.cpu_count()} cores, and its tail is the scheduler's, not the"
                        " route's"
                    ]
                    if p99["healthz"] > GET_P99_LIMIT
                    else []
                ),
            ],
            limits=[(f"p99 ≤ {GET_P99_LIMIT * 1000:g} ms", p99["pond"] <= GET_P99_LIMIT)],
        )
    ]

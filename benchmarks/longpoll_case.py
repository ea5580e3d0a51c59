"""Case 20: many long-polls waiting while exports and other requests run.

An API process (`pond serve --no-worker`) and a `pond worker` share the benchmark
database. Four snapshots are *running*: real export jobs, claimed by the worker,
held at their first read of their table (an operator entity, `bench_held`) by a
lock the benchmark keeps, as a long migration would, so that they stay running
for as long as the case needs whatever the size of the data. Meanwhile a client
sends a token request, a snapshot GET, a snapshot POST (a real export of an hour
of events, which the worker's other slots run) and `/healthz`, each at a fixed
pace, so their own share of the database's work does not change.

For each number of waiters (none, a few, many), that many connections long-poll
(`GET ?wait=25`) the four snapshots, asking again at once when an answer comes.
Once every long-poll is sent and has settled, the case counts the database's
transactions (`pg_stat_database`: every statement outside a transaction is one)
over a window, and times the other requests sent in it. At the end the lock is
released: the four exports finish, and the case times how long after that every
waiter had its answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import psycopg

from benchmarks.environment import START, Bench
from benchmarks.longpoll_clients import KINDS, Others, Sample, Waiters
from benchmarks.measure import Comparison, Series, percentile
from benchmarks.serving import SCOPE, free_port, process

WATCHED = 4
WAIT = 25
P99_LIMIT = 0.250
GROWTH_LIMIT = 1.25
OTHERS_PER_SECOND = 5  # of each kind
# Time for every long-poll of a phase to arrive and for one sweep of the listener
# (every 5 s) to pass before a window. Waiters of the last phase that hung up
# linger, reading nothing, until their wait ends.
SETTLE_SECONDS = 6.0
HELD = {"table": "bench_held", "columns": ["id", "created_at"]}


def waiter_counts(bench: Bench) -> tuple[int, int]:
    """A few and many waiters: 100 and 1,000, or a tenth of that for a tiny run."""
    return (100, 1000) if bench.requests >= 1000 else (10, 100)


def window_seconds(bench: Bench) -> float:
    """10 s at full size, 5 s at the quick size, 1 s for the tiny runs that test the harness."""
    return 1.0 if bench.requests < 1000 else max(5.0, min(10.0, bench.requests / 1000))


def settle_seconds(bench: Bench) -> float:
    """`SETTLE_SECONDS`, or 1 s for the tiny runs that test the harness."""
    return SETTLE_SECONDS if bench.requests >= 1000 else 1.0


@dataclass(frozen=True)
class Api:
    base: str
    headers: dict[str, str]


def _env(bench: Bench) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    data_dir = bench.work_dir / "longpoll"
    data_dir.mkdir(exist_ok=True)
    env.update(
        POND_DATABASE_URL=bench.conninfo,
        POND_DATA_DIR=str(data_dir),
        POND_LOG_FORMAT="json",
        POND_MAX_ACTIVE_SNAPSHOTS="0",
        POND_ENTITIES=json.dumps({"held": HELD}),
    )
    return env


@contextlib.contextmanager
def service(bench: Bench) -> Iterator[Api]:
    """The API process and a worker with four slots for the held exports and two more."""
    env = _env(bench)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = [sys.executable, "-m", "pond", "serve", "--no-worker", "--port", str(port)]
    worker = [sys.executable, "-m", "pond", "worker", "--concurrency", str(WATCHED + 2)]
    logs = bench.work_dir
    with (
        process(api, env, logs / "longpoll-api.log", f"{base}/healthz"),
        process(worker, env, logs / "longpoll-worker.log", f"{base}/healthz"),
    ):
        token = httpx.post(
            f"{base}/oauth2/token",
            auth=(bench.client_id, bench.client_secret),
            data={"grant_type": "client_credentials", "scope": SCOPE},
        ).json()["access_token"]
        yield Api(base, {"Authorization": f"Bearer {token}"})


def _create(api: Api, entity: str, hours: int = 1) -> str:
    end = START + timedelta(hours=hours)
    answer = httpx.post(
        f"{api.base}/insights/snapshots",
        headers=api.headers,
        data={
            "entity": entity,
            "created_at_from": START.isoformat(),
            "created_at_to": end.isoformat(),
        },
    )
    answer.raise_for_status()
    return str(answer.json()["snapshot"]["href"])


def _state(api: Api, href: str) -> str:
    return str(httpx.get(href, headers=api.headers).json()["items"][0]["state"])


def _until(api: Api, hrefs: list[str], states: set[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while {_state(api, href) for href in hrefs} - states:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the benchmark snapshots did not all become {states}")
        time.sleep(0.1)


def _transactions(conn: psycopg.Connection[Any]) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database"
        " WHERE datname = current_database()"
    ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class Window:
    waiters: int
    transactions_per_second: float
    began: float
    ended: float


def _phase(
    conn: psycopg.Connection[Any],
    api: Api,
    hrefs: list[str],
    count: int,
    seconds: float,
    settle: float,
) -> Window:
    """`count` waiters (none: 0) for a settling time and a measured window."""
    waiters = (
        Waiters(hrefs, api.headers["Authorization"].split()[1], count, WAIT) if count else None
    )
    if waiters is not None:
        waiters.start()
    try:
        time.sleep(settle)
        before, began = _transactions(conn), time.monotonic()
        time.sleep(seconds)
        after, ended = _transactions(conn), time.monotonic()
    finally:
        seen = waiters.stop() if waiters is not None else None
    if seen is not None and (seen.errors or set(seen.answers) - {"running"}):
        raise RuntimeError(f"unexpected long-poll answers: {seen.answers} {seen.errors[:1]}")
    return Window(count, (after - before) / (ended - began), began, ended)


def _p99s(samples: list[Sample], windows: list[Window]) -> dict[str, float]:
    inside = [s for s in samples if any(w.began <= s.started < w.ended for w in windows)]
    return {kind: percentile([s.seconds for s in inside if s.kind == kind], 0.99) for kind in KINDS}


def compare(bench: Bench) -> list[Comparison]:
    few, many = waiter_counts(bench)
    seconds, settle = window_seconds(bench), settle_seconds(bench)
    with psycopg.connect(bench.conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_held"
            " (id bigint PRIMARY KEY, org_id bigint NOT NULL, created_at timestamptz NOT NULL)"
        )
    holder = psycopg.connect(bench.conninfo)
    try:
        with service(bench) as api, psycopg.connect(bench.conninfo, autocommit=True) as stats:
            # Plain GETs read a complete snapshot: its parts are signed at every answer.
            complete = _create(api, "event")
            _until(api, [complete], {"complete"})
            holder.execute("LOCK TABLE bench_held IN ACCESS EXCLUSIVE MODE")
            hrefs = [_create(api, "held") for _ in range(WATCHED)]
            _until(api, hrefs, {"running"})
            post = {
                "created_at_from": START.isoformat(),
                "created_at_to": (START + timedelta(hours=1)).isoformat(),
            }
            others = Others(
                api.base, (bench.client_id, bench.client_secret), complete, post, OTHERS_PER_SECOND
            )
            others.start()
            try:
                baseline = _phase(stats, api, hrefs, 0, seconds, settle)
                windows: list[Window] = []
                for run in range(bench.repeat):
                    for count in (few, many) if run % 2 == 0 else (many, few):
                        windows.append(_phase(stats, api, hrefs, count, seconds, settle))
                # The end: every waiter is answered once the exports finish.
                waiters = Waiters(hrefs, api.headers["Authorization"].split()[1], many, WAIT)
                waiters.start()
                time.sleep(settle)
                released = time.monotonic()
                holder.rollback()
                woken = waiters.finish(timeout=WAIT + 30)
            finally:
                samples = others.stop()
    finally:
        holder.close()
        with psycopg.connect(bench.conninfo, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_held")
    return [_result(baseline, windows, samples, woken, released, few, many, (seconds, settle))]


def _result(
    baseline: Window,
    windows: list[Window],
    samples: list[Sample],
    woken: Any,
    released: float,
    few: int,
    many: int,
    timing: tuple[float, float],
) -> Comparison:
    seconds, settle = timing
    rates = {
        count: Series(f"{count:,} long-polls waiting", unit="transactions/s")
        for count in (few, many)
    }
    for window in windows:
        rates[window.waiters].values.append(window.transactions_per_second)
    p99 = {
        count: _p99s(samples, [w for w in windows if w.waiters == count]) for count in (few, many)
    }
    answered = sum(woken.answers.values())
    complete = woken.answers.get("complete", 0)
    wake = (woken.last_complete - released) if woken.last_complete is not None else float("nan")
    return Comparison(
        case="20",  # after the typed formats (15-18) and the token endpoint (19)
        title=f"{many:,} long-polls waiting: the database's work and everyone else's latency",
        pond=rates[many],
        reference=rates[few],
        target=GROWTH_LIMIT,
        higher_is_better=False,
        ratio_meaning=(
            f"database transactions/s with {many:,} long-polls waiting / with {few:,} waiting"
        ),
        notes=[
            f"{WATCHED} running snapshots (real export jobs held by a lock on their table),"
            f" {many:,} or {few:,} connections long-polling them (`GET ?wait={WAIT}`), an API"
            " process (`pond serve --no-worker`) and a `pond worker`, on the benchmark database",
            f"meanwhile, {OTHERS_PER_SECOND} a second each: a token, a snapshot GET, a snapshot"
            " POST (a real export of an hour of events) and `/healthz`",
            f"transactions/s counted over {seconds:g} s windows after {settle:g} s of"
            f" settling: with no waiter {baseline.transactions_per_second:,.0f}; with {few:,}"
            f" {statistics.median(rates[few].values):,.0f}, with {many:,}"
            f" {statistics.median(rates[many].values):,.0f} (medians); reading every snapshot"
            f" every 250 ms per waiter, as pond did before, would add about {many * 4:,} a second",
            *(
                f"p99 with {count:,} waiting: "
                + ", ".join(f"{kind} {p99[count][kind] * 1000:.0f} ms" for kind in KINDS)
                for count in (few, many)
            ),
            f"the lock released, the {WATCHED} exports finished and all {complete:,} of"
            f" {many:,} waiters had `complete` {wake * 1000:,.0f} ms later ({answered:,} answers"
            " in all)",
        ],
        limits=[
            (f"{kind} p99 ≤ {P99_LIMIT * 1000:g} ms", p99[many][kind] <= P99_LIMIT)
            for kind in KINDS
        ]
        + [(f"every waiter answered `complete` ({complete:,}/{many:,})", complete == many)],
    )

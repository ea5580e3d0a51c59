"""A cluster on one machine: an API process and several `pond worker` processes on one
PostgreSQL, with workers killed (SIGKILL) while they export. Nothing may be lost or doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import free_port
from tests.integration.helpers import (
    FROM,
    TO,
    bearer,
    expected_ids,
    exported_ids,
    token_for,
    wait_all,
)
from tests.integration.processes import service_env, start_pond, stop, wait_ready

ROUNDS = int(os.environ.get("POND_CHAOS_ROUNDS", "3"))


@dataclass
class Cluster:
    conninfo: str
    data_dir: Path
    base_url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self.data_dir / f"worker-{len(self.workers)}.log"
        worker = start_pond(["worker"], self.env, log)
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def stop(self) -> None:
        stop([*self.workers, *([self.api] if self.api else [])])


@pytest.fixture
def cluster(conninfo: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def start(workers: int, **env: str) -> Cluster:
        port = free_port()
        c = Cluster(conninfo, tmp_path, base_url=f"http://127.0.0.1:{port}")
        # The environment sets POND_MAX_ACTIVE_SNAPSHOTS=0: chaos keeps many snapshots in flight.
        c.env = service_env(conninfo, tmp_path / "data", **env)
        c.api = start_pond(
            ["serve", "--no-worker", "--port", str(port)], c.env, tmp_path / "api.log"
        )
        made.append(c)
        for _ in range(workers):
            c.start_worker()
        wait_ready(c.base_url)
        return c

    yield start
    for c in made:
        c.stop()


@pytest.mark.slow
def test_a_job_of_a_killed_worker_is_picked_up_by_another(
    cluster: Callable[..., Cluster], client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    c = cluster(1, POND_PART_MAX_ROWS="50000", POND_EXPORT_STREAMS="1")
    creds = client_credentials("acme")
    seeding.seed(
        c.conninfo, org="acme", start=parse_instant("f", FROM), end=parse_instant("t", TO),
        count=400_000,
    )  # fmt: skip
    token = token_for(c.base_url, creds)
    href = httpx.post(
        f"{c.base_url}/insights/snapshots",
        headers=bearer(token),
        data={"created_at_from": FROM, "created_at_to": TO},
    ).json()["snapshot"]["href"]
    deadline = time.monotonic() + 30
    while httpx.get(href, headers=bearer(token)).json()["items"][0]["state"] != "running":
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.02)
    [victim] = c.live_workers()
    victim.kill()
    victim.wait(10)
    killed_at = time.monotonic()
    c.start_worker()
    body = wait_all(token, [href], timeout=90)[href]
    recovered_in = time.monotonic() - killed_at
    assert exported_ids(body) == expected_ids(c.conninfo, "acme")
    with psycopg.connect(c.conninfo) as conn:
        row = conn.execute("SELECT attempts FROM snapshots").fetchone()
    assert row is not None
    assert row[0] >= 2, "the export was not run again after the kill"
    assert recovered_in < 60


@pytest.mark.slow
def test_workers_killed_at_random_lose_and_double_nothing(
    cluster: Callable[..., Cluster], client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    c = cluster(3, POND_PART_MAX_ROWS="7000")
    rng = random.Random(7)
    creds = client_credentials("acme")
    seeding.seed(
        c.conninfo, org="acme", start=parse_instant("f", FROM), end=parse_instant("t", TO),
        count=60_000,
    )  # fmt: skip
    token = token_for(c.base_url, creds)
    hrefs: list[str] = []
    for _ in range(ROUNDS):
        for _ in range(3):
            answer = httpx.post(
                f"{c.base_url}/insights/snapshots",
                headers=bearer(token),
                data={"created_at_from": FROM, "created_at_to": TO},
            )
            assert answer.status_code == 202
            hrefs.append(answer.json()["snapshot"]["href"])
        time.sleep(rng.uniform(0.05, 0.4))
        victim = rng.choice(c.live_workers())
        victim.kill()
        victim.wait(10)
        c.start_worker()
    results = wait_all(token, hrefs, timeout=60 + 10 * ROUNDS)
    expected = expected_ids(c.conninfo, "acme")
    for href in hrefs:
        assert exported_ids(results[href]) == expected, href
    objects = c.data_dir / "data" / "objects"
    leftovers = [p for p in objects.rglob("*") if p.is_file() and p.name.startswith(".staging")]
    assert leftovers == []


@pytest.mark.slow
def test_sigterm_lets_a_worker_finish_its_export_then_exit(
    cluster: Callable[..., Cluster], client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    c = cluster(1, POND_PART_MAX_ROWS="50000", POND_EXPORT_STREAMS="1")
    creds = client_credentials("acme")
    seeding.seed(
        c.conninfo, org="acme", start=parse_instant("f", FROM), end=parse_instant("t", TO),
        count=300_000,
    )  # fmt: skip
    token = token_for(c.base_url, creds)
    href = httpx.post(
        f"{c.base_url}/insights/snapshots",
        headers=bearer(token),
        data={"created_at_from": FROM, "created_at_to": TO},
    ).json()["snapshot"]["href"]
    deadline = time.monotonic() + 30
    while httpx.get(href, headers=bearer(token)).json()["items"][0]["state"] != "running":
        assert time.monotonic() < deadline, "the export never started"
        time.sleep(0.02)
    [worker] = c.live_workers()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    body = httpx.get(href, headers=bearer(token)).json()
    assert body["items"][0]["state"] == "complete"
    assert exported_ids(body) == expected_ids(c.conninfo, "acme")

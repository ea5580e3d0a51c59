"""A cluster on one machine: an API process and several `pond worker` processes on one
PostgreSQL, with workers killed (SIGKILL) while they export. Nothing may be lost or doubled."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
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
from tests.integration.helpers import bearer

FROM, TO = "2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"
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
        with (self.data_dir / f"worker-{len(self.workers)}.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "pond", "worker"],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def stop(self) -> None:
        for process in [*self.workers, *([self.api] if self.api else [])]:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in [*self.workers, *([self.api] if self.api else [])]:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def cluster(conninfo: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def start(workers: int, **env: str) -> Cluster:
        port = free_port()
        c = Cluster(conninfo, tmp_path, base_url=f"http://127.0.0.1:{port}")
        c.env = {
            **os.environ,
            "POND_DATABASE_URL": conninfo,
            "POND_DATA_DIR": str(tmp_path / "data"),
            "POND_LOG_FORMAT": "json",
            # Chaos keeps up to 3 snapshots a round in flight: no cap on active ones.
            "POND_MAX_ACTIVE_SNAPSHOTS": "0",
            **env,
        }
        with (tmp_path / "api.log").open("wb") as log:
            c.api = subprocess.Popen(
                [sys.executable, "-m", "pond", "serve", "--no-worker", "--port", str(port)],
                env=c.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        made.append(c)
        for _ in range(workers):
            c.start_worker()
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{c.base_url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API process did not start"
            time.sleep(0.1)
        return c

    yield start
    for c in made:
        c.stop()


def token_for(c: Cluster, creds: tuple[str, str]) -> str:
    answer = httpx.post(
        f"{c.base_url}/oauth2/token", auth=creds, data={"grant_type": "client_credentials"}
    )
    return str(answer.json()["access_token"])


def wait_all(c: Cluster, token: str, hrefs: list[str], timeout: float) -> dict[str, dict]:
    done: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(hrefs):
        assert time.monotonic() < deadline, f"{len(hrefs) - len(done)} snapshots never completed"
        for href in hrefs:
            if href not in done:
                body = httpx.get(href, headers=bearer(token)).json()
                if body["items"][0]["state"] in ("complete", "failed"):
                    done[href] = body
        time.sleep(0.2)
    return done


def exported_ids(body: dict) -> list[int]:
    ids: list[int] = []
    for item in body["items"]:
        assert item["state"] == "complete", item
        text = httpx.get(item["href"]).text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == item["count"]
        ids += [int(row["id"]) for row in rows]
    return ids


def expected_ids(conninfo: str, org: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT e.id FROM events e JOIN organisations o ON o.id = e.org_id"
                " WHERE o.slug = %s AND e.created_at >= %s AND e.created_at < %s"
                " ORDER BY e.created_at, e.id",
                (org, FROM, TO),
            )
        ]


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
    token = token_for(c, creds)
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
    body = wait_all(c, token, [href], timeout=90)[href]
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
    token = token_for(c, creds)
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
    results = wait_all(c, token, hrefs, timeout=60 + 10 * ROUNDS)
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
    token = token_for(c, creds)
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

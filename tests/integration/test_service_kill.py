"""The whole service killed: `pond serve`, the API and its export worker in one process,
gets SIGKILL in the middle of exports, round after round, and starts again on the same
port, database and storage. Every snapshot still completes with exactly the rows of its
range, nothing half-written or orphaned stays in storage, and a killed export is picked
up again within a minute of the restart."""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid
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
    schedule,
    token_for,
    wait_all,
)
from tests.integration.processes import kill_group, service_env, start_pond, stop, wait_ready

ROUNDS = int(os.environ.get("POND_CHAOS_ROUNDS", "2"))
SNAPSHOTS_PER_ROUND = 3
ROWS = 60_000
PART_MAX_ROWS = "8000"  # 8 parts a snapshot
# A killed export must be running again, and done, this long after the restart at most.
PICKED_UP_WITHIN = 60
STAGING_PREFIX = ".staging-"  # how the local store names an object being written


@dataclass
class Service:
    """One `pond serve` (with its worker) at a time, always on the same port and data."""

    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start `pond serve` and wait until it is ready; return when it was started."""
        started_at = time.time()
        self.process = start_pond(
            ["serve", "--port", str(self.port)], self.env, self.log, own_group=True
        )
        wait_ready(self.base_url, self.process)
        return started_at

    def kill(self) -> None:
        assert self.process is not None
        assert self.process.poll() is None, "the service died before the kill"
        kill_group(self.process)


@pytest.fixture
def service(conninfo: str, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def make(**env: str) -> Service:
        made.append(
            Service(service_env(conninfo, tmp_path / "data", **env), tmp_path / "serve.log")
        )
        return made[-1]

    yield make
    stop(s.process for s in made if s.process is not None)


def snapshot_id(href: str) -> uuid.UUID:
    return uuid.UUID(href.rstrip("/").rsplit("/", 1)[1])


def wait_until_one_runs(token: str, hrefs: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for href in hrefs:
            body = httpx.get(href, headers=bearer(token)).json()
            if body["items"][0]["state"] == "running":
                return
        assert time.monotonic() < deadline, "no export started"
        time.sleep(0.02)


def scheduled(svc: Service, token: str) -> str:
    """Schedule a snapshot of the whole range; its href."""
    answer = schedule(svc.base_url, token)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["snapshot"]["href"])


def states(conninfo: str, hrefs: list[str]) -> dict[uuid.UUID, str]:
    """Each snapshot's state, read from the database."""
    ids = [snapshot_id(href) for href in hrefs]
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT id, state FROM snapshots WHERE id = ANY(%s)", (ids,))
        return {row[0]: str(row[1]) for row in rows}


def completed_at(conninfo: str, ids: list[uuid.UUID]) -> dict[uuid.UUID, float]:
    """When each snapshot was marked complete, as the database's clock (this machine's) says."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT id, completed_at FROM snapshots WHERE id = ANY(%s)", (ids,))
        return {row[0]: row[1].timestamp() for row in rows}


def stored_objects(objects: Path) -> set[str]:
    """Every file under the local store's root, as a key `<snapshot id>/<name>`."""
    return {p.relative_to(objects).as_posix() for p in objects.rglob("*") if p.is_file()}


def staging(objects: Path) -> list[str]:
    """Objects being written (or left half-written) in the local store."""
    return sorted(
        key for key in stored_objects(objects) if Path(key).name.startswith(STAGING_PREFIX)
    )


def published_objects(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT p.snapshot_id, p.name FROM snapshot_parts p"
            " JOIN snapshots s ON s.id = p.snapshot_id WHERE p.state = 'complete'"
        )
        return {f"{row[0]}/{row[1]}" for row in rows}


@pytest.mark.slow
@pytest.mark.timeout(120 + 30 * ROUNDS)  # a round waits ~10 s for the dead worker's heartbeat
def test_the_whole_service_killed_mid_export_loses_and_doubles_nothing(
    service: Callable[..., Service],
    client_credentials: Callable[[str], tuple[str, str]],
    conninfo: str,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    svc = service(POND_PART_MAX_ROWS=PART_MAX_ROWS)
    rng = random.Random(8)
    creds = client_credentials("acme")
    seeding.seed(
        conninfo, org="acme", start=parse_instant("f", FROM), end=parse_instant("t", TO),
        count=ROWS,
    )  # fmt: skip
    expected = expected_ids(conninfo, "acme")
    assert len(expected) == ROWS
    svc.start()
    token = token_for(svc.base_url, creds)

    objects = tmp_path / "data" / "objects"
    hrefs: list[str] = []
    # Each killed export: from the start of the new `pond serve` to the snapshot complete.
    picked_up_in: dict[uuid.UUID, float] = {}
    half_written = 0
    for _ in range(ROUNDS):
        batch = [scheduled(svc, token) for _ in range(SNAPSHOTS_PER_ROUND)]
        # Somewhere in an export: planning, in the middle of parts, or publishing.
        wait_until_one_runs(token, batch)
        time.sleep(rng.uniform(0.0, 0.4))
        while "running" not in states(conninfo, batch).values():
            batch.append(scheduled(svc, token))  # all done already: give the kill work
            wait_until_one_runs(token, batch[-1:])
        svc.kill()
        hrefs += batch
        running = [i for i, state in states(conninfo, batch).items() if state == "running"]
        half_written += len(staging(objects))
        restarted_at = svc.start()
        wait_all(token, batch, timeout=PICKED_UP_WITHIN + 30)
        done_at = completed_at(conninfo, running)
        for i in running:
            picked_up_in[i] = done_at[i] - restarted_at
    assert picked_up_in, "no kill landed in the middle of an export"

    # Every snapshot is complete and exact: its parts, downloaded through the signed
    # links, hold the ids of the range once each, as many as the items say.
    results = wait_all(token, hrefs, timeout=PICKED_UP_WITHIN)
    for href in hrefs:
        body = results[href]
        assert len(body["items"]) > 1, href
        assert sum(item["count"] for item in body["items"]) == ROWS, href
        assert exported_ids(body) == expected, href
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id, attempts FROM snapshots WHERE id = ANY(%s)", (list(picked_up_in),)
        ).fetchall()
    assert all(attempts >= 2 for _, attempts in rows), "a killed export was not run again"

    # Storage holds the published parts of existing snapshots and nothing else:
    # no staging (half-written) object, no object of an abandoned run.
    assert staging(objects) == []
    assert stored_objects(objects) == published_objects(conninfo)

    slowest = max(picked_up_in.values())
    figures = (
        f"{ROUNDS} rounds, {len(hrefs)} snapshots, {ROUNDS} kills of pond serve,"
        f" {len(picked_up_in)} running exports killed,"
        f" {half_written} half-written objects found after the kills;"
        f" restart to complete: max {slowest:.1f} s,"
        f" mean {sum(picked_up_in.values()) / len(picked_up_in):.1f} s;"
        f" test {time.monotonic() - began:.1f} s"
    )
    print(figures)
    (tmp_path / "figures.txt").write_text(figures + "\n")
    assert slowest < PICKED_UP_WITHIN, figures

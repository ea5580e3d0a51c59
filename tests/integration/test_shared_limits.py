"""Two API processes on one database enforce one combined rate and one failure count."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.helpers import bearer, schedule
from tests.integration.processes import service_env, start_pond, stop, wait_ready

Creds = Callable[[str], tuple[str, str]]
RATE, FAILURES = 6, 3


@pytest.fixture
def two_apis(conninfo: str, tmp_path: Path) -> Iterator[list[str]]:
    """Base URLs of two `pond serve --no-worker` processes sharing the test's database."""
    env = service_env(
        conninfo,
        tmp_path / "data",
        POND_RATE_LIMIT_PER_MINUTE=str(RATE),
        POND_TOKEN_FAILURE_LIMIT=str(FAILURES),
        POND_TOKEN_FAILURE_WINDOW="600",
    )
    processes: list[subprocess.Popen[bytes]] = []
    bases = []
    try:
        for number in range(2):
            port = free_port()
            processes.append(
                start_pond(
                    ["serve", "--no-worker", "--port", str(port)],
                    env,
                    tmp_path / f"api-{number}.log",
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            wait_ready(base, process)
        yield bases
    finally:
        stop(processes)


@pytest.mark.slow
def test_two_processes_allow_the_configured_rate_between_them(
    two_apis: list[str], client_credentials: Creds
) -> None:
    creds = client_credentials("acme")
    token = httpx.post(
        f"{two_apis[0]}/oauth2/token", auth=creds, data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    created = schedule(two_apis[0], token)
    path = urlsplit(created.json()["snapshot"]["href"]).path
    # Requests alternate between the processes, as behind a round-robin load balancer,
    # and between a snapshot GET (counted by its read) and a listing.
    answers = [created] + [
        httpx.get(f"{base}{path if number % 2 else '/insights/snapshots'}", headers=bearer(token))
        for number, base in enumerate(itertools.islice(itertools.cycle(two_apis), 1, RATE + 2))
    ]
    assert [a.status_code for a in answers] == [202] + [200] * (RATE - 1) + [429, 429]
    for refused in answers[RATE:]:
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60 // RATE
    # Another client of the same organisation has a bucket of its own, in both processes.
    other = httpx.post(
        f"{two_apis[1]}/oauth2/token",
        auth=client_credentials("acme"),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]
    for base in two_apis:
        assert httpx.get(f"{base}/insights/snapshots", headers=bearer(other)).status_code == 200


@pytest.mark.slow
def test_failed_token_requests_count_across_processes(
    two_apis: list[str], client_credentials: Creds
) -> None:
    client_id, secret = client_credentials("acme")
    form = {"grant_type": "client_credentials"}
    # Three wrong secrets, spread over both processes.
    for base in (two_apis[0], two_apis[1], two_apis[0]):
        wrong = httpx.post(f"{base}/oauth2/token", auth=(client_id, "wrong"), data=form)
        assert wrong.json()["error"] == "invalid_client"
    for base in two_apis:
        refused = httpx.post(f"{base}/oauth2/token", auth=(client_id, secret), data=form)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "too_many_requests"
        assert int(refused.headers["retry-after"]) > 500

"""`GET <href>?wait=S`: the answer comes when the snapshot finishes, or after S seconds."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pond.exports import coordinator
from tests.conftest import RunningServer
from tests.integration.helpers import bearer, schedule

Creds = Callable[[str], tuple[str, str]]


def token_at(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    return str(answer.json()["access_token"])


@pytest.fixture
def idle(start_server: Callable[..., RunningServer]) -> RunningServer:
    """No worker: a snapshot stays pending until the test runs its export."""
    return start_server(run_worker=False)


@pytest.mark.parametrize("wait", ["0", "-1", "30.5", "31", "soon", "nan", "inf", ""])
def test_wait_outside_0_to_30_seconds_is_400(
    idle: RunningServer, client_credentials: Creds, wait: str
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = schedule(idle.base_url, token).json()["snapshot"]["href"]
    answer = httpx.get(href, params={"wait": wait}, headers=bearer(token))
    assert answer.status_code == 400
    assert "wait" in answer.json()["error_description"]


def test_a_bad_details_is_400_before_any_wait(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = schedule(idle.base_url, token).json()["snapshot"]["href"]
    answer = httpx.get(
        href, params={"wait": "30", "details": "maybe"}, headers=bearer(token), timeout=10
    )
    assert answer.status_code == 400
    assert "details" in answer.json()["error_description"]


def test_wait_times_out_with_the_current_state(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = schedule(idle.base_url, token).json()["snapshot"]["href"]
    began = time.monotonic()
    answer = httpx.get(href, params={"wait": "1"}, headers=bearer(token), timeout=10)
    waited = time.monotonic() - began
    assert answer.status_code == 200
    assert answer.json()["items"][0]["state"] == "pending"
    assert answer.headers["retry-after"] == "1"
    assert waited >= 0.9


def test_wait_returns_once_the_export_finishes(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = schedule(idle.base_url, token).json()["snapshot"]["href"]
    state: Any = idle.app.state.pond
    sid = uuid.UUID(href.rsplit("/", 1)[1])

    def export_later() -> None:
        time.sleep(0.5)
        coordinator.run(idle.conninfo, state.store, sid, max_rows=100)

    worker = threading.Thread(target=export_later)
    worker.start()
    began = time.monotonic()
    answer = httpx.get(href, params={"wait": "30"}, headers=bearer(token), timeout=40)
    waited = time.monotonic() - began
    worker.join()
    assert answer.status_code == 200
    [item] = answer.json()["items"]
    assert item["state"] == "complete"
    assert item["href"]
    assert "retry-after" not in answer.headers
    # It came with the change, not at the end of the 30 seconds.
    assert waited < 20


def test_a_finished_snapshot_answers_at_once(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    from tests.integration.helpers import wait_done

    token = token_at(pond_server, client_credentials("acme"))
    href = schedule(pond_server.base_url, token).json()["snapshot"]["href"]
    wait_done(href, token)
    answer = httpx.get(href, params={"wait": "30"}, headers=bearer(token), timeout=5)
    assert answer.json()["items"][0]["state"] == "complete"


def test_a_snapshot_deleted_during_the_wait_answers_404(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = schedule(idle.base_url, token).json()["snapshot"]["href"]

    def delete_later() -> None:
        time.sleep(0.5)
        httpx.delete(href, headers=bearer(token))

    deleter = threading.Thread(target=delete_later)
    deleter.start()
    answer = httpx.get(href, params={"wait": "10"}, headers=bearer(token), timeout=20)
    deleter.join()
    assert answer.status_code == 404
    assert answer.json()["error"] == "snapshot_not_found"

"""`Idempotency-Key` on `POST /insights/snapshots`: retries are safe, reuse is a 409."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import psycopg
import pytest

from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer

Creds = Callable[[str], tuple[str, str]]


def token_at(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    return str(answer.json()["access_token"])


def post(server: RunningServer, token: str, key: str | None, **data: str) -> httpx.Response:
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    params = {"created_at_from": FROM, "created_at_to": TO, **data}
    return httpx.post(f"{server.base_url}/insights/snapshots", headers=headers, data=params)


def count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM snapshots").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def idle(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server(run_worker=False)


def test_a_retry_with_the_same_key_gets_the_same_snapshot(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    first = post(idle, token, "order-42")
    again = post(idle, token, "order-42")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    # The same request as JSON, with the same instants written differently, is a retry too.
    as_json = httpx.post(
        f"{idle.base_url}/insights/snapshots",
        headers={**bearer(token), "Idempotency-Key": "order-42"},
        json={
            "created_at_from": "2019-03-13T11:00:00-07:00",
            "created_at_to": TO,
            "entity": "event",
        },
    )
    assert as_json.status_code == 202
    assert as_json.json() == first.json()
    assert count(idle.conninfo) == 1
    assert post(idle, token, None).json() != first.json()
    assert count(idle.conninfo) == 2


def test_the_replay_is_the_documented_body_even_once_complete(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    from tests.integration.helpers import wait_done

    token = token_at(pond_server, client_credentials("acme"))
    first = post(pond_server, token, "k1")
    wait_done(first.json()["snapshot"]["href"], token)
    assert post(pond_server, token, "k1").json() == first.json()


def test_the_same_key_with_another_body_is_a_409(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    assert post(idle, token, "k").status_code == 202
    clash = post(idle, token, "k", created_at_to="2019-03-29T18:00:00.000Z")
    assert clash.status_code == 409
    body = clash.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "idempotency_conflict"
    assert "different request" in body["error_description"]
    assert count(idle.conninfo) == 1


def test_keys_are_scoped_per_client(idle: RunningServer, client_credentials: Creds) -> None:
    one = token_at(idle, client_credentials("acme"))
    other = token_at(idle, client_credentials("acme"))
    a = post(idle, one, "shared")
    b = post(idle, other, "shared", created_at_to="2019-03-29T18:00:00.000Z")
    assert a.status_code == b.status_code == 202
    assert a.json()["snapshot"]["href"] != b.json()["snapshot"]["href"]


def test_a_key_is_forgotten_after_24_hours(idle: RunningServer, client_credentials: Creds) -> None:
    token = token_at(idle, client_credentials("acme"))
    first = post(idle, token, "old")
    with psycopg.connect(idle.conninfo) as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    later = post(idle, token, "old", created_at_to="2019-03-29T18:00:00.000Z")
    assert later.status_code == 202
    assert later.json()["snapshot"]["href"] != first.json()["snapshot"]["href"]


def test_a_deleted_snapshot_frees_its_key(idle: RunningServer, client_credentials: Creds) -> None:
    token = token_at(idle, client_credentials("acme"))
    first = post(idle, token, "again").json()["snapshot"]["href"]
    assert httpx.delete(first, headers=bearer(token)).status_code == 204
    second = post(idle, token, "again")
    assert second.status_code == 202
    assert second.json()["snapshot"]["href"] != first


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_400(idle: RunningServer, client_credentials: Creds, key: str) -> None:
    token = token_at(idle, client_credentials("acme"))
    headers = {**bearer(token), "Idempotency-Key": key}
    answer = httpx.post(
        f"{idle.base_url}/insights/snapshots",
        headers={k: v.encode() if k == "Idempotency-Key" else v for k, v in headers.items()},
        data={"created_at_from": FROM, "created_at_to": TO},
    )
    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["error_description"]
    assert count(idle.conninfo) == 0


def test_concurrent_requests_with_one_key_create_one_snapshot(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(post(idle, token, "race"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["snapshot"]["href"] for a in answers}) == 1
    assert count(idle.conninfo) == 1

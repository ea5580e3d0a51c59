"""Brute force on the token endpoint: failures per client id and per address are limited."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable

import httpx
import psycopg

from pond.limits import repository
from tests.conftest import RunningServer

Creds = Callable[[str], tuple[str, str]]
FORM = {"grant_type": "client_credentials"}


def ask(server: RunningServer, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(server.token_url, auth=(client_id, secret), data=FORM)


def test_failures_of_one_client_lock_it_out_even_with_the_right_secret(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, token_failure_limit=3, token_failure_window=2)
    client_id, secret = client_credentials("acme")
    # Successes are not counted.
    for _ in range(5):
        assert ask(server, client_id, secret).status_code == 200
    for _ in range(3):
        answer = ask(server, client_id, "wrong-secret")
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_client"
    refused = ask(server, client_id, secret)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "too_many_requests"
    assert set(refused.json()) == {"error", "error_description"}
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    assert secret not in refused.text
    time.sleep(2.1)
    assert ask(server, client_id, secret).status_code == 200


def test_failures_from_one_address_lock_out_every_client_id(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, token_failure_limit=4, token_failure_window=60)
    client_id, secret = client_credentials("acme")
    # A spray over many client ids: each id fails once, the address four times.
    for n in range(4):
        assert ask(server, f"guess-{n}", "guess").json()["error"] == "invalid_client"
    refused = ask(server, client_id, secret)
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_requests"
    assert int(refused.headers["retry-after"]) > 50


def test_malformed_credentials_count_as_failures(
    start_server: Callable[..., RunningServer],
) -> None:
    server = start_server(run_worker=False, token_failure_limit=2, token_failure_window=60)
    for _ in range(2):
        answer = httpx.post(server.token_url, headers={"Authorization": "Basic %%%"}, data=FORM)
        assert answer.json()["error"] == "invalid_client"
    assert ask(server, "x", "y").status_code == 429


def test_zero_turns_the_limit_off(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, token_failure_limit=0)
    client_id, secret = client_credentials("acme")
    for _ in range(15):
        assert ask(server, client_id, "wrong").status_code != 429
    assert ask(server, client_id, secret).status_code == 200


def test_the_basic_header_value_is_never_echoed(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, token_failure_limit=0)
    client_id, _ = client_credentials("acme")
    secret = "s3cr3t-Value-that-must-not-leak"
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    values = [
        f"Basic {encoded}",  # well formed, wrong secret
        f"Basic {encoded}!!",  # not base64
        f"Basic {base64.b64encode(secret.encode()).decode()}",  # no colon
        f"Bearer {secret}",  # wrong scheme
    ]
    for value in values:
        answer = httpx.post(server.token_url, headers={"Authorization": value}, data=FORM)
        assert answer.status_code == 400, answer.text
        shown = answer.text + "".join(f"{k}:{v}" for k, v in answer.headers.items())
        assert secret not in shown
        assert encoded not in shown
        assert value.split(" ", 1)[1] not in shown


def test_the_shared_window_slides(conninfo: str) -> None:
    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:

            async def age(seconds: int) -> None:
                await conn.execute(
                    "UPDATE token_failures SET times = ARRAY(SELECT t - make_interval(secs => %s)"
                    " FROM unnest(times) AS u (t) ORDER BY t),"
                    " expires_at = expires_at - make_interval(secs => %s)",
                    (seconds, seconds),
                )

            await repository.record_failure(conn, ["k"], 2, 10)
            await age(5)
            await repository.record_failure(conn, ["k", "other"], 2, 10)
            # Two failures of k in the window: the first leaves it 5 s from now.
            waits = await repository.failure_waits(conn, ["k", "other", "none"], 2, 10)
            assert 4 < waits["k"] <= 5
            assert waits["other"] == waits["none"] == 0
            # A third failure keeps the latest two only.
            await repository.record_failure(conn, ["k"], 2, 10)
            row = await (
                await conn.execute("SELECT cardinality(times) FROM token_failures WHERE key = 'k'")
            ).fetchone()
            assert row == (2,)
            await age(10)
            assert await repository.failure_waits(conn, ["k"], 2, 10) == {"k": 0}

    asyncio.run(go())
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert repository.delete_stale(conn) == 2  # both out of their window

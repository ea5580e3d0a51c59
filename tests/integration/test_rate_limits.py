"""Rate limits: a token bucket per client, a cap on an organisation's active snapshots."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from pond.limits import repository
from pond.limits.repository import Grant
from tests.conftest import RunningServer
from tests.integration.helpers import bearer, schedule

Creds = Callable[[str], tuple[str, str]]


def token_at(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    return str(answer.json()["access_token"])


def take(conninfo: str, asked: dict[str, int], per_minute: int) -> dict[str, Grant]:
    async def go() -> dict[str, Grant]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await repository.take(conn, asked, per_minute)

    return asyncio.run(go())


def test_the_shared_bucket_spends_a_minute_at_once_then_refills_at_the_rate(
    conninfo: str,
) -> None:
    # 61 requests of one client in one statement: a minute's worth goes ahead.
    first = take(conninfo, {"a": 61, "b": 1}, 60)
    assert first["a"].granted == 60
    assert 0.99 <= first["a"].wait <= 1.0
    assert first["b"].granted == 1
    refused = take(conninfo, {"a": 1}, 60)["a"]
    assert refused.granted == 0
    assert 0 < refused.wait <= 1.0
    # Half a second later (the bucket moved back in time): still nothing for a...
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE rate_limits SET tat = tat - 0.5 WHERE key = 'a'")
    assert take(conninfo, {"a": 1}, 60)["a"].granted == 0
    # ... and one more second: exactly one more request, a second's worth.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE rate_limits SET tat = tat - 1 WHERE key = 'a'")
    assert take(conninfo, {"a": 2}, 60)["a"].granted == 1
    # A bucket untouched for a minute is full again, and the maintenance task forgets it.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE rate_limits SET tat = tat - 61")
        assert repository.delete_stale(conn) == 2
        assert conn.execute("SELECT count(*) FROM rate_limits").fetchone() == (0,)
    assert take(conninfo, {"a": 60}, 60)["a"].granted == 60


def test_a_client_over_its_rate_gets_429_with_retry_after(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, rate_limit_per_minute=3)
    token = token_at(server, client_credentials("acme"))
    other = token_at(server, client_credentials("acme"))
    url = f"{server.base_url}/insights/snapshots"
    assert [httpx.get(url, headers=bearer(token)).status_code for _ in range(3)] == [200] * 3
    limited = httpx.get(url, headers=bearer(token))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    body = limited.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "rate_limited"
    assert schedule(server.base_url, token).status_code == 429
    assert httpx.get(url, headers=bearer(other)).status_code == 200
    # The token endpoint is not limited, and an unauthenticated call is a 401 first.
    assert httpx.get(url).status_code == 401


def test_requests_of_one_client_at_once_are_counted_exactly(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, rate_limit_per_minute=6)
    token = token_at(server, client_credentials("acme"))
    url = f"{server.base_url}/insights/snapshots"
    # Sent together, they are counted in batches: still exactly six go through.
    with ThreadPoolExecutor(10) as pool:
        statuses = list(
            pool.map(lambda _: httpx.get(url, headers=bearer(token)).status_code, range(10))
        )
    assert sorted(statuses) == [200] * 6 + [429] * 4


def test_snapshot_gets_are_counted_by_their_read_and_a_long_poll_once(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, rate_limit_per_minute=8)
    token = token_at(server, client_credentials("acme"))
    href = schedule(server.base_url, token).json()["snapshot"]["href"]  # 1

    def announce() -> None:
        time.sleep(0.3)
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            for _ in range(3):  # news of the snapshot: the long-poll reads it three times more
                conn.execute("SELECT pg_notify('pond_snapshots', %s)", (href.rsplit("/", 1)[1],))
                time.sleep(0.1)

    news = threading.Thread(target=announce)
    news.start()
    waited = httpx.get(href, params={"wait": "1.5"}, headers=bearer(token), timeout=10)  # 2
    news.join()
    assert waited.status_code == 200
    # Six more GETs at once: five fit, counted in the statements that read them.
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(lambda _: httpx.get(href, headers=bearer(token)).status_code, range(6))
        )
    assert sorted(statuses) == [200] * 6
    refused = httpx.get(href, headers=bearer(token))
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1


def test_the_organisation_cap_on_active_snapshots(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False, max_active_snapshots=2)
    token = token_at(server, client_credentials("acme"))
    colleague = token_at(server, client_credentials("acme"))
    globex = token_at(server, client_credentials("globex"))
    first = schedule(server.base_url, token)
    assert first.status_code == 202
    second = httpx.post(
        f"{server.base_url}/insights/snapshots",
        headers={**bearer(token), "Idempotency-Key": "k"},
        data={"created_at_from": "2019-03-13T18:00:00Z", "created_at_to": "2019-03-14T18:00:00Z"},
    )
    assert second.status_code == 202
    capped = schedule(server.base_url, colleague)
    assert capped.status_code == 429
    assert int(capped.headers["retry-after"]) >= 1
    assert capped.json()["error"] == "too_many_snapshots"
    assert set(capped.json()) == {"error", "error_description"}
    # A retry of an accepted request is not a new snapshot: it is answered.
    replay = httpx.post(
        f"{server.base_url}/insights/snapshots",
        headers={**bearer(token), "Idempotency-Key": "k"},
        data={"created_at_from": "2019-03-13T18:00:00Z", "created_at_to": "2019-03-14T18:00:00Z"},
    )
    assert replay.status_code == 202
    assert schedule(server.base_url, globex).status_code == 202
    href = first.json()["snapshot"]["href"]
    assert httpx.delete(href, headers=bearer(token)).status_code == 204
    assert schedule(server.base_url, colleague).status_code == 202

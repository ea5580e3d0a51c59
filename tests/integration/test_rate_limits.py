"""Rate limits: a token bucket per client, a cap on an organisation's active snapshots."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from pond.snapshots.limits import RateLimiter
from tests.conftest import RunningServer
from tests.integration.helpers import bearer, schedule

Creds = Callable[[str], tuple[str, str]]


def token_at(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    return str(answer.json()["access_token"])


def test_the_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(60)] == [0.0] * 60
    assert limiter.take("a") == 1.0
    assert limiter.take("b") == 0.0
    now[0] = 0.5
    assert limiter.take("a") == 0.5
    now[0] = 1.0
    assert limiter.take("a") == 0.0
    assert RateLimiter(0).take("a") == 0.0


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

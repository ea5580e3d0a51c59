"""The client's use of pond's extensions, without a network: which requests, which fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pond.client import (
    AuthenticationFailed,
    Backoff,
    Client,
    RequestRejected,
    ServiceUnavailable,
    answers,
    protocol,
)
from pond.client.backoff import MAX_SERVER_DELAY
from pond.client.config import ClientConfig, Secret
from pond.client.models import Snapshot
from tests.unit.client.test_client_models import HREF, complete, pending

LOCAL = "http://127.0.0.1:8000"
HOSTED = "https://api.sgipond.com"
NO_WAIT = Backoff(initial=0.001, factor=1, maximum=0.001, jitter=0)


def answer(status: int, body: Any = None, method: str = "GET", url: str = HREF) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request(method, url))


def config(api_url: str) -> ClientConfig:
    return ClientConfig("id", Secret("secret"), api_url=api_url, token_url=f"{LOCAL}/oauth2/token")


def test_extensions_are_used_with_any_server_but_the_hosted_one() -> None:
    assert not config(LOCAL).hosted
    assert config(HOSTED).hosted
    assert protocol.Extensions.for_api(hosted=False) == protocol.Extensions(True, True)
    assert protocol.Extensions.for_api(hosted=True) == protocol.Extensions(False, False)


def test_get_calls_carry_details_and_wait_with_a_longer_read_timeout() -> None:
    plain = protocol.get_call(HREF)
    assert plain.url == HREF
    assert plain.read_timeout is None
    call = protocol.get_call(HREF, details=True, wait=25)
    assert parse_qs(urlsplit(call.url).query) == {"wait": ["25"], "details": ["true"]}
    assert call.read_timeout is not None
    assert call.read_timeout > 25
    timeout = protocol.timeout_for(call, httpx.Timeout(30.0, connect=10.0))
    assert timeout.read == call.read_timeout
    assert timeout.connect == 10.0


def test_long_poll_seconds_fit_the_deadline() -> None:
    on = protocol.Extensions()
    assert on.long_poll_seconds(None) == protocol.LONG_POLL
    assert on.long_poll_seconds(7.9) == 7
    assert on.long_poll_seconds(0.5) is None
    assert protocol.Extensions(long_poll=False).long_poll_seconds(None) is None


def test_a_quick_unfinished_answer_means_the_server_ignored_wait() -> None:
    running = Snapshot.from_wire(pending())
    assert protocol.long_poll_held(25, 24.0, None, running)
    assert not protocol.long_poll_held(25, 0.1, None, running)
    assert not protocol.long_poll_held(None, 30.0, None, running)
    assert protocol.long_poll_held(25, 0.1, "running", running)  # pending now: a change


def test_a_refused_extension_is_turned_off_once() -> None:
    extensions = protocol.Extensions()
    call = protocol.get_call(HREF, details=True, wait=25)
    refused = answer(400, {"error": "invalid_request", "error_description": "bad wait"})
    assert extensions.drop_rejected(call, refused)
    assert extensions == protocol.Extensions(details=True, long_poll=False)
    call = protocol.get_call(HREF, details=True)
    assert extensions.drop_rejected(call, answer(400, {"error": "invalid_request"}))
    assert extensions == protocol.Extensions(details=False, long_poll=False)
    assert not extensions.drop_rejected(protocol.get_call(HREF), answer(400, {}))
    assert not protocol.Extensions().drop_rejected(call, answer(404, {}))


def test_list_urls_carry_the_filters_and_pages_give_next() -> None:
    url = protocol.list_url(
        LOCAL,
        state=["complete", "failed"],
        created_after=datetime(2026, 11, 1, tzinfo=UTC),
        created_before="2026-11-02T00:00:00+01:00",
        page_size=500,
    )
    assert parse_qs(urlsplit(url).query) == {
        "limit": ["200"],
        "state": ["complete,failed"],
        "created_after": ["2026-11-01T00:00:00.000Z"],
        "created_before": ["2026-11-01T23:00:00.000Z"],
    }
    assert protocol.list_url(LOCAL) == f"{LOCAL}/insights/snapshots"
    following = f"{LOCAL}/insights/snapshots?limit=2&cursor=abc"
    page = answer(200, {"items": [pending(), complete()], "next": following}, url=url)
    snapshots, after = answers.read_page(page)
    assert len(snapshots) == 2
    assert after == following
    assert answers.read_page(answer(200, {"items": [], "next": None}, url=url)) == ([], None)


def test_an_idempotency_conflict_is_a_usage_error_that_says_why() -> None:
    body = {"error": "idempotency_conflict", "error_description": "used for another request"}
    with pytest.raises(RequestRejected, match="Idempotency-Key was already used") as caught:
        answers.raise_for_answer(answer(409, body, "POST"))
    assert caught.value.exit_code == 2


def test_a_rate_limit_says_when_to_come_back() -> None:
    response = httpx.Response(
        429,
        json={"error": "rate_limited"},
        headers={"Retry-After": "7"},
        request=httpx.Request("GET", HREF),
    )
    with pytest.raises(ServiceUnavailable, match="rate limiting") as caught:
        answers.raise_for_answer(response)
    assert "retry in 7 s" in (caught.value.hint or "")


def test_retries_honour_retry_after_within_bounds() -> None:
    get = protocol.get_call(HREF)
    backoff = Backoff(initial=0.01, factor=1, maximum=0.01, jitter=0)

    def limited(seconds: float) -> httpx.Response:
        headers = {"Retry-After": f"{seconds:g}"}
        return httpx.Response(429, headers=headers, request=httpx.Request("GET", HREF))

    assert protocol.resend_delay(get, limited(3), 0, 4, backoff) == 3
    assert protocol.resend_delay(get, limited(3), 4, 4, backoff) is None  # out of retries
    assert protocol.resend_delay(get, limited(MAX_SERVER_DELAY + 1), 0, 4, backoff) is None
    ok = httpx.Response(200, request=httpx.Request("GET", HREF))
    assert protocol.resend_delay(get, ok, 0, 4, backoff) is None


class Fake:
    """A token endpoint and a snapshots API, recording requests."""

    def __init__(self, failures: list[int]) -> None:
        self.failures = failures
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        self.requests.append(request)
        if self.failures:
            return httpx.Response(self.failures.pop(0), headers={"Retry-After": "0"})
        if request.method == "POST":
            return httpx.Response(202, json={"result": "OK", "snapshot": pending()})
        return httpx.Response(200, json=complete())


@pytest.mark.parametrize("api_url", [LOCAL, HOSTED])
def test_create_sends_one_key_through_its_retries(api_url: str) -> None:
    fake = Fake(failures=[503, 429])
    transport = httpx.MockTransport(fake)
    with Client(config=config(api_url), backoff=NO_WAIT, transport=transport) as pond:
        pond.create("2019-03-13T18:00:00Z", "2019-03-28T18:00:00Z")
        pond.create("2019-03-13T18:00:00Z", "2019-03-28T18:00:00Z")
    keys = [request.headers["Idempotency-Key"] for request in fake.requests]
    assert len(keys) == 4
    assert len(set(keys[:3])) == 1
    assert keys[3] != keys[0]


def test_the_hosted_service_gets_the_documented_requests_only() -> None:
    fake = Fake(failures=[])
    transport = httpx.MockTransport(fake)
    with Client(config=config(HOSTED), backoff=NO_WAIT, transport=transport) as pond:
        pond.wait(HREF, timeout=5)
        pond.get(HREF)
    assert [request.url.query for request in fake.requests] == [b"", b""]


def test_a_throttled_token_endpoint_says_when_to_retry() -> None:
    from pond.client.auth import parse_token

    response = httpx.Response(
        429,
        json={"error": "too_many_requests", "error_description": "too many failures"},
        headers={"Retry-After": "30"},
    )
    with pytest.raises(AuthenticationFailed, match="refusing requests for now") as caught:
        parse_token(response, 0.0)
    assert "retry in 30 s" in (caught.value.hint or "")

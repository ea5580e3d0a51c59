"""The client-credentials auth flow: fetch, cache, refresh before expiry and on 401."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from pond.client.auth import ClientCredentialsAuth, Token
from pond.client.config import ClientConfig, Secret
from pond.client.errors import AuthenticationFailed, ServiceUnavailable

CONFIG = ClientConfig(
    client_id="3fake23gasjh12fake55bgk3jfi14fake",
    client_secret=Secret("329847ywqejhd8293giu2sh23yde9238dghkjhwd8237geu2bgi23897"),
    api_url="https://api.test",
    token_url="https://auth.test/oauth2/token",
)


class FakeService:
    """A token endpoint and one API endpoint that accepts only the newest token."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []
        self.refuse_all = False
        self.token_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            self.token_requests.append(request)
            if self.token_status != 200:
                body = {
                    "error": "invalid_client",
                    "error_description": "client authentication failed",
                }
                return httpx.Response(self.token_status, json=body)
            token = f"token-{len(self.issued) + 1}"
            self.issued.append(token)
            body = {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
            return httpx.Response(200, json=body)
        self.api_requests.append(request)
        if self.refuse_all or request.headers.get("authorization") != f"Bearer {self.issued[-1]}":
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"ok": True})


def client(service: FakeService, auth: ClientCredentialsAuth) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(service), auth=auth)


def test_the_token_request_is_the_documented_one() -> None:
    service = FakeService()
    client(service, ClientCredentialsAuth(CONFIG)).get("https://api.test/insights/snapshots/x")
    [request] = service.token_requests
    expected = base64.b64encode(
        b"3fake23gasjh12fake55bgk3jfi14fake:329847ywqejhd8293giu2sh23yde9238dghkjhwd8237geu2bgi23897"
    ).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["pond/insights.snapshots"],
    }
    assert service.api_requests[0].headers["authorization"] == "Bearer token-1"


def test_one_token_serves_many_requests() -> None:
    service = FakeService()
    http = client(service, ClientCredentialsAuth(CONFIG))
    for _ in range(5):
        assert http.get("https://api.test/a").status_code == 200
    assert len(service.token_requests) == 1


def test_a_token_is_replaced_shortly_before_it_expires() -> None:
    now = [1000.0]
    service = FakeService(expires_in=3600)
    http = client(service, ClientCredentialsAuth(CONFIG, clock=lambda: now[0]))
    http.get("https://api.test/a")
    now[0] += 3600 - 61
    http.get("https://api.test/a")
    assert len(service.token_requests) == 1
    now[0] += 2  # within a minute of expiry
    http.get("https://api.test/a")
    assert len(service.token_requests) == 2


def test_short_lived_tokens_refresh_at_a_tenth_of_their_life() -> None:
    token = Token("t", expires_at=110.0, lifetime=10.0)
    assert token.is_fresh(108.9)
    assert not token.is_fresh(109.1)


def test_a_refused_token_is_replaced_once() -> None:
    service = FakeService()
    auth = ClientCredentialsAuth(CONFIG)
    http = client(service, auth)
    http.get("https://api.test/a")
    service.issued.append("rotated-elsewhere")  # the server now wants another token
    assert http.get("https://api.test/a").status_code == 200
    assert len(service.token_requests) == 2
    service.refuse_all = True
    assert http.get("https://api.test/a").status_code == 401  # retried once, then given up
    assert len(service.token_requests) == 3


def test_refused_credentials_raise_with_the_servers_reason() -> None:
    service = FakeService()
    service.token_status = 400
    with pytest.raises(AuthenticationFailed, match="invalid_client") as caught:
        client(service, ClientCredentialsAuth(CONFIG)).get("https://api.test/a")
    assert caught.value.exit_code == 3
    assert "329847" not in caught.value.message
    service.token_status = 503
    with pytest.raises(ServiceUnavailable):
        client(service, ClientCredentialsAuth(CONFIG)).get("https://api.test/a")


def test_tokens_are_cached_on_disk_privately_per_endpoint_and_client(tmp_path: Path) -> None:
    service = FakeService()
    client(service, ClientCredentialsAuth(CONFIG, cache_dir=tmp_path)).get("https://api.test/a")
    [cached] = list(tmp_path.iterdir())
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert json.loads(cached.read_text())["access_token"] == "token-1"
    assert CONFIG.client_id not in cached.name
    # a second process reuses it
    client(service, ClientCredentialsAuth(CONFIG, cache_dir=tmp_path)).get("https://api.test/a")
    assert len(service.token_requests) == 1
    # another client id has its own entry
    other = ClientConfig("other", Secret("s"), CONFIG.api_url, CONFIG.token_url)
    client(service, ClientCredentialsAuth(other, cache_dir=tmp_path)).get("https://api.test/a")
    assert len(list(tmp_path.iterdir())) == 2


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    service = FakeService()
    client(service, ClientCredentialsAuth(CONFIG, cache_dir=tmp_path)).get("https://api.test/a")
    [cached] = list(tmp_path.iterdir())
    cached.write_text("{not json")
    assert (
        client(service, ClientCredentialsAuth(CONFIG, cache_dir=tmp_path))
        .get("https://api.test/a")
        .status_code
        == 200
    )


def test_the_async_flow_behaves_the_same() -> None:
    service = FakeService()
    auth = ClientCredentialsAuth(CONFIG)

    async def go() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(service), auth=auth) as http:
            statuses = [
                r.status_code
                for r in await asyncio.gather(*(http.get("https://api.test/a") for _ in range(10)))
            ]
            service.issued.append("rotated")
            statuses.append((await http.get("https://api.test/a")).status_code)
            return statuses

    assert asyncio.run(go()) == [200] * 11
    assert len(service.token_requests) == 2  # concurrent requests shared one token


def test_threads_share_one_token_request() -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = FakeService()
    http = client(service, ClientCredentialsAuth(CONFIG))
    fetch: Callable[[int], int] = lambda _: http.get("https://api.test/a").status_code  # noqa: E731
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(32))) == {200}
    assert len(service.token_requests) == 1


def test_tokens_and_auth_never_show_secrets() -> None:
    token = Token("eyJsecret", expires_at=0)
    assert "eyJsecret" not in repr(token)
    assert "329847" not in repr(ClientCredentialsAuth(CONFIG))

"""Bearer tokens on the snapshots API: RFC 6750 answers for every way a token can be wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import RunningServer
from tests.integration.helpers import bearer, forge_token, schedule, valid_claims

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]


def test_missing_token_is_401_with_www_authenticate(pond_server: RunningServer) -> None:
    answer = httpx.post(
        f"{pond_server.base_url}/insights/snapshots",
        data={"created_at_from": "2019-01-01T00:00:00Z", "created_at_to": "2019-01-02T00:00:00Z"},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 60},
        {"iat": int(time.time()) + 600, "exp": int(time.time()) + 1200},
        {"nbf": int(time.time()) + 600},
        {"iss": "urn:evil"},
        {"token_use": "id"},
        {"_kid": "no-such-key"},
    ],
    ids=["expired", "issued-in-future", "not-yet-valid", "wrong-issuer", "id-token", "unknown-kid"],
)
def test_bad_tokens_are_invalid_token(
    pond_server: RunningServer, client_credentials: Creds, overrides: dict[str, object]
) -> None:
    client_id, _ = client_credentials("acme")
    token = forge_token(
        pond_server.conninfo, **valid_claims(client_id, pond_server.base_url, **overrides)
    )
    answer = schedule(pond_server.base_url, token)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_forged_claims_without_matching_signature_are_refused(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    acme_id, acme_secret = client_credentials("acme")
    token = get_token(acme_id, acme_secret)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["client_id"] = claims["sub"] = "someone-else"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    answer = schedule(pond_server.base_url, f"{header}.{tampered}.{signature}")
    assert answer.status_code == 401


def test_alg_none_and_hs256_with_public_key_are_refused(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    client_id, _ = client_credentials("acme")
    claims = valid_claims(client_id, pond_server.base_url)
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    assert schedule(pond_server.base_url, unsigned).status_code == 401
    # The classic confusion: HS256 keyed with the server's public key.
    jwk = httpx.get(f"{pond_server.base_url}/.well-known/jwks.json").json()["keys"][0]
    public_pem = jwt.PyJWK(jwk).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = ".".join(
        _b64(json.dumps(part).encode())
        for part in ({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]}, claims)
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert schedule(pond_server.base_url, f"{signing_input}.{_b64(mac)}").status_code == 401


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_missing_scope_is_403_insufficient_scope(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    client_id, _ = client_credentials("acme")
    token = forge_token(
        pond_server.conninfo, **valid_claims(client_id, pond_server.base_url, scope="openid")
    )
    answer = schedule(pond_server.base_url, token)
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
    assert 'scope="pond/insights.snapshots"' in answer.headers["www-authenticate"]


def test_revoked_and_rotated_clients_lose_their_tokens(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    import asyncio

    import psycopg

    from pond.clients import service

    async def act(action: Callable[[psycopg.AsyncConnection], object]) -> object:
        async with await psycopg.AsyncConnection.connect(pond_server.conninfo) as conn:
            result = await action(conn)  # type: ignore[misc]
            await conn.commit()
            return result

    rotated_id, rotated_secret = client_credentials("acme")
    old = get_token(rotated_id, rotated_secret)
    assert schedule(pond_server.base_url, old).status_code == 202
    fresh = asyncio.run(act(lambda c: service.rotate(c, rotated_id)))
    assert schedule(pond_server.base_url, old).status_code == 401
    new_token = get_token(rotated_id, fresh.client_secret)  # type: ignore[attr-defined]
    assert schedule(pond_server.base_url, new_token).status_code == 202

    revoked_id, revoked_secret = client_credentials("acme")
    token = get_token(revoked_id, revoked_secret)
    asyncio.run(act(lambda c: service.revoke(c, revoked_id)))
    assert schedule(pond_server.base_url, token).status_code == 401
    refused = httpx.post(
        pond_server.token_url,
        auth=(revoked_id, revoked_secret),
        data={"grant_type": "client_credentials"},
    )
    assert refused.json()["error"] == "invalid_client"


def test_token_of_expired_lifetime_is_refused(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(token_ttl=1)
    client_id, secret = client_credentials("acme")
    answer = httpx.post(
        server.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    )
    assert answer.json()["expires_in"] == 1
    token = answer.json()["access_token"]
    assert (
        httpx.get(f"{server.base_url}/insights/snapshots/x", headers=bearer(token)).status_code
        == 404
    )
    time.sleep(7)  # one second of lifetime plus the five seconds of leeway for clock skew
    answer = httpx.get(f"{server.base_url}/insights/snapshots/x", headers=bearer(token))
    assert answer.status_code == 401
    assert "expired" in answer.json()["error_description"]


def test_issuer_is_pinned_by_the_public_url(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(public_url="https://pond.example.com")
    client_id, secret = client_credentials("acme")
    answer = httpx.post(
        server.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    )
    token = answer.json()["access_token"]
    assert (
        jwt.decode(token, options={"verify_signature": False})["iss"] == server.settings.public_url
    )
    created = schedule(server.base_url, token)
    assert created.status_code == 202
    assert created.json()["snapshot"]["href"].startswith("https://pond.example.com/insights/")
    foreign = forge_token(server.conninfo, **valid_claims(client_id, "https://evil.example.com"))
    answer = schedule(server.base_url, foreign)
    assert answer.status_code == 401
    assert "another server" in answer.json()["error_description"]


def test_without_a_public_url_any_host_name_of_the_server_accepts_its_tokens(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    token = get_token(*client_credentials("acme"))
    other_name = pond_server.base_url.replace("127.0.0.1", "localhost")
    answer = schedule(other_name, token)
    assert answer.status_code == 202
    assert answer.json()["snapshot"]["href"].startswith(other_name)

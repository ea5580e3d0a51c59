"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import psycopg

FROM, TO = "2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def schedule(base_url: str, token: str, **params: str) -> httpx.Response:
    data = {"created_at_from": FROM, "created_at_to": TO, **params}
    return httpx.post(f"{base_url}/insights/snapshots", headers=bearer(token), data=data)


def wait_done(href: str, token: str, timeout: float = 30) -> dict[str, Any]:
    """Poll a snapshot until it is complete or failed; return its body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(href, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["items"][0]["state"] in ("complete", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"{href} did not finish within {timeout} s")


def forge_token(conninfo: str, **claims: Any) -> str:
    """A token signed with the server's own private key, carrying exactly `claims`."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT kid, secret FROM signing_keys WHERE purpose = 'jwt' AND retired_at IS NULL"
        ).fetchone()
    assert row is not None
    headers = {"kid": claims.pop("_kid", row[0])}
    return jwt.encode(claims, bytes(row[1]), algorithm="RS256", headers=headers)


def valid_claims(client_id: str, issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": client_id,
        "client_id": client_id,
        "token_use": "access",
        "scope": "pond/insights.snapshots",
        "iss": issuer,
        "iat": now,
        "exp": now + 600,
        "jti": "test",
        "gen": 1,
    }
    claims.update(overrides)
    return claims

"""Small helpers shared by the integration tests."""

from __future__ import annotations

import csv
import io
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
            "SELECT kid, secret FROM signing_keys WHERE purpose = 'jwt' AND superseded_at IS NULL"
            " AND retired_at IS NULL"
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


def token_for(base_url: str, creds: tuple[str, str]) -> str:
    """An access token from the server at `base_url` for (client_id, secret)."""
    answer = httpx.post(
        f"{base_url}/oauth2/token", auth=creds, data={"grant_type": "client_credentials"}
    )
    return str(answer.json()["access_token"])


def wait_all(token: str, hrefs: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll snapshots until each is complete or failed; their bodies by href."""
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(hrefs):
        assert time.monotonic() < deadline, f"{len(hrefs) - len(done)} snapshots never completed"
        for href in hrefs:
            if href not in done:
                body = httpx.get(href, headers=bearer(token)).json()
                if body["items"][0]["state"] in ("complete", "failed"):
                    done[href] = body
        time.sleep(0.2)
    return done


def exported_ids(body: dict[str, Any]) -> list[int]:
    """The ids of every row of a complete snapshot, downloaded through its signed links."""
    ids: list[int] = []
    for item in body["items"]:
        assert item["state"] == "complete", item
        text = httpx.get(item["href"]).text
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == item["count"]
        ids += [int(row["id"]) for row in rows]
    return ids


def expected_ids(conninfo: str, org: str) -> list[int]:
    """The ids of `org`'s events in [FROM, TO), in export order, from the database."""
    with psycopg.connect(conninfo) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT e.id FROM events e JOIN organisations o ON o.id = e.org_id"
                " WHERE o.slug = %s AND e.created_at >= %s AND e.created_at < %s"
                " ORDER BY e.created_at, e.id",
                (org, FROM, TO),
            )
        ]

"""POST /oauth2/token: Cognito's answers, RFC 6749 errors, keys a JWT library can use."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import jwt
import pytest

from tests.conftest import RunningServer

SCOPE = "pond/insights.snapshots"
FORM = {"grant_type": "client_credentials", "scope": SCOPE}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def test_token_answer_has_cognito_shape_and_no_store(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, secret = client_credentials("acme")
    answer = httpx.post(pond_server.token_url, headers=basic(client_id, secret), data=FORM)
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["access_token", "expires_in", "token_type"]
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    assert answer.headers["cache-control"] == "no-store"


def test_token_verifies_with_published_jwks_and_carries_cognito_claims(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, secret = client_credentials("acme")
    token = httpx.post(pond_server.token_url, headers=basic(client_id, secret), data=FORM).json()[
        "access_token"
    ]
    discovery = httpx.get(f"{pond_server.base_url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == pond_server.base_url
    keys = jwt.PyJWKClient(discovery["jwks_uri"])
    signing_key = keys.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], issuer=discovery["issuer"])
    assert jwt.get_unverified_header(token)["kid"] == signing_key.key_id
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["token_use"] == "access"
    assert claims["scope"] == SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    assert {"jti", "auth_time"} <= set(claims)


def test_form_field_client_authentication_works(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, secret = client_credentials("acme")
    answer = httpx.post(
        pond_server.token_url, data={**FORM, "client_id": client_id, "client_secret": secret}
    )
    assert answer.status_code == 200


def test_scope_may_be_omitted(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, secret = client_credentials("acme")
    answer = httpx.post(
        pond_server.token_url,
        headers=basic(client_id, secret),
        data={"grant_type": "client_credentials"},
    )
    assert answer.status_code == 200
    assert (
        jwt.decode(answer.json()["access_token"], options={"verify_signature": False})["scope"]
        == SCOPE
    )


@pytest.mark.parametrize(
    ("mutate", "status", "error"),
    [
        (lambda h, d: (basic("nobody", "nothing"), d), 400, "invalid_client"),
        (lambda h, d: ({}, d), 400, "invalid_client"),
        (lambda h, d: ({"Authorization": "Basic %%%"}, d), 400, "invalid_client"),
        (lambda h, d: (h, {**d, "grant_type": "password"}), 400, "unsupported_grant_type"),
        (lambda h, d: (h, {"scope": SCOPE}), 400, "invalid_request"),
        (lambda h, d: (h, {**d, "scope": "pond/admin"}), 400, "invalid_scope"),
    ],
    ids=["unknown-client", "no-auth", "bad-base64", "grant", "no-grant", "scope"],
)
def test_token_errors_follow_rfc6749(
    pond_server: RunningServer,
    client_credentials: Callable[[str], tuple[str, str]],
    mutate: Callable[[dict[str, str], dict[str, str]], tuple[dict[str, str], dict[str, str]]],
    status: int,
    error: str,
) -> None:
    client_id, secret = client_credentials("acme")
    headers, data = mutate(basic(client_id, secret), dict(FORM))
    answer = httpx.post(pond_server.token_url, headers=headers, data=data)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error
    assert secret not in answer.text


def test_wrong_secret_is_invalid_client_and_not_echoed(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, _ = client_credentials("acme")
    answer = httpx.post(pond_server.token_url, headers=basic(client_id, "guess-123"), data=FORM)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"
    assert "guess-123" not in answer.text


def test_json_body_is_refused_with_invalid_request(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, secret = client_credentials("acme")
    answer = httpx.post(pond_server.token_url, headers=basic(client_id, secret), json=FORM)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_secrets_are_stored_only_as_hashes(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    import psycopg

    client_id, secret = client_credentials("acme")
    with psycopg.connect(pond_server.conninfo) as conn:
        row = conn.execute(
            "SELECT secret_hash FROM oauth_clients WHERE client_id = %s", (client_id,)
        ).fetchone()
    assert row is not None
    assert secret not in row[0]
    assert row[0].startswith("hmac-sha256$")


# A client secret and the hash that the release before HMAC hashes stored for it
# (scrypt, made by that release's `hash_secret`).
LEGACY_SECRET = "legacy0secret0stored0by0the0previous0release00000000"
LEGACY_HASH = "scrypt$16384$8$1$ZHbRyzNjk8Zbym44KPt-ag$patdKGeFd3VQXtTL3aVVj9Qf9ZO_3HDmTdxGC_Rvbmw"


def test_a_secret_stored_by_the_previous_release_works_and_is_rehashed_on_use(
    pond_server: RunningServer, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    import psycopg

    client_id, _ = client_credentials("acme")
    with psycopg.connect(pond_server.conninfo, autocommit=True) as conn:

        def stored() -> str:
            row = conn.execute(
                "SELECT secret_hash FROM oauth_clients WHERE client_id = %s", (client_id,)
            ).fetchone()
            assert row is not None
            return str(row[0])

        conn.execute(
            "UPDATE oauth_clients SET secret_hash = %s WHERE client_id = %s",
            (LEGACY_HASH, client_id),
        )
        wrong = httpx.post(
            pond_server.token_url, headers=basic(client_id, LEGACY_SECRET[:-1] + "x"), data=FORM
        )
        assert wrong.json()["error"] == "invalid_client"
        assert stored() == LEGACY_HASH, "a wrong secret must not touch the stored hash"

        first = httpx.post(
            pond_server.token_url, headers=basic(client_id, LEGACY_SECRET), data=FORM
        )
        assert first.status_code == 200, first.text
        rehashed = stored()
        assert rehashed.startswith("hmac-sha256$")
        assert LEGACY_SECRET not in rehashed

        again = httpx.post(
            pond_server.token_url, headers=basic(client_id, LEGACY_SECRET), data=FORM
        )
        assert again.status_code == 200, again.text
        assert stored() == rehashed
        wrong = httpx.post(
            pond_server.token_url, headers=basic(client_id, LEGACY_SECRET[:-1] + "x"), data=FORM
        )
        assert wrong.json()["error"] == "invalid_client"

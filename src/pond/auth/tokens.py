"""Access tokens: RS256 JWTs shaped like Amazon Cognito client-credentials tokens."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from pond.auth.keys import KeyRing
from pond.errors import AuthError

# Cognito's access tokens carry "version": 2; clients that read it find it.
_COGNITO_VERSION = 2


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says about its bearer."""

    client_id: str
    scopes: frozenset[str]
    generation: int
    expires_at: int


def issue(
    keys: KeyRing,
    *,
    client_id: str,
    scopes: list[str],
    generation: int,
    issuer: str,
    ttl: int,
    now: float | None = None,
) -> str:
    """A signed access token for `client_id`, valid `ttl` seconds."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": client_id,
        "client_id": client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": issued,
        "iss": issuer,
        "iat": issued,
        "exp": issued + ttl,
        "jti": str(uuid.uuid4()),
        "version": _COGNITO_VERSION,
        "gen": generation,
    }
    return jwt.encode(
        claims, keys.jwt_private_key, algorithm="RS256", headers={"kid": keys.jwt_kid}
    )


def key_id(token: str) -> str | None:
    """The `kid` a token's header names, unverified; None if there is none to read."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None
    return kid if isinstance(kid, str) else None


def _invalid(description: str) -> AuthError:
    return AuthError("invalid_token", description)


def verify(keys: KeyRing, token: str, *, issuer: str | None) -> TokenClaims:
    """The claims of a token pond signed, or `AuthError(invalid_token)` saying why not.

    `issuer=None` accepts any http(s) issuer: a server without `POND_PUBLIC_URL`
    answers under several names (localhost, 127.0.0.1, ...) and signs with one key.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _invalid("the access token is malformed") from None
    if header.get("alg") != "RS256":
        raise _invalid("the access token must be signed with RS256")
    kid = header.get("kid")
    public = keys.verifying_keys.get(kid) if isinstance(kid, str) else None
    if public is None:
        raise _invalid("the access token was signed by an unknown or retired key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public,
            algorithms=["RS256"],
            issuer=issuer,
            options={
                "require": ["exp", "iat", "iss", "client_id", "token_use"],
                "verify_iss": issuer is not None,
            },
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("the access token expired; request a new one") from None
    except jwt.ImmatureSignatureError:
        raise _invalid("the access token is not valid yet") from None
    except jwt.InvalidIssuerError:
        raise _invalid("the access token was issued for another server") from None
    except jwt.PyJWTError:
        raise _invalid("the access token is invalid") from None
    if issuer is None and not str(claims.get("iss", "")).startswith(("http://", "https://")):
        raise _invalid("the access token was issued for another server")
    if claims.get("token_use") != "access":
        raise _invalid("an access token is required")
    if claims.get("iat", 0) > time.time() + 5:
        raise _invalid("the access token is not valid yet")
    scope = claims.get("scope", "")
    return TokenClaims(
        client_id=str(claims["client_id"]),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        generation=int(claims.get("gen", 0)),
        expires_at=int(claims["exp"]),
    )

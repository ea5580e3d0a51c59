"""Who is calling: the bearer token checked against its signature and its client.

The signature check of a token is remembered by the token's text until the token
expires or the keys change (a given text always verifies the same way under the
same keys); whether its client is still active and on the same secret generation
is read from the database on every request, so revoking or rotating a client
refuses its tokens at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from pond.api.state import AppState, app_state, autocommit
from pond.auth import SNAPSHOTS_SCOPE, tokens
from pond.auth.tokens import TokenClaims
from pond.clients import repository
from pond.errors import AuthError

# Verified tokens remembered per application; past this many, expired ones are
# dropped, and if that is not enough, all of them (they are verified again).
_VERIFIED_LIMIT = 1024


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an active client of one organisation."""

    client_id: str
    org_id: int


class ClientStanding(Protocol):
    """What the check needs to know of a token's client, as the database has it now."""

    @property
    def client_id(self) -> str: ...
    @property
    def org_id(self) -> int: ...
    @property
    def generation(self) -> int: ...
    @property
    def active(self) -> bool: ...


async def verified(state: AppState, token: str) -> TokenClaims:
    """`tokens.verify`, remembered by the token's text for as long as it has not expired.

    Signature, issuer and claims are facts of the text; only the clock changes the
    answer, so a remembered token is used only before its `exp`. After that it is
    verified again, which refuses it (or accepts it within the leeway) exactly as
    the first time would. What is remembered is forgotten when the keys change.
    A token of a key this process does not know yet makes it look for new keys first.
    """
    issuer = state.settings.public_url
    verified = state.verified_tokens
    key = (token, issuer)
    claims = verified.get(key)
    if claims is not None and time.time() < claims.expires_at:
        return claims
    verified.pop(key, None)
    kid = tokens.key_id(token)
    if kid is not None and kid not in state.keys.verifying_keys:
        await state.watcher.look_for(kid)
    claims = tokens.verify(state.keys, token, issuer=issuer)
    if len(verified) >= _VERIFIED_LIMIT:
        now = time.time()
        for stale in [k for k, c in verified.items() if c.expires_at <= now]:
            del verified[stale]
        if len(verified) >= _VERIFIED_LIMIT:
            verified.clear()
    verified[key] = claims
    return claims


async def token_claims(request: Request) -> TokenClaims:
    """The verified claims of the request's bearer token, or `AuthError(invalid_token)`.

    Only the token itself is checked here: `admit` must follow, with the client as
    the database has it now.
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError(
            "invalid_token",
            "an access token is required: send 'Authorization: Bearer <token>'",
        )
    return await verified(app_state(request), value.strip())


def admit(
    claims: TokenClaims, client: ClientStanding | None, scope: str = SNAPSHOTS_SCOPE
) -> Principal:
    """The caller, once its client is known active on the token's generation; else `AuthError`.

    401 invalid_token for a revoked, unknown or rotated client, 403 insufficient_scope.
    """
    if client is None or not client.active:
        raise AuthError("invalid_token", "the client of this token was revoked")
    if claims.generation != client.generation:
        raise AuthError("invalid_token", "the client's secret was rotated; request a new token")
    if scope not in claims.scopes:
        raise AuthError(
            "insufficient_scope",
            f"the token lacks the {scope} scope",
            status=403,
            scope=scope,
        )
    return Principal(client_id=client.client_id, org_id=client.org_id)


async def principal(
    state: AppState, claims: TokenClaims, scope: str = SNAPSHOTS_SCOPE
) -> Principal:
    """The caller of verified `claims`, once its client is read; else `AuthError` (see `admit`)."""
    async with autocommit(state.pool) as conn:
        client = await repository.get(conn, claims.client_id)
    return admit(claims, client, scope)


async def authenticate(request: Request, scope: str = SNAPSHOTS_SCOPE) -> Principal:
    """The caller of `request`, or `AuthError` (401 invalid_token, 403 insufficient_scope)."""
    return await principal(app_state(request), await token_claims(request), scope)

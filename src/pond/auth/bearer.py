"""Who is calling: the bearer token checked against its signature and its client."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from pond.api.state import app_state
from pond.auth import SNAPSHOTS_SCOPE, tokens
from pond.clients import repository
from pond.errors import AuthError


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an active client of one organisation."""

    client_id: str
    org_id: int


async def authenticate(request: Request, scope: str = SNAPSHOTS_SCOPE) -> Principal:
    """The caller of `request`, or `AuthError` (401 invalid_token, 403 insufficient_scope)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError(
            "invalid_token",
            "an access token is required: send 'Authorization: Bearer <token>'",
        )
    state = app_state(request)
    claims = tokens.verify(state.keys, value.strip(), issuer=state.settings.public_url)
    async with state.pool.connection() as conn:
        client = await repository.get(conn, claims.client_id)
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

"""`POST /oauth2/token` (Cognito-compatible) and the public key documents."""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from pond.api.state import app_state, autocommit, base_url
from pond.auth import tokens
from pond.clients import service as clients
from pond.errors import OAuthError

_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# A token request is a few hundred bytes; anything near this is not one.
MAX_BODY = 64 * 1024
_TOO_LARGE = f"the request body is over {MAX_BODY} bytes"
_MAX_CLIENT_ID = 256


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise OAuthError("invalid_client", "client authentication must use HTTP Basic")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "the Basic credentials are not valid base64") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Basic credentials must be base64(client_id:secret)")
    return client_id, secret


async def _bounded_form(request: Request) -> FormData:
    """The form of a body of at most `MAX_BODY` bytes; 413 before reading more than that."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_large = int(declared) > MAX_BODY
        except ValueError:
            raise HTTPException(400, "the Content-Length header is not a number") from None
        if too_large:
            raise HTTPException(413, _TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HTTPException(413, _TOO_LARGE)

    async def replay() -> Message:
        return {"type": "http.request", "body": bytes(body), "more_body": False}

    # A field takes at least one byte: the size limit bounds their number.
    return await Request(request.scope, replay).form(max_files=0, max_fields=MAX_BODY)


async def token(request: Request) -> Response:
    """Trade client credentials for an access token (RFC 6749 section 4.4)."""
    state = app_state(request)
    throttle = state.token_throttle
    address = f"ip:{request.client.host if request.client else 'unknown'}"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise OAuthError("invalid_request", f"the body must be {_FORM}")
    form = await _bounded_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError(
            "unsupported_grant_type", "only grant_type=client_credentials is supported"
        )

    header = request.headers.get("authorization")
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if header and form_secret:
        raise OAuthError("invalid_request", "send client credentials once: header or form")
    try:
        if header:
            client_id, secret = _basic_credentials(header)
        elif isinstance(form_id, str) and isinstance(form_secret, str):
            client_id, secret = form_id, form_secret
        else:
            raise OAuthError("invalid_client", "client authentication is required")
        if "\x00" in client_id or len(client_id) > _MAX_CLIENT_ID:
            # PostgreSQL text cannot hold NUL: such an id cannot exist, so do not ask.
            raise OAuthError("invalid_client", "client authentication failed")
    except OAuthError:
        await throttle.fail(address)
        raise
    # Checked before the secret, so that the right one is refused too while it lasts.
    await throttle.check(address, f"id:{client_id}")

    check = await clients.check_secret(
        state.keys.hasher, await state.clients.get(client_id), secret
    )
    if check.rehashed is not None:
        async with autocommit(state.pool) as conn:
            await clients.store_rehashed(conn, check)
    client = check.client
    if client is None:
        await throttle.fail(address, f"id:{client_id}")
        raise OAuthError("invalid_client", "client authentication failed")

    requested = form.get("scope")
    if isinstance(requested, str) and requested.strip():
        scopes = requested.split()
        unknown = [s for s in scopes if s not in client.scopes]
        if unknown:
            raise OAuthError("invalid_scope", f"scope not allowed for this client: {unknown[0]}")
    else:
        scopes = list(client.scopes)

    access_token = tokens.issue(
        state.keys,
        client_id=client.client_id,
        scopes=scopes,
        generation=client.generation,
        issuer=base_url(request),
        ttl=state.settings.token_ttl,
    )
    return JSONResponse(
        {
            "access_token": access_token,
            "expires_in": state.settings.token_ttl,
            "token_type": "Bearer",
        },
        headers=_NO_STORE,
    )


async def jwks(request: Request) -> Response:
    """The public keys that verify pond's access tokens."""
    return JSONResponse(
        app_state(request).keys.public_jwks, headers={"Cache-Control": "max-age=300"}
    )


async def openid_configuration(request: Request) -> Response:
    base = base_url(request)
    return JSONResponse(
        {
            "issuer": base,
            "token_endpoint": f"{base}/oauth2/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["pond/insights.snapshots"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
        }
    )


routes = [
    Route("/oauth2/token", token, methods=["POST"]),
    Route("/oauth2/token/", token, methods=["POST"]),
    Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
]

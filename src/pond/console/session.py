"""The console's cookies: the client's access token, the operator's session, and CSRF.

Every cookie is HttpOnly and SameSite=Strict, and Secure when the request came
over HTTPS. CSRF uses the double-submit pattern: a random `pond_csrf` cookie
whose value every form must repeat in its `csrf_token` field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from pond.api.state import app_state
from pond.auth import SNAPSHOTS_SCOPE
from pond.auth.bearer import Principal, verified
from pond.clients import repository as clients
from pond.console import repository
from pond.errors import AuthError, PondError

TOKEN_COOKIE = "pond_console"  # noqa: S105 (a cookie name, not a secret)
OPERATOR_COOKIE = "pond_operator"
CSRF_COOKIE = "pond_csrf"
CSRF_FIELD = "csrf_token"
OPERATOR_TTL = 8 * 3600


@dataclass(frozen=True)
class Visitor:
    """A client signed in to the console: who it is and its organisation's name."""

    principal: Principal
    org: str
    client_name: str


class CsrfRefused(PondError):
    """A form came without the CSRF token of the browser that was shown it."""

    status = 403
    code = "csrf_refused"


def _secure(request: Request) -> bool:
    public = app_state(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/console", httponly=True, samesite="strict", secure=_secure(request)
    )


def csrf_token(request: Request) -> str:
    """The browser's CSRF token: the cookie's, or a new one that `remember_csrf` will set."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) >= 32:
        return existing
    fresh: str = request.scope.setdefault("pond.csrf", secrets.token_urlsafe(32))
    return fresh


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on `response` if this request had to make a new token."""
    fresh = request.scope.get("pond.csrf")
    if fresh:
        set_cookie(request, response, CSRF_COOKIE, fresh, max_age=86400)


def check_csrf(request: Request, submitted: object) -> None:
    """Raise `CsrfRefused` unless `submitted` equals the browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if (
        not isinstance(submitted, str)
        or len(cookie) < 32
        or not hmac.compare_digest(submitted.encode(), cookie.encode())
    ):
        raise CsrfRefused(
            "the form's security token is missing or does not match;"
            " reload the page and submit it again"
        )


async def visitor(request: Request) -> Visitor | None:
    """The signed-in client, checked like a bearer token; None when not signed in."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    state = app_state(request)
    try:
        claims = await verified(state, token)
    except AuthError:
        return None
    async with state.pool.connection() as conn:
        client = await clients.get(conn, claims.client_id)
    if (
        client is None
        or not client.active
        or claims.generation != client.generation
        or SNAPSHOTS_SCOPE not in claims.scopes
    ):
        return None
    return Visitor(
        principal=Principal(client_id=client.client_id, org_id=client.org_id),
        org=client.org,
        client_name=client.name,
    )


def _operator_key(request: Request) -> bytes:
    # A key of its own, derived from the hash key, which survives restarts and, unlike
    # the link secret, is never rotated.
    return app_state(request).keys.hasher.derive(b"pond console operator session")


def operator_session(request: Request, name: str) -> str:
    """A signed cookie value naming operator `name`, valid `OPERATOR_TTL` seconds."""
    expires = int(time.time()) + OPERATOR_TTL
    payload = f"{name}|{expires}"
    mac = hmac.new(_operator_key(request), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}|{mac}"


async def operator(request: Request) -> str | None:
    """The signed-in operator's name, or None when not signed in (or since removed)."""
    name, _, rest = request.cookies.get(OPERATOR_COOKIE, "").partition("|")
    expires, _, mac = rest.partition("|")
    if not name or not (expires.isascii() and expires.isdigit()) or int(expires) < time.time():
        return None
    expected = hmac.new(
        _operator_key(request), f"{name}|{expires}".encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    async with app_state(request).pool.connection() as conn:
        if await repository.operator_hash(conn, name) is None:
            return None
    return name

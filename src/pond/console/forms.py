"""What every console handler shares: CSRF-checked form reading, redirects, error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pond.console import pages, session
from pond.errors import PondError

Handler = Callable[[Request], Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    """`handler` with pond's errors shown as an HTML page of the matching status."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except PondError as exc:
            return pages.render(request, "error.html", exc.status, title="Error", error=exc)

    return run


def redirect(path: str) -> Response:
    """See other: where a form's answer sends the browser next."""
    return RedirectResponse(path, status_code=303)


async def read(request: Request) -> dict[str, str]:
    """The submitted form's text fields, or `CsrfRefused` if its CSRF token does not match."""
    form = await request.form(max_files=0, max_fields=30)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    session.check_csrf(request, fields.get(session.CSRF_FIELD))
    return fields


def sign_out(home: str, cookie: str) -> Handler:
    """The POST handler that signs out of the session kept in `cookie`, then goes `home`."""

    @guarded
    async def handler(request: Request) -> Response:
        await read(request)
        response = redirect(home)
        session.clear_cookie(request, response, cookie)
        return response

    return handler

"""Rendering console pages: the Jinja2 environment, its filters, and the page headers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pond.console import session

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("pond.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# Pages may only load what pond serves; no inline script, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def size(value: int | None) -> str:
    """Bytes for people: `1.4 MB`."""
    if value is None:
        return "–"
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """A rough span: `40 s`, `12 min`, `5 h`, `3 d`."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def age(value: datetime) -> str:
    return duration((datetime.now(UTC) - value).total_seconds()) + " ago"


def until(value: datetime) -> str:
    remaining = (value - datetime.now(UTC)).total_seconds()
    return "now" if remaining <= 0 else "in " + duration(remaining)


def utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_ENV.filters.update(size=size, age=age, until=until, utc=utc, iso=iso)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page `template` with `context`, the CSRF token, and the console's headers."""
    html = _ENV.get_template(template).render(
        csrf_field=session.CSRF_FIELD, csrf_token=session.csrf_token(request), **context
    )
    response = HTMLResponse(html, status_code=status, headers=_HEADERS)
    session.remember_csrf(request, response)
    return response

"""The one place where errors become HTTP answers.

Every API error has one JSON shape, `{"error": code, "error_description": text}`
(RFC 6749 section 5.2 and RFC 6750 use the same names); bearer errors add a
`WWW-Authenticate` header. Download links answer like S3, in XML.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

import structlog
from psycopg import OperationalError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pond.api.routing import allow_header
from pond.errors import AuthError, LinkRefused, PondError, RateLimited, Unavailable

log = structlog.get_logger("pond.api")

_HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _s3_error(code: str, message: str, status: int) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


async def pond_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PondError)
    if isinstance(exc, LinkRefused):
        return _s3_error("AccessDenied", exc.message, 403)
    description = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
    response = error_response(exc.status, exc.code, description)
    if isinstance(exc, AuthError):
        params = ['realm="pond"']
        if request.headers.get("authorization"):
            params.append(f'error="{exc.code}"')
            params.append(f'error_description="{exc.message}"')
        if exc.scope:
            params.append(f'scope="{exc.scope}"')
        response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(params)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unavailable):
        response.headers["Retry-After"] = "5"
    if exc.status >= 500:
        log.warning("request.failed", code=exc.code, path=request.url.path)
    return response


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    description = exc.detail if isinstance(exc.detail, str) else code
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        description = "no such resource; check the URL"
    if exc.status_code == 405 and headers.get("Allow"):
        # RFC 9110 section 15.5.6: a 405 lists the methods the resource answers.
        allow = allow_header(headers["Allow"])
        headers["Allow"] = allow
        description = f"{request.method} is not allowed on {request.url.path}; use {allow}"
    response = error_response(exc.status_code, code, description)
    response.headers.update(headers)
    return response


async def database_down(request: Request, exc: Exception) -> Response:
    log.warning("database.unavailable", error=str(exc).splitlines()[0] if str(exc) else "")
    response = error_response(
        503, "service_unavailable", "the database is unavailable; retry in a few seconds"
    )
    response.headers["Retry-After"] = "5"
    return response


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("request.crashed", path=request.url.path)
    return error_response(500, "internal_error", "the server failed; the error was logged")


HANDLERS = {
    Exception: unexpected,
    PondError: pond_error,
    HTTPException: http_error,
    OperationalError: database_down,
    PoolTimeout: database_down,
}

"""The answers of the OpenAPI description: every status a route can give, with its headers.

Shared by `pond.api.openapi_spec` and `pond.webhooks.openapi`, so that a status
pond answers everywhere (503 while the database is away, 408 for a body that
trickles in) is described the same way on every route that can give it.
"""

from __future__ import annotations

from typing import Any

from pond.api.openapi_schemas import ref


def header(description: str, kind: str = "string", *, required: bool = True) -> dict[str, Any]:
    """A response header: its meaning and the type of its value."""
    return {"description": description, "required": required, "schema": {"type": kind}}


def json_answer(
    description: str, schema: str, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An answer whose body is the JSON component `schema`."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema)}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An answer in the one JSON error shape."""
    return json_answer(description, "Error", headers)


RETRY_AFTER = {"Retry-After": header("Whole seconds to wait before trying again.", "integer")}
WWW_AUTHENTICATE = {"WWW-Authenticate": header('`Bearer realm="pond"`, with the error.')}
NO_STORE = {"Cache-Control": header("`no-store`: answers are never cached.")}

UNAUTHENTICATED = {
    "401": error("`invalid_token`: no, a bad, an expired or a revoked token.", WWW_AUTHENTICATE),
    "403": error(
        "`insufficient_scope`: the token lacks `pond/insights.snapshots`.", WWW_AUTHENTICATE
    ),
}
RATE_LIMITED = {
    "429": error("`rate_limited`: over the client's rate limit.", RETRY_AFTER),
}
# A route behind a bearer token and the client's rate limit.
BEARER = {**UNAUTHENTICATED, **RATE_LIMITED}
# Every route that needs the database (pond.api.errors.database_down).
DATABASE = {
    "503": error("`service_unavailable`: the database cannot be reached; retry.", RETRY_AFTER),
}
# Every route that reads a body: a body that trickles in is cut off (pond.api.timeouts).
SLOW_BODY = {
    "408": error(
        "`request_timeout`: the body did not arrive within `POND_BODY_TIMEOUT` seconds;"
        " the connection is closed."
    )
}


def body_limits(limit: str, types: str) -> dict[str, Any]:
    """The answers of a route that reads a body of at most `limit` of the media `types`."""
    return {
        **SLOW_BODY,
        "413": error(f"`request_too_large`: the body is over {limit}."),
        "415": error(f"`unsupported_media_type`: a body that is not {types}."),
    }

"""`POST /insights/snapshots` and `GET /insights/snapshots/<id>`: parse, call, render."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pond.api.state import app_state, base_url
from pond.auth.bearer import authenticate
from pond.errors import InputError, MissingContentType
from pond.snapshots import repository, service

_MAX_BODY = 64 * 1024


async def _parameters(request: Request) -> dict[str, Any]:
    """The request's parameters from a form or JSON body; the seed says both need a Content-Type."""
    raw_type = request.headers.get("content-type")
    content_type = (raw_type or "").split(";")[0].strip().lower()
    if not content_type:
        raise MissingContentType(
            "the request has no Content-Type, so its parameters were ignored;"
            " send -H 'Content-Type: application/x-www-form-urlencoded' (or application/json)"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _MAX_BODY:
        raise InputError(f"the request body is larger than {_MAX_BODY} bytes")
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise InputError(f"the request body is larger than {_MAX_BODY} bytes")
    if content_type == "application/x-www-form-urlencoded":
        form = await request.form(max_files=0, max_fields=50)
        return {key: value for key, value in form.items() if isinstance(value, str)}
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise InputError("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise InputError("the JSON body must be an object of parameters")
        return data
    raise InputError(
        f"unsupported Content-Type {content_type!r}; use"
        " application/x-www-form-urlencoded or application/json"
    )


async def create_snapshot(request: Request) -> Response:
    principal = await authenticate(request)
    params = await _parameters(request)
    state = app_state(request)
    async with state.pool.connection() as conn:
        record = await service.create(conn, principal, params, state.settings)
    body = service.render(
        record, [], base_url=base_url(request), store=state.store, link_ttl=state.settings.link_ttl
    )
    href = body["href"]
    return JSONResponse(
        {"result": "OK", "snapshot": body}, status_code=202, headers={"Location": href}
    )


async def get_snapshot(request: Request) -> Response:
    principal = await authenticate(request)
    state = app_state(request)
    async with state.pool.connection() as conn:
        record = await service.find(conn, principal, request.path_params["snapshot_id"])
        parts = await repository.parts(conn, record.id) if record.state == "complete" else []
    body = service.render(
        record,
        parts,
        base_url=base_url(request),
        store=state.store,
        link_ttl=state.settings.link_ttl,
    )
    headers = {"Cache-Control": "no-store"}
    if record.state in ("pending", "running"):
        headers["Retry-After"] = "1"
    return JSONResponse(body, headers=headers)


# With and without a trailing slash: curl does not follow redirects by default.
routes = [
    Route("/insights/snapshots", create_snapshot, methods=["POST"]),
    Route("/insights/snapshots/", create_snapshot, methods=["POST"]),
    Route("/insights/snapshots/{snapshot_id}", get_snapshot, methods=["GET"]),
    Route("/insights/snapshots/{snapshot_id}/", get_snapshot, methods=["GET"]),
]

"""The webhook routes: `POST`, `GET /insights/webhooks` and `DELETE /insights/webhooks/<id>`.

Each authenticates the bearer token (snapshots scope), counts against the
client's rate limit, and sees only its own organisation's endpoints.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pond.api import bodies
from pond.api.routing import resources
from pond.api.state import app_state
from pond.snapshots import limits
from pond.webhooks import repository, service
from pond.webhooks.egress import Egress

MAX_BODY = 16 * 1024


async def create_webhook(request: Request) -> Response:
    """201 with the endpoint and its secret (shown this once); 400 on a bad or refused URL."""
    principal = await limits.caller(request)
    params = await bodies.parameters(request, max_bytes=MAX_BODY)
    state = app_state(request)
    new = await service.validate(params, Egress.from_settings(state.settings))
    async with state.pool.connection() as conn:
        registered = await service.register(conn, principal.org_id, new)
    body = service.render(registered.endpoint, secret=registered.secret)
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


async def list_webhooks(request: Request) -> Response:
    """200 `{"items": [...]}`: the organisation's active endpoints, without secrets."""
    principal = await limits.caller(request)
    async with app_state(request).pool.connection() as conn:
        endpoints = await repository.list_active(conn, principal.org_id)
    return JSONResponse({"items": [service.render(e) for e in endpoints]})


async def delete_webhook(request: Request) -> Response:
    """204 once no more events go to it; 404 if unknown or another organisation's."""
    principal = await limits.caller(request)
    async with app_state(request).pool.connection() as conn:
        await service.remove(conn, request.path_params["webhook_id"], principal.org_id)
    return Response(status_code=204)


routes = [
    *resources(
        "/insights/webhooks",
        {"POST": create_webhook, "GET": list_webhooks},
        trailing_slash=True,
    ),
    *resources("/insights/webhooks/{webhook_id}", {"DELETE": delete_webhook}, trailing_slash=True),
]

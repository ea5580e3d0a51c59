"""The operator view under `/console/operator`: clients, recent snapshots, failures, queue.

Operators sign in with a name and password made by `pond console operator create`;
their session is separate from any client's.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pond.api import repository as figures
from pond.api.state import app_state
from pond.clients import service as clients
from pond.console import pages, repository, service, session
from pond.console.forms import guarded, read, redirect, sign_out
from pond.errors import InputError

_HOME = "/console/operator"


async def _dashboard(request: Request, name: str, status: int = 200, **extra: object) -> Response:
    async with app_state(request).pool.connection() as conn:
        context: dict[str, object] = {
            "clients": await clients.list_clients(conn),
            "recent": await repository.recent_snapshots(conn),
            "failures": await repository.recent_snapshots(conn, failed_only=True),
            "queue": await figures.queue_depth(conn),
            "jobs": await repository.recent_jobs(conn),
            "error": None,
            "done": request.query_params.get("done"),
        }
    context.update(extra)
    return pages.render(
        request, "operator.html", status, title="Operator", operator=name, **context
    )


@guarded
async def home(request: Request) -> Response:
    name = await session.operator(request)
    if name is None:
        return pages.render(request, "operator_sign_in.html", title="Operator sign in", error=None)
    return await _dashboard(request, name)


@guarded
async def sign_in(request: Request) -> Response:
    form = await read(request)
    name = form.get("name", "").strip()
    try:
        async with app_state(request).pool.connection() as conn:
            await service.operator_sign_in(conn, name, form.get("password", ""))
    except service.SignInFailed as exc:
        return pages.render(
            request, "operator_sign_in.html", 401, title="Operator sign in", error=exc.message
        )
    response = redirect(_HOME)
    session.set_cookie(
        request,
        response,
        session.OPERATOR_COOKIE,
        session.operator_session(request, name),
        session.OPERATOR_TTL,
    )
    return response


@guarded
async def create_client(request: Request) -> Response:
    name = await session.operator(request)
    if name is None:
        return redirect(_HOME)
    form = await read(request)
    try:
        async with app_state(request).pool.connection() as conn:
            created = await clients.create(conn, name=form.get("name", ""), org=form.get("org", ""))
    except InputError as exc:
        message = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
        return await _dashboard(request, name, 400, error=message)
    return pages.render(
        request, "operator_secret.html", title="New client", operator=name, credentials=created
    )


@guarded
async def revoke_client(request: Request) -> Response:
    if await session.operator(request) is None:
        return redirect(_HOME)
    await read(request)
    client_id = request.path_params["client_id"]
    async with app_state(request).pool.connection() as conn:
        await clients.revoke(conn, client_id)
    return redirect(f"{_HOME}?done=revoked+{client_id}")


@guarded
async def rotate_client(request: Request) -> Response:
    name = await session.operator(request)
    if name is None:
        return redirect(_HOME)
    await read(request)
    async with app_state(request).pool.connection() as conn:
        rotated = await clients.rotate(conn, request.path_params["client_id"])
    return pages.render(
        request, "operator_secret.html", title="New secret", operator=name, credentials=rotated
    )


routes = [
    Route(_HOME, home, methods=["GET"]),
    Route(f"{_HOME}/sign-in", sign_in, methods=["POST"]),
    Route(f"{_HOME}/sign-out", sign_out(_HOME, session.OPERATOR_COOKIE), methods=["POST"]),
    Route(f"{_HOME}/clients", create_client, methods=["POST"]),
    Route(f"{_HOME}/clients/{{client_id}}/revoke", revoke_client, methods=["POST"]),
    Route(f"{_HOME}/clients/{{client_id}}/rotate", rotate_client, methods=["POST"]),
]

"""The client console under `/console`: sign in, list, create, watch, download, delete.

Handlers only parse forms, call the services and render pages; every POST checks
the CSRF token first. Errors become HTML pages here, not the API's JSON.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pond.api.state import app_state, base_url
from pond.console import operator_routes, pages, repository, service, session
from pond.console.forms import guarded, read, redirect, sign_out
from pond.errors import InputError, RateLimited
from pond.snapshots import records, waiting
from pond.snapshots import repository as snapshot_rows
from pond.snapshots import service as snapshots
from pond.snapshots.changes import Mark

_FINAL = ("complete", "failed")


async def _list_page(
    request: Request, who: session.Visitor, status: int = 200, **extra: object
) -> Response:
    state = app_state(request)
    async with state.pool.connection() as conn:
        rows = await repository.org_snapshots(conn, who.principal.org_id)
    context: dict[str, object] = {"error": None, "values": {}, "deleted": None}
    context.update(extra)
    return pages.render(
        request,
        "snapshots.html",
        status,
        title="Snapshots",
        who=who,
        snapshots=rows,
        retention_days=f"{state.settings.retention_days:g}",
        link_ttl=state.settings.link_ttl,
        **context,
    )


@guarded
async def home(request: Request) -> Response:
    who = await session.visitor(request)
    if who is None:
        return pages.render(request, "sign_in.html", title="Sign in", error=None)
    return await _list_page(request, who, deleted=request.query_params.get("deleted"))


@guarded
async def sign_in(request: Request) -> Response:
    form = await read(request)
    state = app_state(request)
    try:
        async with state.pool.connection() as conn:
            token = await service.sign_in(
                conn,
                state.keys,
                client_id=form.get("client_id", ""),
                secret=form.get("client_secret", ""),
                issuer=base_url(request),
                ttl=state.settings.token_ttl,
            )
    except service.SignInFailed as exc:
        return pages.render(request, "sign_in.html", 401, title="Sign in", error=exc.message)
    response = redirect("/console")
    session.set_cookie(request, response, session.TOKEN_COOKIE, token, state.settings.token_ttl)
    return response


@guarded
async def create(request: Request) -> Response:
    who = await session.visitor(request)
    if who is None:
        return redirect("/console")
    form = await read(request)
    state = app_state(request)
    try:
        params = service.snapshot_params(form)
        async with state.pool.connection() as conn:
            record = await snapshots.create(conn, who.principal, params, state.settings)
    except (InputError, RateLimited) as exc:
        message = f"{exc.message}; {exc.hint}" if exc.hint else exc.message
        status = 429 if isinstance(exc, RateLimited) else 400
        return await _list_page(request, who, status, error=message, values=form)
    return redirect(f"/console/snapshots/{record.id}")


async def _snapshot_context(request: Request, who: session.Visitor) -> dict[str, Any]:
    state = app_state(request)
    async with state.pool.connection() as conn:
        record = await snapshots.find(conn, who.principal, request.path_params["snapshot_id"])
        published = record.state in records.PUBLISHED
        parts = await snapshot_rows.parts(conn, record.id) if published else []
    links, links_expire = service.part_links(
        record,
        parts,
        store=state.store,
        base_url=base_url(request),
        link_ttl=state.settings.link_ttl,
    )
    return {
        "snapshot": record,
        "links": links,
        "links_expire": links_expire,
        "final": record.state in _FINAL,
    }


@guarded
async def detail(request: Request) -> Response:
    who = await session.visitor(request)
    if who is None:
        return redirect("/console")
    context = await _snapshot_context(request, who)
    return pages.render(request, "snapshot.html", title="Snapshot", who=who, **context)


@guarded
async def status(request: Request) -> Response:
    """The parts fragment the snapshot page asks for until the export is done.

    With `?wait=S` (at most 30) the answer waits, holding no database connection,
    until there is news of the snapshot (`pond.snapshots.changes`) or S seconds pass.
    """
    who = await session.visitor(request)
    if who is None:
        return pages.render(request, "signed_out_fragment.html", 401)
    seconds = waiting.parse_wait(request.query_params.get("wait"))
    snapshot_id = snapshots.parse_id(request.path_params["snapshot_id"])
    if seconds is None or snapshot_id is None:
        return pages.render(request, "parts.html", **await _snapshot_context(request, who))
    with app_state(request).changes.subscribe(snapshot_id) as news:
        context = await _snapshot_context(request, who)
        news.saw = Mark(context["snapshot"].state)
        if not context["final"] and await news.wait(seconds):
            context = await _snapshot_context(request, who)
    return pages.render(request, "parts.html", **context)


@guarded
async def delete(request: Request) -> Response:
    who = await session.visitor(request)
    if who is None:
        return redirect("/console")
    await read(request)
    state = app_state(request)
    snapshot_id = request.path_params["snapshot_id"]
    async with state.pool.connection() as conn:
        await snapshots.delete(conn, state.store, who.principal, snapshot_id)
    return redirect(f"/console?deleted={snapshot_id}")


routes: list[BaseRoute] = [
    Route("/console", home, methods=["GET"]),
    Route("/console/sign-in", sign_in, methods=["POST"]),
    Route("/console/sign-out", sign_out("/console", session.TOKEN_COOKIE), methods=["POST"]),
    Route("/console/snapshots", create, methods=["POST"]),
    Route("/console/snapshots/{snapshot_id}", detail, methods=["GET"]),
    Route("/console/snapshots/{snapshot_id}/status", status, methods=["GET"]),
    Route("/console/snapshots/{snapshot_id}/delete", delete, methods=["POST"]),
    *operator_routes.routes,
    Mount(
        "/console/static",
        app=StaticFiles(packages=[("pond.console", "static")]),
        name="console-static",
    ),
]

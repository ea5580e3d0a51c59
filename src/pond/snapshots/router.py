"""The snapshot routes: parse, call the service, render.

`POST /insights/snapshots` (create), `GET /insights/snapshots` (list),
`GET /insights/snapshots/<id>` (show, optionally long-polling with `?wait=`) and
`DELETE /insights/snapshots/<id>`. Every one authenticates, then counts against
the client's rate limit.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pond.api import bodies
from pond.api.routing import resources
from pond.api.state import app_state, base_url
from pond.auth import bearer
from pond.snapshots import idempotency, limits, listing, repository, service, waiting
from pond.snapshots.records import WITH_PARTS


async def create_snapshot(request: Request) -> Response:
    """202 with the documented body and `Location`; a replayed Idempotency-Key says so."""
    principal = await limits.caller(request)
    key = idempotency.parse_key(request.headers.get(idempotency.HEADER))
    params = await bodies.parameters(request)
    state = app_state(request)
    async with state.pool.connection() as conn:
        created = await service.schedule(
            conn, principal, params, state.settings, idempotency_key=key
        )
    body = service.render_accepted(created.record, base_url=base_url(request))
    headers = {"Location": body["snapshot"]["href"]}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=202, headers=headers)


async def list_snapshots(request: Request) -> Response:
    """200 `{"items": [...], "next": url or null}`, newest first; 400 on bad parameters."""
    principal = await limits.caller(request)
    query = listing.parse(principal.org_id, request.query_params)
    state = app_state(request)
    async with state.pool.connection() as conn:
        # One more than asked for tells whether there is a next page.
        records = await repository.list_for_org(
            conn, dataclasses.replace(query, limit=query.limit + 1)
        )
        page = records[: query.limit]
        published = [r.id for r in page if r.state in WITH_PARTS]
        parts = await repository.parts_of_many(conn, published)
    base = base_url(request)
    items = [
        service.render(
            record,
            parts.get(record.id, []),
            base_url=base,
            store=state.store,
            link_ttl=state.settings.link_ttl,
            details=True,
        )
        for record in page
    ]
    more = len(records) > query.limit
    next_url = listing.next_url(base, request.query_params, page[-1]) if more else None
    return JSONResponse({"items": items, "next": next_url}, headers={"Cache-Control": "no-store"})


def _wants_details(request: Request) -> bool:
    """`?details=true`: pond's extra item fields; without it, the documented answer exactly."""
    return service.parse_details(request.query_params.get("details"))


async def get_snapshot(request: Request) -> Response:
    """200 with the snapshot (after up to `?wait=` seconds); 404 unknown or deleted, 410 expired.

    The hot path: one statement reads the token's client, the snapshot and its
    parts, and counts the request against the client's rate (shared with the GETs
    that arrive at the same time: `pond.api.batching`); then the checks run in the
    order of the other routes (401/403, 429, 400, 404/410).
    """
    claims = await bearer.token_claims(request)
    state = app_state(request)
    wait = request.query_params.get("wait")
    snapshot_id = service.parse_id(request.path_params["snapshot_id"])
    if wait is None:
        found = await state.lookups.get((claims.client_id, snapshot_id))
        bearer.admit(claims, found.client)
        limits.refuse_over(state, limits.over(found))
        record, parts = service.visible(found.record), found.parts
    else:
        details = request.query_params.get("details")
        record, parts = await waiting.wait_until_finished(
            request, state, claims, snapshot_id, wait, details=details
        )
    body = service.render(
        record,
        parts,
        base_url=base_url(request),
        store=state.store,
        link_ttl=state.settings.link_ttl,
        details=_wants_details(request),
    )
    headers = {"Cache-Control": "no-store"}
    if record.state in waiting.UNFINISHED:
        headers["Retry-After"] = "1"
    return JSONResponse(body, headers=headers)


async def delete_snapshot(request: Request) -> Response:
    """204 once the work is cancelled and the files deleted; 404 if there is no such snapshot."""
    principal = await limits.caller(request)
    state = app_state(request)
    async with state.pool.connection() as conn:
        await service.delete(conn, state.store, principal, request.path_params["snapshot_id"])
    return Response(status_code=204)


# With and without a trailing slash: curl does not follow redirects by default.
routes = [
    *resources(
        "/insights/snapshots",
        {"POST": create_snapshot, "GET": list_snapshots},
        trailing_slash=True,
    ),
    *resources(
        "/insights/snapshots/{snapshot_id}",
        {"GET": get_snapshot, "DELETE": delete_snapshot},
        trailing_slash=True,
    ),
]

"""`POST /insights/events`: parse, check the caller, load, answer."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pond.api.state import app_state
from pond.auth.bearer import authenticate
from pond.errors import MissingContentType, PayloadTooLarge
from pond.events import ingest


async def _body(request: Request) -> bytes:
    """The request body, refused past `ingest.MAX_BODY` before it is all read."""
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLarge(
        f"the body is larger than {ingest.MAX_BODY // (1024 * 1024)} MiB",
        hint="send the events in several smaller batches",
    )
    if declared.isascii() and declared.isdigit() and int(declared) > ingest.MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > ingest.MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def post_events(request: Request) -> Response:
    principal = await authenticate(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        raise MissingContentType(
            "the request has no Content-Type; send text/csv or application/x-ndjson"
        )
    ingest.check_media_type(content_type)
    body = await _body(request)
    columns, data = ingest.prepare(body, content_type)
    async with app_state(request).pool.connection() as conn:
        loaded = await ingest.load(conn, principal.org_id, columns, data)
    return JSONResponse({"result": "OK", "count": loaded}, status_code=201)


routes = [Route("/insights/events", post_events, methods=["POST"])]

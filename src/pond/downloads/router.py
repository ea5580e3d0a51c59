"""`GET /objects/<snapshot id>/<part>`: a signed link downloads with no token.

Range, If-Range, ETag and 416 come from Starlette's FileResponse; errors answer
like S3 (XML), since that is what a browser or curl user of the hosted service sees.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from pond.api.state import app_state
from pond.storage.local import check_key

_NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
)


class PartResponse(FileResponse):
    """Starlette's FileResponse, reading 1 MiB at a time: each read is a trip to a thread."""

    chunk_size = 1 << 20


async def download(request: Request) -> Response:
    key = f"{request.path_params['snapshot_id']}/{request.path_params['name']}"
    state = app_state(request)
    params = request.query_params
    state.signer.check(
        key,
        kid=params.get("KeyId"),
        expires=params.get("Expires"),
        signature=params.get("Signature"),
    )
    try:
        check_key(key)
    except ValueError:
        return Response(_NOT_FOUND, status_code=404, media_type="application/xml")
    path = state.store.local_path(key)
    if path is None or not path.is_file():
        return Response(_NOT_FOUND, status_code=404, media_type="application/xml")
    name = request.path_params["name"]
    filename = name if "." in name else f"{name}.csv"
    return PartResponse(
        path,
        media_type="text/csv" if filename.endswith(".csv") else "application/octet-stream",
        filename=filename,
        headers={"Cache-Control": "private, no-transform"},
    )


routes = [Route("/objects/{snapshot_id}/{name}", download, methods=["GET", "HEAD"])]

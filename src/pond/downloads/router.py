"""`GET /objects/<snapshot id>/<part>`: a signed link downloads with no token.

Range, If-Range, ETag and 416 come from Starlette's FileResponse; errors answer
like S3 (XML), since that is what a browser or curl user of the hosted service sees.
"""

from __future__ import annotations

import os

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pond.api.state import app_state
from pond.storage.local import check_key, content_type

_NOT_FOUND = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
)


class PartResponse(FileResponse):
    """Starlette's FileResponse, reading 1 MiB at a time: each read is a trip to a thread.

    A Range it cannot serve is refused like S3 does (XML), not in Starlette's plain text.
    """

    chunk_size = 1 << 20

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await self._range_refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _range_refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        http_range = headers.get("range")
        if_range = headers.get("if-range")
        if http_range is None or scope["method"].upper() not in ("GET", "HEAD"):
            return None
        if self.stat_result is None:
            self.stat_result = await anyio.to_thread.run_sync(os.stat, self.path)
            self.set_stat_headers(self.stat_result)
        # The same checks, in the same order, as FileResponse.__call__ makes.
        if if_range is not None and not self._should_use_range(if_range):
            return None
        size = self.stat_result.st_size
        if http_range.count(",") >= self.max_ranges:
            # Starlette would quietly send the whole file; say why instead.
            return _s3_refusal("InvalidArgument", "The Range header has too many ranges.", 400)
        try:
            self._parse_range_header(http_range, size)
        except MalformedRangeHeader:
            return _s3_refusal("InvalidArgument", "The Range header is not valid.", 400)
        except RangeNotSatisfiable:
            refusal = _s3_refusal("InvalidRange", "The requested range is not satisfiable.", 416)
            refusal.headers["Content-Range"] = f"bytes */{size}"
            return refusal
        return None


def _s3_refusal(code: str, message: str, status: int) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


async def download(request: Request) -> Response:
    key = f"{request.path_params['snapshot_id']}/{request.path_params['name']}"
    state = app_state(request)
    params = request.query_params
    kid = params.get("KeyId")
    if kid and not state.signer.knows(kid):
        await state.watcher.look_for(kid)  # signed after a rotation this process missed?
    state.signer.check(
        key,
        kid=kid,
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
        media_type=content_type(filename),
        filename=filename,
        headers={"Cache-Control": "private, no-transform"},
    )


routes = [Route("/objects/{snapshot_id}/{name}", download, methods=["GET", "HEAD"])]

"""Request bodies of parameters: a form or a JSON object, and nothing without a Content-Type."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from pond.errors import InputError, MissingContentType

MAX_BYTES = 64 * 1024


async def parameters(
    request: Request, *, max_fields: int = 50, max_bytes: int = MAX_BYTES
) -> dict[str, Any]:
    """The parameters of a form or JSON body; the seed says both need a Content-Type.

    Raises `MissingContentType` without one, `InputError` for a body that is too
    large, not JSON, not an object, or of another type.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        raise MissingContentType(
            "the request has no Content-Type, so its parameters were ignored;"
            " send -H 'Content-Type: application/x-www-form-urlencoded' (or application/json)"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise InputError(f"the request body is larger than {max_bytes} bytes")
    body = await request.body()
    if len(body) > max_bytes:
        raise InputError(f"the request body is larger than {max_bytes} bytes")
    if content_type == "application/x-www-form-urlencoded":
        form = await request.form(max_files=0, max_fields=max_fields)
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

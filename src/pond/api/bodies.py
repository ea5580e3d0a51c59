"""Request bodies of parameters: a form or a JSON object, and nothing without a Content-Type."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from pond.errors import InputError, MissingContentType, PayloadTooLarge, UnsupportedMediaType

MAX_BYTES = 64 * 1024


async def parameters(request: Request, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """The parameters of a form or JSON body; the seed says both need a Content-Type.

    Raises `MissingContentType` without one, `UnsupportedMediaType` for another
    type, `PayloadTooLarge` past `max_bytes`, `InputError` for a body that is not
    JSON or not an object. Fields not read are ignored; the size bounds their number.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        raise MissingContentType(
            "the request has no Content-Type, so its parameters were ignored;"
            " send -H 'Content-Type: application/x-www-form-urlencoded' (or application/json)"
        )
    is_form = content_type == "application/x-www-form-urlencoded"
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if not (is_form or is_json):
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}; use"
            " application/x-www-form-urlencoded or application/json"
        )
    too_large = PayloadTooLarge(f"the request body is larger than {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = await request.body()
    if len(body) > max_bytes:
        raise too_large
    if is_form:
        # A field takes at least one byte: the size limit is the only one needed.
        fields = await request.form(max_files=0, max_fields=max_bytes)
        return {key: value for key, value in fields.items() if isinstance(value, str)}
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InputError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError("the JSON body must be an object of parameters")
    return data

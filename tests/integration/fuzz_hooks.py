"""Schemathesis hooks for `test_fuzz.py`: the rules `/openapi.json` states in words.

JSON Schema cannot compare two fields or say that the names in a comma-separated
list differ, so the document says these in its descriptions, and the server
answers 400 to a request that breaks them. These filters drop the generated
bodies that break them, so that a 400 for a "valid" body still means a bound
the document forgot. They are written from the document, not from pond's code.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import schemathesis

from pond.webhooks.service import URL_PATTERN

WEBHOOK_URL = re.compile(URL_PATTERN)
AUTHORITY = re.compile(r"^https?://[^/?#]*")
# Allowed to the fuzzed server (`webhook_allow_cidrs`), over plain http; nothing listens.
CLOSED_PORT = "http://127.0.0.1:9"


def _instant(value: object) -> datetime | None:
    """An RFC 3339 date-time as a datetime, None if it is not one with a time zone."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


@schemathesis.hook("filter_body").apply_to(method="POST", path="/insights/snapshots")
def range_in_order(context: schemathesis.HookContext, body: Any) -> bool:
    """`created_at_from` must be earlier than `created_at_to`."""
    if not isinstance(body, dict):
        return True
    start, end = _instant(body.get("created_at_from")), _instant(body.get("created_at_to"))
    return start is None or end is None or start < end


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    """A webhook the fuzzer registers points at a closed port of this machine.

    The document's pattern is the form of a URL; where it may reach (public
    addresses over https, plain http only to the operator's allowed ranges) it
    says in words. A URL drawn from the pattern (`https://0.com/`, say) becomes
    `http://127.0.0.1:9/...`, which the fuzzed server allows: pond looks up no
    name and its events for completed snapshots go nowhere. The URL stays one the
    pattern accepts; invalid ones are left as drawn (pond refuses them by their
    form, before any look-up).
    """
    if case.method.upper() != "POST" or case.operation.path != "/insights/webhooks":
        return
    body = case.body
    if (
        isinstance(body, dict)
        and isinstance(body.get("url"), str)
        and WEBHOOK_URL.fullmatch(body["url"])
    ):
        body["url"] = AUTHORITY.sub(CLOSED_PORT, body["url"], count=1)


@schemathesis.hook("filter_body").apply_to(method="POST", path="/insights/snapshots")
def columns_named_once(context: schemathesis.HookContext, body: Any) -> bool:
    """`columns`, comma-separated, names each column once (a JSON list says it with uniqueItems)."""
    columns = body.get("columns") if isinstance(body, dict) else None
    if not isinstance(columns, str):
        return True
    names = columns.split(",")
    return len(set(names)) == len(names)

"""`GET /insights/snapshots`: the query string, the opaque cursor, and the next page's URL."""

from __future__ import annotations

import base64
import re
import struct
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pond.errors import InputError
from pond.snapshots.dates import parse_instant
from pond.snapshots.records import ListQuery, SnapshotRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
STATES = ("pending", "running", "complete", "failed")
_FILTERS = ("limit", "state", "created_after", "created_before")
CURSOR_PATTERN = "^[A-Za-z0-9_-]{32}$"
CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_KNOWN = (*_FILTERS, "cursor")


def parse(org_id: int, params: Mapping[str, str]) -> ListQuery:
    """The page the query string asks for; `InputError` naming any bad parameter."""
    unknown = sorted(set(params) - set(_KNOWN))
    if unknown:
        raise InputError(
            f"unknown query parameter {unknown[0]!r}; the list accepts {', '.join(_KNOWN)}"
        )
    return ListQuery(
        org_id=org_id,
        limit=_limit(params.get("limit")),
        states=_states(params.get("state")),
        created_after=_instant("created_after", params.get("created_after")),
        created_before=_instant("created_before", params.get("created_before")),
        after_key=decode_cursor(params["cursor"]) if "cursor" in params else None,
    )


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    # isascii: `isdigit` alone takes "²", which `int` then refuses.
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIMIT:
        raise InputError(f"limit must be a whole number from 1 to {MAX_LIMIT} (got {value!r})")
    return int(value)


def _states(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    states = tuple(part.strip() for part in value.split(","))
    bad = [s for s in states if s not in STATES]
    if bad:
        raise InputError(
            f"state must be one or more of {', '.join(STATES)}, comma-separated (got {bad[0]!r})"
        )
    return states


def _instant(name: str, value: str | None) -> datetime | None:
    return None if value is None else parse_instant(name, value)


def encode_cursor(record: SnapshotRecord) -> str:
    """An opaque token for the page after `record`: 32 URL-safe base64 characters.

    Its 24 bytes are the snapshot's creation time (microseconds since 1970, signed)
    and its id. Every string of that shape is a position in the list, so the
    OpenAPI pattern is the whole rule: one pond did not make pages from there.
    """
    delta = record.created_at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = struct.pack(">q", micros) + record.id.bytes
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(value: str) -> tuple[datetime, uuid.UUID]:
    """The key a cursor stands for; `InputError` unless it has a cursor's shape."""
    if not CURSOR.fullmatch(value):
        raise InputError(
            "cursor is not one this server made; use the `next` URL of the previous page as is"
        )
    raw = base64.urlsafe_b64decode(value)
    (micros,) = struct.unpack(">q", raw[:8])
    # Past the years a datetime holds, the list has nothing before (or after) it anyway.
    micros = min(max(micros, _MIN_MICROS), _MAX_MICROS)
    return _EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=raw[8:])


def next_url(base_url: str, params: Mapping[str, str], last: SnapshotRecord) -> str:
    """The URL of the page after `last`, keeping the request's filters."""
    kept = [(name, params[name]) for name in _FILTERS if name in params]
    return f"{base_url}/insights/snapshots?{urlencode([*kept, ('cursor', encode_cursor(last))])}"

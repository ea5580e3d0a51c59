"""`Idempotency-Key` on snapshot creation: a retry gets the first answer, a reuse a 409.

A key is scoped to its OAuth client and remembered for 24 hours with a hash of
what the request means (entity, range and export options, after parsing: a form and a JSON body
saying the same thing are the same request).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime

from pond.errors import InputError
from pond.exports.options import ExportOptions
from pond.snapshots import repository
from pond.snapshots.dates import format_instant
from pond.snapshots.records import Remembered
from pond.snapshots.repository import Conn

HEADER = "Idempotency-Key"
KEEP_HOURS = 24
_MAX_LENGTH = 255
# 1 to 255 printable ASCII characters, not starting or ending with a space (HTTP trims those).
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
_KEY = re.compile(KEY_PATTERN)


def parse_key(value: str | None) -> str | None:
    """The header's key, None when absent; `InputError` if empty, too long or not printable."""
    if value is None:
        return None
    key = value.strip()
    if not _KEY.fullmatch(key):
        raise InputError(
            f"{HEADER} must be 1 to {_MAX_LENGTH} printable ASCII characters,"
            " for example a UUID generated once per snapshot you mean to create"
        )
    return key


def request_hash(
    entity: str, start: datetime, end: datetime, options: ExportOptions | None = None
) -> str:
    """A stable fingerprint of what a creation request asks for.

    Options enter it only when given, so a request without any keeps the fingerprint
    it always had (`format=csv` is the default, the same request as none).
    """
    meaning: dict[str, object] = {
        "entity": entity,
        "from": format_instant(start),
        "to": format_instant(end),
    }
    meaning.update((options or ExportOptions()).echo())
    canonical = json.dumps(meaning, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def lookup(conn: Conn, client_id: str, key: str) -> Remembered | None:
    """What `key` stands for in the last 24 hours; locks it until the transaction ends.

    The lock makes concurrent requests with one key wait for each other, so only
    the first creates a snapshot. Keys older than 24 hours are forgotten here.
    """
    await repository.lock_idempotency_key(conn, client_id, key)
    return await repository.remembered_key(conn, client_id, key, keep_hours=KEEP_HOURS)


async def remember(
    conn: Conn, client_id: str, key: str, fingerprint: str, snapshot_id: uuid.UUID
) -> None:
    """Record that `key` created `snapshot_id` (call after `lookup`, in its transaction)."""
    await repository.remember_key(conn, client_id, key, fingerprint, snapshot_id)

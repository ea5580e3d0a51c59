"""The list's cursor: what it encodes, and that every string of its documented shape is one."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from pond.errors import InputError
from pond.snapshots.listing import CURSOR_PATTERN, decode_cursor, encode_cursor


@dataclass
class Record:
    created_at: datetime
    id: uuid.UUID


def test_a_cursor_gives_back_the_time_and_id_it_was_made_from() -> None:
    record = Record(datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC), uuid.uuid4())
    cursor = encode_cursor(record)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert decode_cursor(cursor) == (record.created_at, record.id)


@pytest.mark.parametrize("cursor", ["A" * 32, "_" * 32, "-" * 32, "z9" * 16])
def test_every_string_of_the_documented_shape_is_a_position(cursor: str) -> None:
    when, key = decode_cursor(cursor)
    assert when.tzinfo is not None
    assert isinstance(key, uuid.UUID)


@pytest.mark.parametrize("cursor", ["", "not-a-cursor", "A" * 31, "A" * 33, "A" * 31 + "="])
def test_anything_else_is_refused_with_what_to_do(cursor: str) -> None:
    with pytest.raises(InputError, match="next"):
        decode_cursor(cursor)

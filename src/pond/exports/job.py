"""What one run of an export works on: the snapshot's query, its options, and the run.

A *run* is one attempt at exporting a snapshot: the snapshot's `attempts` when
the run claimed it. Every process that works on the run carries its number,
so nothing a dead run left behind is mistaken for the living run's work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pond.exports.options import ExportOptions

Key = tuple[Any, Any]  # (time, key column) of a row: where a range of rows starts or ends


@dataclass(frozen=True)
class Job:
    snapshot_id: uuid.UUID
    org_id: int
    entity: str
    start: datetime
    end: datetime
    options: ExportOptions = field(default_factory=ExportOptions)
    run: int = 1  # the snapshot's `attempts` when this run claimed it


@dataclass(frozen=True)
class Range:
    """Rows from key `after` (included; None: from the start) to key `before` (excluded;
    None: to the end). `range_no` is its place in the plan; `sub_no` counts the parts
    cut from that planned range, in order, when it held more than one part's rows."""

    range_no: int
    after: Key | None
    before: Key | None
    sub_no: int = 0


def key_text(key: Key | None) -> list[str] | None:
    """A key as text that PostgreSQL reads back as the same values."""
    if key is None:
        return None
    return [v.isoformat() if isinstance(v, (datetime, date)) else str(v) for v in key]


def key_from_text(values: list[str] | None) -> Key | None:
    # Bound as untyped literals: PostgreSQL casts them to the columns' own types.
    return None if values is None else (values[0], values[1])

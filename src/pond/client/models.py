"""Snapshots and their items as typed values that mirror the wire JSON.

`Snapshot.from_wire` and `Item.from_wire` accept what the API answers
(`{"href", "items": [...]}`), keep any field they do not know in `extra`, and
raise `ValueError` when a field the client relies on has the wrong shape.
`to_wire()` gives the JSON object back, as the server sent it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

PENDING = "pending"
RUNNING = "running"
COMPLETE = "complete"
FAILED = "failed"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ITEM_FIELDS = ("href", "size", "count", "state", "query")


@dataclass(frozen=True)
class Query:
    """What a snapshot exports: one entity over `[created_at_from, created_at_to)`.

    `extra` keeps what else the server echoes (pond: `columns`, `compression`).
    """

    entity: str
    created_at_from: str | None
    created_at_to: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Query:
        if not isinstance(data, dict):
            raise ValueError("query must be an object")
        bounds = data.get("created_at") or [None, None]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise ValueError("query.created_at must be a list of two times")
        return cls(
            entity=str(data.get("entity") or "event"),
            created_at_from=None if bounds[0] is None else str(bounds[0]),
            created_at_to=None if bounds[1] is None else str(bounds[1]),
            extra={k: v for k, v in data.items() if k not in ("entity", "created_at")},
        )

    def to_wire(self) -> dict[str, Any]:
        bounds = [self.created_at_from, self.created_at_to]
        return {"entity": self.entity, "created_at": bounds, **self.extra}


@dataclass(frozen=True)
class Item:
    """One part of a snapshot: a CSV with a header row, `count` data rows and `size` bytes.

    `href` is a signed download link (no token needed) once `state` is
    `complete`, else None.
    """

    href: str | None
    size: int | None
    count: int | None
    state: str
    query: Query | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Item:
        if not isinstance(data, dict):
            raise ValueError("an item must be an object")
        href, size, count = data.get("href"), data.get("size"), data.get("count")
        if href is not None and not isinstance(href, str):
            raise ValueError("item.href must be a string or null")
        for name, value in (("size", size), ("count", count)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"item.{name} must be a non-negative integer or null")
        query = data.get("query")
        return cls(
            href=href,
            size=size,
            count=count,
            state=str(data.get("state") or PENDING),
            query=None if query is None else Query.from_wire(query),
            extra={k: v for k, v in data.items() if k not in _ITEM_FIELDS},
        )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "href": self.href,
            "size": self.size,
            "count": self.count,
            "state": self.state,
            "query": None if self.query is None else self.query.to_wire(),
        }
        wire.update(self.extra)
        return wire

    @property
    def name(self) -> str | None:
        """The part name the link ends with (`event_000`), or None without a usable link."""
        if not self.href:
            return None
        last = unquote(urlsplit(self.href).path.rpartition("/")[2])
        return last if _SAFE_NAME.match(last) and last not in (".", "..") else None


@dataclass(frozen=True)
class Snapshot:
    """A scheduled export and its items, as the last GET of its `href` described it."""

    href: str
    items: tuple[Item, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_wire(cls, data: Any) -> Snapshot:
        if not isinstance(data, dict):
            raise ValueError("a snapshot must be an object")
        href, items = data.get("href"), data.get("items")
        if not isinstance(href, str) or not href:
            raise ValueError("snapshot.href must be a non-empty string")
        if not isinstance(items, list):
            raise ValueError("snapshot.items must be a list")
        return cls(
            href=href,
            items=tuple(Item.from_wire(item) for item in items),
            extra={k: v for k, v in data.items() if k not in ("href", "items")},
        )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"href": self.href, "items": [i.to_wire() for i in self.items]}
        wire.update(self.extra)
        return wire

    @property
    def id(self) -> str:
        """The last segment of `href`."""
        return urlsplit(self.href).path.rstrip("/").rpartition("/")[2]

    @property
    def state(self) -> str:
        """`failed` if any item failed, `complete` if all are, else `running` or `pending`."""
        states = [item.state for item in self.items]
        if FAILED in states:
            return FAILED
        if states and all(state == COMPLETE for state in states):
            return COMPLETE
        if RUNNING in states or COMPLETE in states:
            return RUNNING
        return PENDING

    @property
    def is_complete(self) -> bool:
        return self.state == COMPLETE and all(item.href for item in self.items)

    @property
    def query(self) -> Query | None:
        return next((item.query for item in self.items if item.query is not None), None)

    @property
    def size(self) -> int | None:
        """Total bytes over all items, once every item says."""
        sizes = [item.size for item in self.items]
        return None if not sizes or None in sizes else sum(s for s in sizes if s is not None)

    @property
    def count(self) -> int | None:
        """Total data rows over all items, once every item says."""
        counts = [item.count for item in self.items]
        return None if not counts or None in counts else sum(c for c in counts if c is not None)

    @property
    def failure_reason(self) -> str | None:
        """What the server said about a failed item, if anything."""
        for item in self.items:
            if item.state == FAILED:
                reason = item.extra.get("reason") or item.extra.get("error")
                return str(reason) if reason else None
        return None


SnapshotRef = Snapshot | str  # a snapshot, its href, or its id: what the client methods take

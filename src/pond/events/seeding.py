"""Synthetic events for trying pond out and for benchmarks, written with COPY FROM STDIN.

Rows are sent in PostgreSQL's binary COPY format, generated in blocks while
PostgreSQL ingests the previous block. Binary rows spare the server parsing
text (timestamps, UUIDs, numbers): it ingests them in about four fifths of
the time it takes for the same rows as text. Generating is kept cheap: each
field of a pooled value (an event type, a session, a duration, properties)
is encoded once, a timestamp is one integer packed per row, and the random
picks for a block come from one `randbytes` call per column rather than one
call per row. Many organisations go in one COPY (`seed_many`), sharing the
value pools, so that a thousand small tenants cost little more than their rows.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import struct
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import psycopg
from psycopg.copy import QueuedLibpqWriter

from pond.clients.service import check_org
from pond.events import repository

T = TypeVar("T")

_COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "BR", "IN", "JP", "CA", "AU", "MX"]
_PRICED = frozenset(("purchase", "checkout"))
_BLOCK_ROWS = 20_000
_COLUMNS = (
    "org_id", "created_at", "event_type", "actor_id", "device_id", "session_id",
    "country", "value", "duration_ms", "properties",
)  # fmt: skip
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # binary timestamps count from here
_MICROSECOND = timedelta(microseconds=1)
# Binary COPY framing: the header, each row's field count, a NULL field, the trailer.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_ROW = struct.pack(">h", len(_COLUMNS))
_NULL = struct.pack(">i", -1)
_TRAILER = struct.pack(">h", -1)
_TIMESTAMP = struct.Struct(">iq")  # a field of 8 bytes: microseconds since 2000
_JSONB_VERSION = b"\x01"


def _field(value: bytes) -> bytes:
    """One non-NULL field: its length, then its bytes."""
    return struct.pack(">i", len(value)) + value


def _numeric(ten_thousandths: int) -> bytes:
    """A numeric(14, 4) field of `ten_thousandths` / 10,000 (0 to 9,999 units and a fraction).

    Binary numerics are base-10,000 digits with the weight of the first one:
    here at most a units digit and a fraction digit.
    """
    units, fraction = divmod(ten_thousandths, 10_000)
    if units:  # trailing zero digits are left out, as PostgreSQL writes them
        digits, weight = ([units, fraction] if fraction else [units]), 0
    else:
        digits, weight = ([fraction] if fraction else []), (-1 if fraction else 0)
    return _field(struct.pack(f">hhhh{len(digits)}h", len(digits), weight, 0, 4, *digits))


def _weighted_table(weights: dict[str, int]) -> list[str]:
    """256 entries in the given proportions, so that one random byte picks one."""
    total = sum(weights.values())
    table = [name for name, weight in weights.items() for _ in range(weight * 256 // total)]
    return table + [next(iter(weights))] * (256 - len(table))


_EVENT_TYPES = _weighted_table(
    {"page_view": 40, "click": 25, "search": 10, "add_to_cart": 8, "login": 6}
    | {"checkout": 4, "logout": 4, "purchase": 3}
)
# Each entry: the event type's field, and whether a row of that type has a value.
_EVENT_FIELDS = [(_field(kind.encode()), kind in _PRICED) for kind in _EVENT_TYPES]


def _property_pool(rng: random.Random) -> list[bytes]:
    """256 `properties` JSON documents as jsonb fields (one random byte picks one)."""
    pages = ["/", "/pricing", "/docs", "/blog", "/signup", "/cart", "/checkout", "/account"]
    browsers = ["firefox", "chrome", "safari", "edge"]
    pool = []
    for _ in range(256):
        props = {
            "page": rng.choice(pages),
            "browser": rng.choice(browsers),
            "referrer": rng.choice([None, "search", "email", "social", "direct"]),
            "experiment": rng.choice(["a", "b"]),
        }
        text = json.dumps(props, separators=(",", ":"))
        pool.append(_field(_JSONB_VERSION + text.encode()))
    return pool


def _session_pool(rng: random.Random) -> list[bytes]:
    """65,536 entries (two random bytes pick one): the fields `actor, device, session, country`.

    16,384 sessions, each of one actor on one device in one country, as real sessions are.
    """
    pool = []
    for _ in range(16_384):
        actor = f"user-{rng.randrange(50_000):06d}"
        device = f"dev-{rng.randrange(20_000):05d}"
        session = uuid.UUID(int=rng.getrandbits(128), version=4)
        country = rng.choice(_COUNTRIES)
        fields = [actor.encode(), device.encode(), session.bytes, country.encode()]
        pool.append(b"".join(map(_field, fields)))
    return pool * 4


def _duration_pool(rng: random.Random) -> list[bytes]:
    """65,536 integer fields of durations in ms, log-normal around 2 s, clamped to [5, 120000]."""
    median = math.log(2000)
    pool = [
        _field(struct.pack(">i", min(120_000, max(5, round(rng.lognormvariate(median, 1.2))))))
        for _ in range(4096)
    ]
    return pool * 16


def _picks(rng: random.Random, pool: list[T], n: int) -> list[T]:
    """`n` uniform picks from a pool of 256 or 65,536 entries."""
    if len(pool) == 256:
        return list(map(pool.__getitem__, rng.randbytes(n)))
    return list(map(pool.__getitem__, memoryview(rng.randbytes(2 * n)).cast("H")))


@dataclass(frozen=True)
class _Pools:
    """The encoded values rows are picked from, made once per stream."""

    properties: list[bytes]
    sessions: list[bytes]
    durations: list[bytes]

    @classmethod
    def make(cls, rng: random.Random) -> _Pools:
        properties, sessions = _property_pool(rng), _session_pool(rng)
        return cls(properties, sessions, _duration_pool(rng))


def _blocks(
    rng: random.Random, pools: _Pools, org_id: int, start: datetime, end: datetime, count: int
) -> Iterator[bytes]:
    """The rows of one organisation, in blocks, with no header and no trailer."""
    first = (start - _POSTGRES_EPOCH) // _MICROSECOND
    span = (end - _POSTGRES_EPOCH) // _MICROSECOND - first
    head = _ROW + _field(struct.pack(">q", org_id))
    pack_time = _TIMESTAMP.pack
    draw = rng.random
    for block_start in range(0, count, _BLOCK_ROWS):
        n = min(_BLOCK_ROWS, count - block_start)
        # Event i sits at a random microsecond of its own slot [i, i + 1) * span / count:
        # spread, ordered, and never before `start` nor at or past `end`.
        stamps = [
            pack_time(8, first + (span * i + int(draw() * span)) // count)
            for i in range(block_start, block_start + n)
        ]
        kinds = _picks(rng, _EVENT_FIELDS, n)
        values = [_numeric(round(draw() * 2_000_000)) if priced else _NULL for _, priced in kinds]
        rows = zip(
            itertools.repeat(head, n),
            stamps,
            [kind for kind, _ in kinds],
            _picks(rng, pools.sessions, n),
            values,
            _picks(rng, pools.durations, n),
            _picks(rng, pools.properties, n),
            strict=False,  # `repeat` is as long as the others by construction
        )
        yield b"".join(itertools.chain.from_iterable(rows))


def generate_many(
    counts: Sequence[tuple[int, int]], start: datetime, end: datetime, seed: int = 0
) -> Iterator[bytes]:
    """Blocks of binary COPY data: for each `(org_id, count)` in turn, `count` events
    spread evenly over [start, end).

    The first block starts with the format's header and the last ends with its
    trailer: the blocks in order are one whole binary COPY stream. The value pools
    are made once for the whole stream, so an organisation costs only its rows.
    """
    rng = random.Random(seed)
    pools = _Pools.make(rng)
    yield _HEADER
    for org_id, count in counts:
        yield from _blocks(rng, pools, org_id, start, end, count)
    yield _TRAILER


def generate_rows(
    org_id: int, start: datetime, end: datetime, count: int, seed: int = 0
) -> Iterator[bytes]:
    """Blocks of binary COPY data: `count` events of one organisation over [start, end)."""
    return generate_many([(org_id, count)], start, end, seed)


def seed(
    conninfo: str, *, org: str, start: datetime, end: datetime, count: int, seed: int = 0
) -> int:
    """Write `count` synthetic events for organisation `org`; return how many were written."""
    return seed_many(conninfo, {org: count}, start=start, end=end, seed=seed)


def seed_many(
    conninfo: str, counts: Mapping[str, int], *, start: datetime, end: datetime, seed: int = 0
) -> int:
    """Write `counts[org]` synthetic events for each organisation, in one COPY; return the total.

    The organisations are created where missing, in one statement. Each one's
    rows are written together, one organisation after the other, as a batch
    import of each would write them. The rows go in one transaction: all or none.
    """
    for org in counts:
        check_org(org)
    slugs = list(counts)
    with psycopg.connect(conninfo) as conn:
        with conn.transaction():
            ids = repository.ensure_orgs(conn, slugs)
        plan = [(ids[slug], counts[slug]) for slug in slugs]
        # A writer thread sends each block while the next one is generated.
        with conn.transaction(), repository.copy_binary(conn, _COLUMNS, QueuedLibpqWriter) as copy:
            for block in generate_many(plan, start, end, seed):
                copy.write(block)
    return sum(counts.values())

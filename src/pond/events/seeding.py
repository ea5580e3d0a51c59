"""Synthetic events for trying pond out and for benchmarks, written with COPY FROM STDIN.

Rows are generated in blocks while PostgreSQL ingests the previous block, so
on a machine with two cores the cost is close to COPY's own. Generating is
kept cheap: timestamps are integer microseconds formatted from a cached
per-minute prefix, and the random picks for a block come from one
`randbytes` call per column rather than one call per row.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.copy import QueuedLibpqWriter

from pond.clients.service import check_org

_COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "BR", "IN", "JP", "CA", "AU", "MX"]
_PRICED = frozenset(("purchase", "checkout"))
_BLOCK_ROWS = 20_000
_COLUMNS = (
    "org_id", "created_at", "event_type", "actor_id", "device_id", "session_id",
    "country", "value", "duration_ms", "properties",
)  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE = 60_000_000  # microseconds
_SECOND = 1_000_000
_SECONDS = [f"{s:02d}." for s in range(60)]


def _weighted_table(weights: dict[str, int]) -> list[str]:
    """256 entries in the given proportions, so that one random byte picks one."""
    total = sum(weights.values())
    table = [name for name, weight in weights.items() for _ in range(weight * 256 // total)]
    return table + [next(iter(weights))] * (256 - len(table))


_EVENT_TYPES = _weighted_table(
    {"page_view": 40, "click": 25, "search": 10, "add_to_cart": 8, "login": 6}
    | {"checkout": 4, "logout": 4, "purchase": 3}
)


def _property_pool(rng: random.Random) -> list[str]:
    """256 `properties` JSON documents (one random byte picks one)."""
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
        pool.append(json.dumps(props, separators=(",", ":")))
    return pool


def _session_pool(rng: random.Random) -> list[str]:
    """65,536 entries (two random bytes pick one) of `actor, device, session, country`.

    16,384 sessions, each of one actor on one device in one country, as real sessions are.
    """
    pool = []
    for _ in range(16_384):
        actor = f"user-{rng.randrange(50_000):06d}"
        device = f"dev-{rng.randrange(20_000):05d}"
        session = uuid.UUID(int=rng.getrandbits(128), version=4)
        pool.append(f"{actor}\t{device}\t{session}\t{rng.choice(_COUNTRIES)}")
    return pool * 4


def _duration_pool(rng: random.Random) -> list[str]:
    """65,536 durations in ms, log-normal around 2 s, clamped to [5, 120000]."""
    median = math.log(2000)
    pool = [str(min(120_000, max(5, round(rng.lognormvariate(median, 1.2))))) for _ in range(4096)]
    return pool * 16


class _MinutePrefixes(dict[int, str]):
    """`YYYY-MM-DD HH:MM:` for a minute since the epoch, formatted once per minute."""

    def __missing__(self, minute: int) -> str:
        text = (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:")
        self[minute] = text
        return text


def _picks(rng: random.Random, pool: list[str], n: int) -> list[str]:
    """`n` uniform picks from a pool of 256 or 65,536 entries."""
    if len(pool) == 256:
        return list(map(pool.__getitem__, rng.randbytes(n)))
    return list(map(pool.__getitem__, memoryview(rng.randbytes(2 * n)).cast("H")))


def generate_rows(
    org_id: int, start: datetime, end: datetime, count: int, seed: int = 0
) -> Iterator[str]:
    """Blocks of COPY text-format lines: `count` events spread evenly over [start, end)."""
    rng = random.Random(seed)
    first = (start - _EPOCH) // _MICROSECOND
    span = (end - _EPOCH) // _MICROSECOND - first
    org = str(org_id)
    properties, sessions = _property_pool(rng), _session_pool(rng)
    durations = _duration_pool(rng)
    prefixes = _MinutePrefixes()
    draw = rng.random
    for block_start in range(0, count, _BLOCK_ROWS):
        n = min(_BLOCK_ROWS, count - block_start)
        # Event i sits at a random microsecond of its own slot [i, i + 1) * span / count:
        # spread, ordered, and never before `start` nor at or past `end`.
        moments = [
            first + (span * i + int(draw() * span)) // count
            for i in range(block_start, block_start + n)
        ]
        stamps = [
            f"{prefixes[m // _MINUTE]}{_SECONDS[m % _MINUTE // _SECOND]}{m % _SECOND:06d}+00"
            for m in moments
        ]
        kinds = _picks(rng, _EVENT_TYPES, n)
        values = [f"{draw() * 200:.4f}" if kind in _PRICED else r"\N" for kind in kinds]
        rows = zip(
            stamps,
            kinds,
            _picks(rng, sessions, n),
            values,
            _picks(rng, durations, n),
            _picks(rng, properties, n),
            strict=True,
        )
        yield "".join([f"{org}\t{t}\t{k}\t{s}\t{v}\t{d}\t{p}\n" for t, k, s, v, d, p in rows])


def seed(
    conninfo: str, *, org: str, start: datetime, end: datetime, count: int, seed: int = 0
) -> int:
    """Write `count` synthetic events for organisation `org`; return how many were written."""
    check_org(org)
    with psycopg.connect(conninfo) as conn:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO organisations (slug) VALUES (%s)"
                " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
                (org,),
            ).fetchone()
            assert row is not None
            org_id = int(row[0])
        statement = psycopg.sql.SQL("COPY events ({}) FROM STDIN").format(
            psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in _COLUMNS)
        )
        with conn.transaction(), conn.cursor() as cur:
            # A writer thread sends each block while the next one is generated.
            writer = QueuedLibpqWriter(cur)
            with cur.copy(statement, writer=writer) as copy:
                for block in generate_rows(org_id, start, end, count, seed):
                    copy.write(block)
    return count

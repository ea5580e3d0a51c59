"""Synthetic events for trying pond out and for benchmarks, written with COPY FROM STDIN.

Rows are generated in blocks while PostgreSQL ingests the previous block, so
on a machine with two cores the cost is close to COPY's own.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.copy import QueuedLibpqWriter

from pond.clients.service import check_org

_EVENT_TYPES = (
    ["page_view"] * 40
    + ["click"] * 25
    + ["search"] * 10
    + ["add_to_cart"] * 8
    + ["checkout"] * 4
    + ["purchase"] * 3
    + ["login"] * 6
    + ["logout"] * 4
)
_COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "BR", "IN", "JP", "CA", "AU", "MX"]
_BLOCK_ROWS = 20_000
_COLUMNS = (
    "org_id", "created_at", "event_type", "actor_id", "device_id", "session_id",
    "country", "value", "duration_ms", "properties",
)  # fmt: skip


def _property_pool(rng: random.Random) -> list[str]:
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


def generate_rows(
    org_id: int, start: datetime, end: datetime, count: int, seed: int = 0
) -> Iterator[str]:
    """Blocks of COPY text-format lines: `count` events spread evenly over [start, end)."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    step = span / count if count else 0.0
    base = start.astimezone(UTC)
    org = str(org_id)
    properties = _property_pool(rng)
    sessions = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(4096)]
    actors = [f"user-{n:06d}" for n in range(50_000)]
    devices = [f"dev-{n:05d}" for n in range(20_000)]
    for block_start in range(0, count, _BLOCK_ROWS):
        n = min(_BLOCK_ROWS, count - block_start)
        types = rng.choices(_EVENT_TYPES, k=n)
        countries = rng.choices(_COUNTRIES, k=n)
        actor = rng.choices(actors, k=n)
        device = rng.choices(devices, k=n)
        session = rng.choices(sessions, k=n)
        props = rng.choices(properties, k=n)
        lines = []
        for j in range(n):
            i = block_start + j
            # Each event sits at a random point of its own slot: spread, ordered, < end.
            moment = base + timedelta(seconds=(i + rng.random() * 0.999) * step)
            if moment >= end:  # microsecond rounding in a very dense range
                moment = end - timedelta(microseconds=1)
            kind = types[j]
            value = f"{rng.random() * 200:.4f}" if kind in ("purchase", "checkout") else r"\N"
            lines.append(
                f"{org}\t{moment.isoformat()}\t{kind}\t{actor[j]}\t{device[j]}\t{session[j]}\t"
                f"{countries[j]}\t{value}\t{rng.randrange(5, 120_000)}\t{props[j]}\n"
            )
        yield "".join(lines)


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

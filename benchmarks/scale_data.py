"""Case 21's world: organisations of skewed sizes, their events, clients and snapshots.

Events are written by pond's own seeding path (`pond.events.seeding.seed_many`:
binary COPY, many organisations per COPY). Snapshots are written straight into
`snapshots` and `snapshot_parts` as the API and the export leave them: most
complete with one to three parts, some expired (no parts any more). Their
files exist only where the case needs them: for the snapshots that retention
sweeps.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.environment import END, START, create_client
from benchmarks.export_case import Fresh
from pond.events import seeding

TENANT = "scale-tenant"  # the organisation whose export, GET and list are measured
RETENTION = timedelta(days=7)
EXPIRED_EVERY = 10  # one snapshot in ten is past retention, swept already
TENANT_EVERY = 4  # one snapshot in four is the measured tenant's
# The snapshot whose GET is measured: the tenant's (n % 4 == 0), complete, with two parts.
GET_TARGET = 4
PART_BYTES = 4096  # the size of each file the sweep deletes


@dataclass(frozen=True)
class Size:
    """How big the case is: the large table, the small one it is compared with, the load."""

    events: int  # rows of the large table
    organisations: int
    snapshots: int  # snapshots of the large table; as many are swept per sweep run
    small_events: int  # rows of the small table
    small_snapshots: int
    tenant_rows: int  # the measured tenant's rows, the same in both tables
    load_seconds: int  # one run of the load generator

    @classmethod
    def for_events(cls, events: int) -> Size:
        """The full size (20M events, 1,000 organisations, 10,000 snapshots) scaled to
        `events`: 1M is the quick size, a twentieth of everything."""
        full = 20_000_000
        fraction = events / full
        tenant_rows = max(1_000, round(100_000 * fraction))
        return cls(
            events=events,
            organisations=max(10, round(1_000 * fraction)),
            snapshots=max(200, round(10_000 * fraction)),
            small_events=max(2 * tenant_rows, round(1_000_000 * fraction)),
            small_snapshots=100,  # the tenant's 25 fill the measured page of the list
            tenant_rows=tenant_rows,
            load_seconds=5 if fraction >= 1 else 2 if fraction >= 0.05 else 1,
        )


def organisation_rows(rows: int, organisations: int) -> dict[str, int]:
    """`rows` over `organisations` other tenants, sized by rank as 1/rank (Zipf): the
    largest holds about a seventh, the smallest a thousandth of the largest. In a
    shuffled order, so big and small tenants alternate in the table."""
    weights = [1 / rank for rank in range(1, organisations + 1)]
    total = sum(weights)
    counts = [int(rows * weight / total) for weight in weights]
    counts[0] += rows - sum(counts)
    slugs = [f"scale-{rank:04d}" for rank in range(1, organisations + 1)]
    pairs = list(zip(slugs, counts, strict=True))
    random.Random(0).shuffle(pairs)
    return dict(pairs)


def seed_events(conninfo: str, rows: int, size: Size) -> float:
    """Write `rows` events: the measured tenant's `size.tenant_rows` (the same rows in
    every table, halfway through it) and the other tenants' rest. Seconds it took."""
    others = list(organisation_rows(rows - size.tenant_rows, size.organisations - 1).items())
    half = len(others) // 2
    started = time.perf_counter()
    seeding.seed_many(conninfo, dict(others[:half]), start=START, end=END, seed=1)
    seeding.seed(conninfo, org=TENANT, start=START, end=END, count=size.tenant_rows, seed=7)
    seeding.seed_many(conninfo, dict(others[half:]), start=START, end=END, seed=2)
    return time.perf_counter() - started


def add_clients(conninfo: str) -> Fresh:
    """A client for every organisation; the measured tenant's, with its secret.

    The tenant's is made as `pond clients create` makes it; the others, which never
    sign in, are rows with the same (unusable) secret hash, made in one statement.
    """
    made = create_client(conninfo, TENANT)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT c.org_id, c.secret_hash FROM oauth_clients c WHERE c.client_id = %s",
            (made.client_id,),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO oauth_clients (client_id, org_id, name, secret_hash)"
            " SELECT 'scale-client-' || o.id, o.id, 'benchmarks', %s FROM organisations o"
            " WHERE o.slug <> %s",
            (row[1], TENANT),
        )
        rows = conn.execute("SELECT count(*) FROM events WHERE org_id = %s", (row[0],)).fetchone()
    assert rows is not None
    return Fresh(TENANT, int(row[0]), int(rows[0]), made.client_id, made.client_secret)


def _owners(conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[tuple[int, str], list[int]]:
    """The tenant's (org id, client id), and the other organisations' ids."""
    rows = conn.execute(
        "SELECT o.id, o.slug, c.client_id FROM organisations o"
        " JOIN oauth_clients c ON c.org_id = o.id ORDER BY o.id"
    ).fetchall()
    tenant = next((int(r[0]), str(r[2])) for r in rows if r[1] == TENANT)
    return tenant, [int(r[0]) for r in rows if r[1] != TENANT]


def add_snapshots(conninfo: str, count: int, *, due: bool = False) -> list[uuid.UUID]:
    """Write `count` snapshots as the API leaves them, spread over every organisation.

    Without `due`: a tenth of them expired (no parts left), the rest complete with
    one to three parts, created within the retention; a quarter are the measured
    tenant's. With `due`: every one complete with two parts, and its expiry a
    day away (`make_due` brings it forward). Their ids, in order.
    """
    rng = random.Random(count)
    now = datetime.now(UTC)
    snapshots, parts, ids = [], [], []
    with psycopg.connect(conninfo) as conn:
        (tenant_org, tenant_client), others = _owners(conn)
        for n in range(count):
            sid = uuid.uuid4()
            ids.append(sid)
            org = tenant_org if n % TENANT_EVERY == 0 else others[n % len(others)]
            client = tenant_client if org == tenant_org else f"scale-client-{org}"
            expired = not due and n % EXPIRED_EVERY == EXPIRED_EVERY - 1
            age = RETENTION + timedelta(days=rng.uniform(1, 30)) if expired else None
            created = now - (age or timedelta(seconds=rng.uniform(60, 6.9 * 86400)))
            expires = now + timedelta(days=1) if due else created + RETENTION
            state = "expired" if expired else "complete"
            snapshots.append((sid, org, client, state, created, expires))
            for seq in range(0 if expired else 2 if due else 1 + n % 3):
                digest = hashlib.sha256(f"{sid}/{seq}".encode()).hexdigest()
                parts.append((sid, seq, f"event_{seq:03d}", PART_BYTES, 20, digest))
        with conn.cursor() as cur:
            columns = "id, org_id, client_id, entity, created_at_from, created_at_to, state,"
            columns += " attempts, created_at, started_at, completed_at, expires_at"
            with cur.copy(f"COPY snapshots ({columns}) FROM STDIN") as copy:
                for sid, org, client, state, created, expires in snapshots:
                    times = (created, created, created, expires)
                    copy.write_row((sid, org, client, "event", START, END, state, 1, *times))
            names = "snapshot_id, seq, name, size, row_count, sha256"
            with cur.copy(f"COPY snapshot_parts ({names}) FROM STDIN") as copy:
                for part in parts:
                    copy.write_row(part)
    return ids


def write_files(objects: Path, snapshot_ids: list[uuid.UUID]) -> None:
    """The two part files of each snapshot, as the export left them (not synced: a
    benchmark's throwaway files)."""
    body = b"x" * PART_BYTES
    for sid in snapshot_ids:
        directory = objects / str(sid)
        directory.mkdir(parents=True, exist_ok=True)
        for seq in range(2):
            (directory / f"event_{seq:03d}").write_bytes(body)


def make_due(conninfo: str, snapshot_ids: list[uuid.UUID]) -> None:
    """Bring the snapshots' expiry to a second ago: retention may sweep them now."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "UPDATE snapshots SET expires_at = now() - interval '1 second' WHERE id = ANY(%s)",
            (snapshot_ids,),
        )


def remaining(conninfo: str, snapshot_ids: list[uuid.UUID]) -> int:
    """How many of the snapshots retention has not marked expired yet."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM snapshots WHERE id = ANY(%s) AND state <> 'expired'",
            (snapshot_ids,),
        ).fetchone()
    return int(row[0]) if row else 0

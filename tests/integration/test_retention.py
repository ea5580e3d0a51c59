"""The retention sweep: every snapshot past its expiry loses its files and its parts, batch
after batch, and nothing of a snapshot still within retention is touched.

The snapshots are written as an export leaves them (rows, parts, files in the
server's own store); the server runs no worker, so that its periodic
maintenance does not sweep behind the test's back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from pond.exports import repository, retention
from pond.storage.local import LocalStore
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer

Creds = Callable[[str], tuple[str, str]]


@dataclass(frozen=True)
class Tenant:
    org_id: int
    client_id: str
    token: str


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server(run_worker=False)


@pytest.fixture
def tenant(
    server: RunningServer, client_credentials: Creds, get_token: Callable[[str, str], str]
) -> Tenant:
    client_id, secret = client_credentials("acme")
    with psycopg.connect(server.conninfo) as conn:
        row = conn.execute(
            "SELECT org_id FROM oauth_clients WHERE client_id = %s", (client_id,)
        ).fetchone()
    assert row is not None
    return Tenant(int(row[0]), client_id, get_token(client_id, secret))


def store_of(server: RunningServer) -> LocalStore:
    store = server.app.state.pond.store
    assert isinstance(store, LocalStore)
    return store


def make_snapshot(
    server: RunningServer, tenant: Tenant, *, due: bool, state: str = "complete", parts: int = 2
) -> uuid.UUID:
    """A snapshot as the API leaves it: the row and `parts` files, listed as its parts
    unless it was deleted (a delete drops the part rows; an export still in flight may
    have written files since)."""
    sid = uuid.uuid4()
    store = store_of(server)
    with psycopg.connect(server.conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from,"
            " created_at_to, state, attempts, created_at, started_at, completed_at, expires_at,"
            " deleted_at)"
            " VALUES (%s, %s, %s, 'event', %s, %s, %s, 1, now() - interval '7 days',"
            " now() - interval '7 days', now() - interval '7 days', now() + %s::interval,"
            " CASE WHEN %s = 'deleted' THEN now() END)",
            (
                sid,
                tenant.org_id,
                tenant.client_id,
                FROM,
                TO,
                state,
                "-1 minute" if due else "1 hour",
                state,
            ),
        )
        for seq in range(parts):
            writer = store.stage(f"{sid}/event_{seq:03d}")
            writer.write(b"id,created_at\n1,2019-03-13T18:00:00Z\n")
            stored = writer.commit()
            if state != "deleted":
                conn.execute(
                    "INSERT INTO snapshot_parts (snapshot_id, seq, name, size, row_count, sha256)"
                    " VALUES (%s, %s, %s, %s, 1, %s)",
                    (sid, seq, f"event_{seq:03d}", stored.size, stored.sha256),
                )
    return sid


def sweep(server: RunningServer, store: Any = None, batch: int = retention.BATCH) -> int:
    async def go() -> int:
        async with await psycopg.AsyncConnection.connect(server.conninfo, autocommit=True) as conn:
            return await retention.sweep(conn, store or store_of(server), batch)

    return asyncio.run(go())


def standing(server: RunningServer, sid: uuid.UUID) -> tuple[str, int]:
    """The snapshot's state and how many part rows it lists."""
    with psycopg.connect(server.conninfo) as conn:
        row = conn.execute(
            "SELECT state, (SELECT count(*) FROM snapshot_parts WHERE snapshot_id = s.id)"
            " FROM snapshots s WHERE id = %s",
            (sid,),
        ).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def files(server: RunningServer, sid: uuid.UUID) -> list[str]:
    directory = store_of(server).root / str(sid)
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def assert_untouched(server: RunningServer, sids: Sequence[uuid.UUID], state: str) -> None:
    for sid in sids:
        assert standing(server, sid) == (state, 2)
        assert files(server, sid) == ["event_000", "event_001"]


def test_the_sweep_expires_every_due_snapshot_batch_after_batch(
    server: RunningServer, tenant: Tenant
) -> None:
    due = [make_snapshot(server, tenant, due=True) for _ in range(6)]
    due.append(make_snapshot(server, tenant, due=True, state="failed"))
    due.append(make_snapshot(server, tenant, due=True, state="deleted"))
    live = [make_snapshot(server, tenant, due=False) for _ in range(2)]

    assert sweep(server, batch=3) == len(due)  # three rounds: 3, 3 and 2 snapshots

    for sid in due:
        assert standing(server, sid) == ("expired", 0)
        assert files(server, sid) == []
    assert_untouched(server, live, "complete")
    answer = httpx.get(
        f"{server.base_url}/insights/snapshots/{live[0]}", headers=bearer(tenant.token)
    )
    assert answer.status_code == 200
    for item in answer.json()["items"]:
        assert httpx.get(item["href"]).status_code == 200
    gone = httpx.get(f"{server.base_url}/insights/snapshots/{due[0]}", headers=bearer(tenant.token))
    assert gone.status_code == 410
    assert sweep(server) == 0, "nothing is left to sweep"


def test_a_sweep_leaves_the_work_to_the_one_already_running(
    server: RunningServer, tenant: Tenant
) -> None:
    due = [make_snapshot(server, tenant, due=True) for _ in range(2)]
    with psycopg.connect(server.conninfo, autocommit=True) as holder:
        taken = holder.execute(
            "SELECT pg_try_advisory_lock(hashtextextended('pond.retention', 0))"
        ).fetchone()
        assert taken == (True,)
        assert sweep(server) == 0
        assert_untouched(server, due, "complete")
    # The holder's session ended, and its lock with it.
    assert sweep(server) == 2


class FailingStore:
    """The server's store, except that deleting fails as a lost volume or bucket would."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def delete_prefixes(self, prefixes: Sequence[str]) -> None:
        raise OSError("the object store is unreachable")


def test_a_store_failure_leaves_the_snapshots_due_for_the_next_sweep(
    server: RunningServer, tenant: Tenant
) -> None:
    due = [make_snapshot(server, tenant, due=True) for _ in range(3)]

    with pytest.raises(OSError, match="unreachable"):
        sweep(server, FailingStore(store_of(server)))

    assert_untouched(server, due, "complete")
    assert sweep(server) == 3, "the failed sweep released its lock"
    for sid in due:
        assert standing(server, sid) == ("expired", 0)
        assert files(server, sid) == []


def test_mark_expired_leaves_a_snapshot_within_retention_alone(
    server: RunningServer, tenant: Tenant
) -> None:
    live = make_snapshot(server, tenant, due=False)
    due = make_snapshot(server, tenant, due=True)

    async def go() -> list[uuid.UUID]:
        async with await psycopg.AsyncConnection.connect(server.conninfo, autocommit=True) as conn:
            return await repository.mark_expired(conn, [live, due])

    assert asyncio.run(go()) == [due]
    assert standing(server, live) == ("complete", 2)
    assert standing(server, due) == ("expired", 0)

"""A snapshot GET reads the snapshot asked for, whatever the number its organisation holds.

The planner reckons each organisation holds the average number of snapshots; for
an organisation that holds far more, a read that let it walk the organisation's
snapshots would grow with them. The plan is read from PostgreSQL itself
(`EXPLAIN ANALYZE`) on a table with one big organisation among many small ones.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg
import pytest

from pond.snapshots import repository
from tests.integration.helpers import FROM, TO

BIG = 3_000  # the big organisation's snapshots
SMALL_ORGS, EACH = 1_000, 7  # many organisations with a few each


@pytest.fixture
def big_organisation(conninfo: str) -> tuple[str, list[Any]]:
    """Organisation 1 with `BIG` complete snapshots of two parts each, the others with
    `EACH` each, statistics fresh; the big one's client id and snapshot ids."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organisations (slug) SELECT 'org-' || n FROM generate_series(1, %s) n",
            (SMALL_ORGS + 1,),
        )
        conn.execute(
            "INSERT INTO oauth_clients (client_id, org_id, name, secret_hash)"
            " SELECT 'client-' || id, id, 'test', 'unused' FROM organisations"
        )
        owners = f"SELECT 1 FROM generate_series(1, {BIG}) UNION ALL SELECT o FROM"
        owners += f" generate_series(2, {SMALL_ORGS + 1}) o, generate_series(1, {EACH})"
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from,"
            " created_at_to, state, expires_at)"
            f" SELECT gen_random_uuid(), o, 'client-' || o, 'event', %s, %s, 'complete',"
            f" now() + interval '1 day' FROM ({owners}) AS owners (o)",
            (FROM, TO),
        )
        conn.execute(
            "INSERT INTO snapshot_parts (snapshot_id, seq, name, size, row_count, sha256)"
            " SELECT id, seq, 'event_00' || seq, 10, 1, 'x' FROM snapshots,"
            " generate_series(0, 1) seq"
        )
        conn.execute("ANALYZE")
        ids = [row[0] for row in conn.execute("SELECT id FROM snapshots WHERE org_id = 1")]
    return "client-1", ids


def snapshot_rows_read(conninfo: str, keys: list[repository.LookupKey]) -> int:
    """How many rows of `snapshots` the GET's statement reads for `keys`."""
    with psycopg.connect(conninfo) as conn:
        [[plan]] = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + repository._LOOKUP,
            {"clients": [key[0] for key in keys], "snapshots": [key[1] for key in keys]},
        ).fetchall()

    def walk(node: dict[str, Any]) -> int:
        here = 0
        if node.get("Relation Name") == "snapshots":
            here = int(node["Actual Rows"] * node["Actual Loops"])
        return here + sum(walk(child) for child in node.get("Plans", []))

    document = plan if isinstance(plan, list) else json.loads(plan)
    return walk(document[0]["Plan"])


@pytest.mark.parametrize("keys", [1, 8])
def test_a_get_reads_only_the_snapshot_asked_for_in_a_big_organisation(
    conninfo: str, big_organisation: tuple[str, list[Any]], keys: int
) -> None:
    client_id, ids = big_organisation
    asked = [(client_id, sid) for sid in ids[:keys]]

    assert snapshot_rows_read(conninfo, asked) <= keys

    async def lookup() -> dict[repository.LookupKey, repository.Lookup]:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            return await repository.lookup_many(conn, asked)

    found = asyncio.run(lookup())
    for key in asked:
        record = found[key].record
        assert record is not None
        assert record.id == key[1]
        assert [part.seq for part in found[key].parts] == [0, 1]


def test_a_snapshot_of_another_organisation_is_not_found(
    conninfo: str, big_organisation: tuple[str, list[Any]]
) -> None:
    _, ids = big_organisation

    async def lookup() -> repository.Lookup:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            found = await repository.lookup_many(conn, [("client-2", ids[0])])
        return found[("client-2", ids[0])]

    other = asyncio.run(lookup())
    assert other.client is not None
    assert other.client.org_id == 2
    assert other.record is None
    assert other.parts == []

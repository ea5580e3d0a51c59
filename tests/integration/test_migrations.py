"""The numbered migrations and `schema.sql` build the same schema, and upgrading is safe.

A database that was installed from `schema.sql` and one that replayed every
migration must be interchangeable: the next migration runs on both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pond.db.migrate import migrations, upgrade

# Each query describes one kind of object of the `public` schema by name and
# definition only (never by oid), sorted, so two databases compare with `==`.
# Columns are keyed by name rather than position: pond always names its columns.
_CATALOG = {
    "tables": """
        SELECT table_name, table_type
        FROM information_schema.tables
        WHERE table_schema = 'public'
        ORDER BY 1
    """,
    "columns": """
        SELECT table_name, column_name, data_type, udt_name, character_maximum_length,
               numeric_precision, numeric_scale, is_nullable, column_default,
               is_identity, identity_generation, is_generated, generation_expression
        FROM information_schema.columns
        WHERE table_schema = 'public'
        ORDER BY 1, 2
    """,
    "constraints": """
        SELECT cls.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
        FROM pg_constraint con
        JOIN pg_class cls ON cls.oid = con.conrelid
        JOIN pg_namespace ns ON ns.oid = cls.relnamespace
        WHERE ns.nspname = 'public'
        ORDER BY 1, 2
    """,
    "indexes": """
        SELECT tablename, indexname, indexdef
        FROM pg_indexes
        WHERE schemaname = 'public'
        ORDER BY 1, 2
    """,
    "sequences": """
        SELECT sequence_name, data_type, start_value, increment, cycle_option
        FROM information_schema.sequences
        WHERE sequence_schema = 'public'
        ORDER BY 1
    """,
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_function_result(p.oid), md5(p.prosrc)
        FROM pg_proc p
        JOIN pg_namespace ns ON ns.oid = p.pronamespace
        WHERE ns.nspname = 'public'
        ORDER BY 1, 2
    """,
    "triggers": """
        SELECT cls.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t
        JOIN pg_class cls ON cls.oid = t.tgrelid
        JOIN pg_namespace ns ON ns.oid = cls.relnamespace
        WHERE ns.nspname = 'public' AND NOT t.tgisinternal
        ORDER BY 1, 2
    """,
    "types": """
        SELECT t.typname, t.typtype,
               array(SELECT e.enumlabel FROM pg_enum e
                     WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
        FROM pg_type t
        JOIN pg_namespace ns ON ns.oid = t.typnamespace
        WHERE ns.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
        ORDER BY 1
    """,
    "views": """
        SELECT table_name, view_definition
        FROM information_schema.views
        WHERE table_schema = 'public'
        ORDER BY 1
    """,
    # applied_at differs by construction; which versions are recorded must not.
    "migrations": "SELECT version, name FROM pond_migrations ORDER BY 1",
    "queue_migrations": "SELECT name FROM pond_procrastinate_migrations ORDER BY 1",
}


def describe(conninfo: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every object of the `public` schema, by kind, as sorted rows."""
    with psycopg.connect(conninfo) as conn:
        return {kind: conn.execute(query).fetchall() for kind, query in _CATALOG.items()}


def test_migrations_and_schema_sql_build_the_same_schema(
    empty_database: Callable[[], str],
) -> None:
    replayed, fresh = empty_database(), empty_database()

    applied_by_migrations = upgrade(replayed, fresh_from_schema=False)
    applied_fresh = upgrade(fresh)

    numbered = [f"{m.version:04d}_{m.name}" for m in migrations()]
    assert numbered, "pond ships at least one numbered migration"
    assert [a for a in applied_by_migrations if a in numbered] == numbered
    assert "schema.sql" in applied_fresh

    from_migrations, from_schema = describe(replayed), describe(fresh)
    # A schema with the product's tables, so that comparing two empty results proves nothing
    # by accident.
    tables = {row[0] for row in from_schema["tables"]}
    assert {"organisations", "oauth_clients", "signing_keys", "snapshots", "events"} <= tables
    assert "procrastinate_jobs" in tables
    for kind in _CATALOG:
        assert from_migrations[kind] == from_schema[kind], f"{kind} differ"


@pytest.mark.parametrize("fresh_from_schema", [True, False], ids=["schema.sql", "migrations"])
def test_a_second_upgrade_applies_nothing_and_changes_nothing(
    empty_database: Callable[[], str], fresh_from_schema: bool
) -> None:
    conninfo = empty_database()
    assert upgrade(conninfo, fresh_from_schema=fresh_from_schema)
    before = describe(conninfo)

    assert upgrade(conninfo) == []
    assert upgrade(conninfo, fresh_from_schema=fresh_from_schema) == []
    assert describe(conninfo) == before


def test_an_upgrade_keeps_existing_rows(conninfo: str) -> None:
    # `conninfo` is already migrated: a restart of pond must not touch what is stored.
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO organisations (slug) VALUES ('acme')")

    assert upgrade(conninfo) == []

    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT slug FROM organisations").fetchall() == [("acme",)]


def test_concurrent_upgrades_of_an_empty_database_both_succeed(
    empty_database: Callable[[], str],
) -> None:
    conninfo, reference = empty_database(), empty_database()
    upgrade(reference)
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait(10)
            results.append(upgrade(conninfo))
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not any(thread.is_alive() for thread in threads), "an upgrade hung"
    assert errors == []
    assert len(results) == 2
    # One of them installed the schema, the other found it done and applied nothing.
    assert sorted(results, key=len)[0] == []
    assert sorted(results, key=len)[1] != []
    assert describe(conninfo) == describe(reference)


def test_a_missing_migration_is_applied_whatever_newer_ones_the_database_has(
    empty_database: Callable[[], str],
) -> None:
    # As when a migration made on a branch lands after a higher-numbered one was applied:
    # the database misses 0009 only (with later migrations, they stay applied).
    conninfo, reference = empty_database(), empty_database()
    upgrade(reference)
    upgrade(conninfo)
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TRIGGER snapshots_state_notify ON snapshots")
        conn.execute("DROP FUNCTION pond_notify_snapshot()")
        conn.execute("DROP TABLE rate_limits, token_failures")
        conn.execute("DELETE FROM pond_migrations WHERE version = 9")

    assert upgrade(conninfo) == ["0009_shared_waits_and_limits"]
    assert describe(conninfo) == describe(reference)

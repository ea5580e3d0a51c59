"""Versioned schema migrations, and procrastinate's schema, applied under one lock.

A fresh database gets `schema.sql` (the whole current schema) and is marked at
every version; an existing one gets each numbered migration it has not
recorded, in order (also one numbered below a migration it already has). A
test keeps both paths building the same schema. The job queue's tables are
then installed or upgraded by procrastinate's own SQL (`queue_schema.py`), in
the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from pond.db import queue_schema

# Any constant works; it only has to be the same in every pond process.
_LOCK_ID = 0x706F6E64  # "pond"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every numbered migration shipped with pond, oldest first."""
    found = []
    for entry in resources.files("pond.db.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def fresh_schema() -> str:
    return resources.files("pond.db").joinpath("schema.sql").read_text(encoding="utf-8")


def current_version(conn: psycopg.Connection) -> int | None:
    """The schema version of the database, or None where pond was never installed."""
    exists = conn.execute("SELECT to_regclass('pond_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT max(version) FROM pond_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def upgrade(conninfo: str, *, fresh_from_schema: bool = True) -> list[str]:
    """Bring the database to the newest schema; return what was applied.

    Safe to call from several processes at once: they queue on an advisory lock.
    `fresh_from_schema=False` replays every migration even on an empty database
    (the test that compares both paths uses it).
    """
    applied: list[str] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            with conn.transaction():
                applied += _upgrade_pond(conn, fresh_from_schema)
                applied += queue_schema.upgrade(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied


def _upgrade_pond(conn: psycopg.Connection, fresh_from_schema: bool) -> list[str]:
    version = current_version(conn)
    all_migrations = migrations()
    if version is None:
        conn.execute(
            "CREATE TABLE pond_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        if fresh_from_schema:
            conn.execute(fresh_schema().encode())
            for m in all_migrations:
                conn.execute(
                    "INSERT INTO pond_migrations (version, name) VALUES (%s, %s)",
                    (m.version, m.name),
                )
            return ["schema.sql"]
    applied = {row[0] for row in conn.execute("SELECT version FROM pond_migrations")}
    done = []
    for m in all_migrations:
        # Every missing one, not only those above the newest applied: migrations made on
        # branches land out of order, and a database may have a later one already.
        if m.version in applied:
            continue
        conn.execute(m.sql.encode())
        conn.execute(
            "INSERT INTO pond_migrations (version, name) VALUES (%s, %s)", (m.version, m.name)
        )
        done.append(f"{m.version:04d}_{m.name}")
    return done

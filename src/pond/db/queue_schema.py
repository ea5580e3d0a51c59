"""The job queue's schema: procrastinate's tables, installed and upgraded by its own SQL.

procrastinate ships its whole current schema (`schema.sql`) and one SQL file per
change (`sql/migrations/xx.yy.zz_nn_{pre|post}_name.sql`, where `xx.yy.zz` is
the first release whose schema includes it), and leaves it to its users to
track which files a database has had. pond records them in
`pond_procrastinate_migrations`, inside the transaction of `migrate.upgrade`:

- a database without procrastinate's tables gets procrastinate's `schema.sql`,
  and every migration shipped with it is recorded;
- a database with the tables but no record (installed by a pond that did not
  record them yet) is taken to be at `OLDEST_SUPPORTED`: the migrations named
  for that release or earlier are recorded;
- then every shipped migration not recorded yet is applied, oldest first, and
  recorded: the `pre` and the `post` ones in the same step (so when
  procrastinate's version changes, docs/deploy.md has every pond process stop
  first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from procrastinate.schema import SchemaManager

# The oldest procrastinate release pond runs with (pyproject.toml pins `>=3.10,<4`):
# the first whose job manager defers and cancels on a caller's connection.
OLDEST_SUPPORTED = (3, 10, 0)

# Which of procrastinate's migration files the database has had (see above).
_RECORD_TABLE = (
    "CREATE TABLE IF NOT EXISTS pond_procrastinate_migrations ("
    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)
_MIGRATION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class QueueMigration:
    name: str
    release: tuple[int, int, int]
    serial: int
    path: Path


def shipped_migrations() -> list[QueueMigration]:
    """Every migration of the installed procrastinate, oldest first."""
    found = []
    for path in Path(SchemaManager.get_migrations_path()).glob("*.sql"):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            release = (int(match[1]), int(match[2]), int(match[3]))
            found.append(QueueMigration(path.name, release, int(match[4]), path))
    return sorted(found, key=lambda m: (m.release, m.serial, m.name))


def upgrade(conn: psycopg.Connection) -> list[str]:
    """Install or upgrade procrastinate's schema on `conn` (in its transaction); what was done."""
    conn.execute(_RECORD_TABLE)
    installed = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
    if not (installed and installed[0]):
        conn.execute(SchemaManager.get_schema().encode())
        _record(conn, [m.name for m in shipped_migrations()])
        return ["procrastinate schema"]
    done: list[str] = []
    if not _recorded(conn):
        done += record_release(conn, OLDEST_SUPPORTED)
    recorded = _recorded(conn)
    for migration in shipped_migrations():
        if migration.name not in recorded:
            conn.execute(migration.path.read_bytes())
            _record(conn, [migration.name])
            done.append(f"procrastinate {migration.name}")
    return done


def record_release(conn: psycopg.Connection, release: tuple[int, int, int]) -> list[str]:
    """Record the database's procrastinate schema as that of `release` (no SQL of it runs)."""
    conn.execute(_RECORD_TABLE)
    _record(conn, [m.name for m in shipped_migrations() if m.release <= release])
    return ["procrastinate schema taken as {}.{}.{}".format(*release)]


def _recorded(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM pond_procrastinate_migrations")}


def _record(conn: psycopg.Connection, names: list[str]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO pond_procrastinate_migrations (name) VALUES (%s) ON CONFLICT DO NOTHING",
            [(name,) for name in names],
        )

"""The job queue's schema is installed and upgraded by procrastinate's own SQL, and
jobs are deferred and cancelled through procrastinate's own API, in pond's transactions.

The schema of the oldest procrastinate release pond supports comes from that
release's wheel (see tests/data/procrastinate/README.md).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pond.db import queue_schema
from pond.db.migrate import upgrade
from pond.jobs import queue
from tests.integration.test_migrations import describe

PAST_SCHEMAS = Path(__file__).parents[1] / "data" / "procrastinate"
CHECK_QUEUE = "schema_check"
CHECK_TASK = "pond.schema_check"


def _install_oldest_procrastinate(conninfo: str) -> None:
    """Give an empty database the job queue's schema exactly as procrastinate's oldest
    supported release installs it."""
    release = ".".join(map(str, queue_schema.OLDEST_SUPPORTED))
    sql = (PAST_SCHEMAS / f"schema-{release}.sql").read_bytes()
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql)


def _migrate_procrastinate_until(conninfo: str, release: tuple[int, int, int]) -> None:
    """Give an empty database the job queue's schema of `release` by procrastinate's own
    migrations from its first one (as procrastinate's own tests build it), and record it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for migration in queue_schema.shipped_migrations():
            if migration.release <= release:
                conn.execute(migration.path.read_bytes())
        queue_schema.record_release(conn, release)


def _process_one_job(conninfo: str) -> tuple[list[int], str]:
    """Defer a job with pond's `queue.defer`, run a procrastinate worker until the queue
    is empty; return what the task received and the job's final status."""
    received: list[int] = []

    async def run() -> str:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

        @app.task(name=CHECK_TASK, queue=CHECK_QUEUE)
        def check(value: int) -> None:
            received.append(value)

        with psycopg.connect(conninfo) as conn, conn.transaction():
            [job_id] = queue.defer(conn, CHECK_QUEUE, CHECK_TASK, {"value": 7})
        async with app.open_async():
            await app.run_worker_async(queues=[CHECK_QUEUE], wait=False)
            status = await app.job_manager.get_job_status_async(job_id)
        return status.value

    status = asyncio.run(run())
    return received, status


def test_a_database_of_the_oldest_supported_procrastinate_upgrades_to_a_fresh_install(
    empty_database: Callable[[], str],
) -> None:
    # A database whose queue was installed by procrastinate 3.10.0, before pond recorded
    # procrastinate's migrations: pond takes it as 3.10.0 and applies whatever came since.
    old, fresh = empty_database(), empty_database()
    _install_oldest_procrastinate(old)

    applied = upgrade(old)
    upgrade(fresh)

    newer = [
        f"procrastinate {m.name}"
        for m in queue_schema.shipped_migrations()
        if m.release > queue_schema.OLDEST_SUPPORTED
    ]
    assert applied == ["schema.sql", "procrastinate schema taken as 3.10.0", *newer]
    upgraded, installed = describe(old), describe(fresh)
    for kind in installed:
        assert upgraded[kind] == installed[kind], f"{kind} differ"
    assert upgrade(old) == []
    assert _process_one_job(old) == ([7], "succeeded")


def test_every_migration_since_an_older_release_is_applied_in_order(
    empty_database: Callable[[], str],
) -> None:
    # A queue recorded at 3.0.0 needs every migration of 3.1 to this release: applied by
    # pond, they give exactly the schema a fresh install of this release gives.
    old, fresh = empty_database(), empty_database()
    _migrate_procrastinate_until(old, (3, 0, 0))

    applied = upgrade(old)
    upgrade(fresh)

    since = [m.name for m in queue_schema.shipped_migrations() if m.release > (3, 0, 0)]
    assert len(since) >= 7, "3.1 to 3.4 brought seven migrations"
    assert applied == ["schema.sql", *[f"procrastinate {name}" for name in since]]
    upgraded, installed = describe(old), describe(fresh)
    for kind in installed:
        assert upgraded[kind] == installed[kind], f"{kind} differ"
    assert _process_one_job(old) == ([7], "succeeded")


def test_a_migration_that_fails_leaves_the_database_as_it_was(
    empty_database: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A procrastinate release cannot be made to ship a broken migration here: two
    # migration files of a future release stand in, the first sound, the second not.
    conninfo = empty_database()
    upgrade(conninfo)
    before = describe(conninfo)
    sound, broken = tmp_path / "99.00.00_01_pre_sound.sql", tmp_path / "99.00.00_02_pre_broken.sql"
    sound.write_text("CREATE TABLE procrastinate_sound (id bigint);")
    broken.write_text("SELECT 1 / 0;")
    shipped = queue_schema.shipped_migrations()
    future = [
        queue_schema.QueueMigration(path.name, (99, 0, 0), serial, path)
        for serial, path in enumerate((sound, broken), start=1)
    ]
    monkeypatch.setattr(queue_schema, "shipped_migrations", lambda: [*shipped, *future])

    with pytest.raises(psycopg.errors.DivisionByZero):
        upgrade(conninfo)

    assert describe(conninfo) == before, "neither file nor its record was kept"
    broken.write_text("SELECT 1;")
    assert upgrade(conninfo) == [f"procrastinate {sound.name}", f"procrastinate {broken.name}"]


def test_a_job_exists_only_if_its_transaction_commits(conninfo: str) -> None:
    def jobs() -> list[tuple[Any, ...]]:
        with psycopg.connect(conninfo) as conn:
            return conn.execute(
                "SELECT task_name, queue_name, priority, args FROM procrastinate_jobs"
                " WHERE queue_name = %s ORDER BY id",
                (CHECK_QUEUE,),
            ).fetchall()

    with psycopg.connect(conninfo) as conn:  # not autocommit: one transaction until commit
        queue.defer(conn, CHECK_QUEUE, CHECK_TASK, {"value": 1}, count=3)
        conn.rollback()
        assert jobs() == []

        ids = queue.defer(conn, CHECK_QUEUE, CHECK_TASK, {"value": 2}, count=2, priority=5)
        assert jobs() == [], "not visible before the commit"
        conn.commit()
    assert len(set(ids)) == 2
    assert jobs() == [(CHECK_TASK, CHECK_QUEUE, 5, {"value": 2})] * 2


def test_a_database_error_while_deferring_is_psycopgs_own(conninfo: str) -> None:
    # pond's callers (and its 503 handler) know database errors as psycopg raises them.
    with psycopg.connect(conninfo) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            queue.defer(conn, CHECK_QUEUE, CHECK_TASK, {"value": 3})


def test_cancelling_on_the_callers_connection(conninfo: str) -> None:
    async def run() -> tuple[bool, bool, str]:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            async with conn.transaction():
                [job_id] = await queue.defer_async(conn, CHECK_QUEUE, CHECK_TASK, {"value": 4})
            async with conn.transaction():
                first = await queue.cancel_async(conn, job_id)
            async with conn.transaction():
                again = await queue.cancel_async(conn, job_id)
            row = await (
                await conn.execute(
                    "SELECT status::text FROM procrastinate_jobs WHERE id = %s", (job_id,)
                )
            ).fetchone()
            assert row is not None
            return first, again, row[0]

    assert asyncio.run(run()) == (True, False, "cancelled")


def test_the_oldest_supported_release_is_the_one_pyproject_pins() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    [pinned] = [
        Requirement(text)
        for text in project["project"]["optional-dependencies"]["server"]
        if Requirement(text).name == "procrastinate"
    ]
    [lowest] = [Version(spec.version) for spec in pinned.specifier if spec.operator == ">="]
    release = ".".join(map(str, queue_schema.OLDEST_SUPPORTED))
    assert lowest == Version(release)
    assert importlib.metadata.version("procrastinate") in pinned.specifier
    assert (PAST_SCHEMAS / f"schema-{release}.sql").is_file()

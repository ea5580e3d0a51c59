"""One snapshot's parts shared between processes, inside one consistent view of the data.

The export job (the coordinator) plans the parts and asks for helper jobs; here
the helpers are separate Python processes that take the helper job's arguments
from the queue, as a `pond worker` elsewhere would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from pond.downloads.signing import LinkSigner
from pond.events import seeding
from pond.exports import coordinator
from pond.jobs import queue
from pond.snapshots.repository import EXPORT_QUEUE, EXPORT_TASK
from pond.storage.local import LocalStore

from .processes import service_env, start_pond, stop
from .test_export_job import FROM, TO, exported_ids, new_snapshot, store_at

# A store whose parts each take a while, so that several processes share them.
SLOW_STORE = """
import time
from pond.storage.local import LocalStore

class SlowStore(LocalStore):
    pause = {pause}

    def stage(self, key):
        time.sleep(self.pause)
        return super().stage(key)
"""


class SlowStore(LocalStore):
    pause = 0.3

    def stage(self, key: str):  # type: ignore[no-untyped-def]
        time.sleep(self.pause)
        return super().stage(key)


def helper_process(
    conninfo: str, root: Path, sid: uuid.UUID, *, pause: float
) -> subprocess.Popen[str]:
    """A process that waits for the snapshot's helper job, then runs it with `help_export`."""
    script = SLOW_STORE.format(pause=pause) + textwrap.dedent(
        f"""
        import json, uuid
        from pathlib import Path
        import psycopg
        from pond.downloads.signing import LinkSigner
        from pond.exports import coordinator

        conninfo, sid = {conninfo!r}, {str(sid)!r}
        deadline = time.monotonic() + 30
        with psycopg.connect(conninfo, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT args FROM procrastinate_jobs WHERE task_name = %s"
                    " AND args->>'snapshot_id' = %s",
                    (coordinator.PARTS_TASK, sid),
                ).fetchone()
                if row is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        args = row[0]
        store = SlowStore(Path({str(root)!r}), LinkSigner("k", b"s" * 32))
        print("started", flush=True)
        done = coordinator.help_export(
            conninfo, store, uuid.UUID(args["snapshot_id"]), args["run"], args["snapshot"],
            max_rows=200,
        )
        print(json.dumps({{"parts": done}}), flush=True)
        """
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def expected_ids(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id FROM events WHERE created_at >= %s AND created_at < %s"
            " ORDER BY created_at, id",
            (FROM, TO),
        ).fetchall()
    return [int(r[0]) for r in rows]


def coordinate(
    conninfo: str, store: LocalStore, sid: uuid.UUID, result: list[Any]
) -> threading.Thread:
    def run() -> None:
        result.append(coordinator.run(conninfo, store, sid, max_rows=200, streams=1, helpers=1))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_helper_process_shares_the_parts_and_the_snapshot_is_exact(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=2000)
    sid = new_snapshot(conninfo, client_credentials)
    expected = expected_ids(conninfo)
    helper = helper_process(conninfo, tmp_path, sid, pause=0.3)
    result: list[Any] = []
    store = SlowStore(tmp_path, LinkSigner("k", b"s" * 32))
    leader = coordinate(conninfo, store, sid, result)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Once the helper job is queued the export's snapshot is taken: rows written
        # from now on are not in it, whoever exports the part they fall in.
        deadline = time.monotonic() + 30
        while not conn.execute(
            "SELECT 1 FROM procrastinate_jobs WHERE args->>'snapshot_id' = %s", (str(sid),)
        ).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        conn.execute(
            "INSERT INTO events (org_id, created_at, event_type)"
            " SELECT org_id, %s, 'late' FROM events LIMIT 1",
            (FROM,),
        )
    leader.join(60)
    out, _ = helper.communicate(timeout=60)
    helped = json.loads(out.splitlines()[-1])["parts"]
    assert result
    assert result[0].published
    assert not result[0].failed
    assert len(result[0].parts) == 10
    assert 1 <= helped < 10, "the helper process took none of the parts"
    ids = exported_ids(tmp_path, sid)
    assert ids == expected
    with psycopg.connect(conninfo) as conn:
        counts = conn.execute(
            "SELECT count(*), sum(row_count) FROM snapshot_parts WHERE snapshot_id = %s"
            " AND state = 'complete'",
            (sid,),
        ).fetchone()
    assert counts == (10, 2000)


def test_a_helper_in_the_coordinators_own_process_declines(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    """A process exports at most `streams` parts of a run at once: a helper job that the
    coordinator's own process takes (its second job slot) ends at once, leaving the parts
    to the coordinator and to other processes."""
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=2000)
    sid = new_snapshot(conninfo, client_credentials)
    expected = expected_ids(conninfo)
    result: list[Any] = []
    store = SlowStore(tmp_path, LinkSigner("k", b"s" * 32))
    leader = coordinate(conninfo, store, sid, result)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while not (
            row := conn.execute(
                "SELECT args FROM procrastinate_jobs WHERE task_name = %s"
                " AND args->>'snapshot_id' = %s",
                (coordinator.PARTS_TASK, str(sid)),
            ).fetchone()
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    args = row[0]
    started = time.monotonic()
    helped = coordinator.help_export(
        conninfo, store, sid, args["run"], args["snapshot"], max_rows=200, streams=2
    )
    declined_in = time.monotonic() - started
    # Ten parts of 0.3 s each, one at a time: the coordinator is far from done.
    assert leader.is_alive(), "the export ended before the helper was tried"
    assert helped == 0
    assert declined_in < 0.3 * 2, f"the helper took {declined_in:.2f} s to decline"
    leader.join(60)
    assert result
    assert result[0].published
    assert not result[0].failed
    assert len(result[0].parts) == 10
    assert exported_ids(tmp_path, sid) == expected
    # Once the run is over here, a helper for another run of this process is not declined
    # for it: the mark is gone.
    assert not coordinator._here


def test_the_part_of_a_killed_helper_is_taken_back_by_the_coordinator(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=1000)
    sid = new_snapshot(conninfo, client_credentials)
    # The helper stalls inside its first part: it holds that part when it is killed.
    helper = helper_process(conninfo, tmp_path, sid, pause=600)
    result: list[Any] = []
    leader = coordinate(conninfo, SlowStore(tmp_path, LinkSigner("k", b"s" * 32)), sid, result)
    assert helper.stdout is not None
    assert helper.stdout.readline().strip() == "started"
    time.sleep(0.5)  # inside its first part now
    os.kill(helper.pid, signal.SIGKILL)
    helper.communicate(timeout=10)
    leader.join(60)
    assert not leader.is_alive()
    assert result
    assert result[0].published
    assert not result[0].failed
    ids = exported_ids(tmp_path, sid)
    assert ids == expected_ids(conninfo)
    assert len(ids) == 1000
    leftovers = [p.name for p in (tmp_path / str(sid)).iterdir() if not p.name.startswith("event_")]
    assert leftovers == []


def test_a_helper_of_a_finished_run_does_nothing(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=600)
    sid = new_snapshot(conninfo, client_credentials)
    outcome = coordinator.run(conninfo, store_at(tmp_path), sid, max_rows=200, helpers=2)
    assert outcome.published
    assert len(outcome.parts) == 3
    with psycopg.connect(conninfo) as conn:
        jobs = conn.execute(
            "SELECT args, priority FROM procrastinate_jobs WHERE task_name = %s"
            " AND args->>'snapshot_id' = %s",
            (coordinator.PARTS_TASK, str(sid)),
        ).fetchall()
    # Two helpers were asked for, ahead of new exports in the queue.
    assert len(jobs) == 2
    assert {priority for _, priority in jobs} == {coordinator.PARTS_PRIORITY}
    args = jobs[0][0]
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / str(sid)).iterdir())
    # The coordinator has committed: its snapshot can no longer be joined, and the run is over.
    assert (
        coordinator.help_export(
            conninfo, store_at(tmp_path), sid, args["run"], args["snapshot"], max_rows=200
        )
        == 0
    )
    after = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / str(sid)).iterdir())
    assert before == after


def listening(conn: psycopg.Connection[Any]) -> int:
    """Connections of this database listening for new jobs."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query ILIKE 'LISTEN %%'"
    ).fetchone()
    return int(row[0]) if row else 0


def test_two_worker_processes_share_one_snapshot(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=20_000)
    sid = new_snapshot(conninfo, client_credentials)
    env = service_env(
        conninfo,
        tmp_path / "data",
        POND_PART_MAX_ROWS="500",
        POND_EXPORT_STREAMS="1",
        POND_EXPORT_HELPERS="1",
        POND_STORAGE_URL=(tmp_path / "objects").as_uri(),
    )
    logs = [tmp_path / "worker-0.log", tmp_path / "worker-1.log"]
    workers = [start_pond(["worker", "--concurrency", "1"], env, log) for log in logs]
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            # Both workers listen for new jobs (a job queued before that waits for a poll).
            while listening(conn) < 2:
                assert time.monotonic() < deadline, "the workers did not start"
                time.sleep(0.05)
            with conn.transaction():
                [job] = queue.defer(conn, EXPORT_QUEUE, EXPORT_TASK, {"snapshot_id": str(sid)})
                conn.execute("UPDATE snapshots SET job_id = %s WHERE id = %s", (job, sid))
            while (conn.execute("SELECT state FROM snapshots WHERE id = %s", (sid,)).fetchone()
                   or ("",))[0] != "complete":  # fmt: skip
                assert time.monotonic() < deadline + 60, "the snapshot did not complete"
                time.sleep(0.05)
            ran_on: dict[str, int] = {}
            while len(ran_on) < 2:  # both jobs finished
                assert time.monotonic() < deadline + 90, f"jobs still running: {ran_on}"
                time.sleep(0.05)
                ran_on = dict(
                    conn.execute(
                        "SELECT task_name, worker_id FROM procrastinate_jobs"
                        " WHERE args->>'snapshot_id' = %s AND status = 'succeeded'",
                        (str(sid),),
                    ).fetchall()
                )
    finally:
        stop(workers)
    # Each worker runs one job at a time: the helper ran beside the export job.
    assert set(ran_on) == {EXPORT_TASK, coordinator.PARTS_TASK}
    assert ran_on[EXPORT_TASK] != ran_on[coordinator.PARTS_TASK]
    helped = [
        json.loads(line)
        for log in logs
        for line in log.read_text().splitlines()
        if '"export.helped"' in line
    ]
    assert len(helped) == 1
    assert helped[0]["parts"] >= 1, "the second worker exported none of the parts"
    ids = exported_ids(tmp_path / "objects", sid)
    assert ids == expected_ids(conninfo)

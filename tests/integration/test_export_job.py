"""The export job: one point-in-time view, exact counts, and safe to run again after a crash."""

from __future__ import annotations

import csv
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
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from pond.downloads.signing import LinkSigner
from pond.events import seeding
from pond.exports import coordinator, planning
from pond.exports import copy_out as copy_out_module
from pond.exports.progress import Progress
from pond.snapshots.dates import parse_instant
from pond.storage.base import StoredObject
from pond.storage.local import LocalStore

FROM, TO = parse_instant("f", "2019-03-13T18:00:00Z"), parse_instant("t", "2019-03-28T18:00:00Z")


def new_snapshot(
    conninfo: str, client: Callable[[str], tuple[str, str]], org: str = "acme"
) -> uuid.UUID:
    client_id, _ = client(org)
    sid = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from, created_at_to,"
            " expires_at) SELECT %s, org_id, client_id, 'event', %s, %s, now() + interval '1 day'"
            " FROM oauth_clients WHERE client_id = %s",
            (sid, FROM, TO, client_id),
        )
    return sid


def store_at(root: Path) -> LocalStore:
    return LocalStore(root, LinkSigner("k", b"s" * 32))


def exported_ids(root: Path, sid: uuid.UUID) -> list[int]:
    ids: list[int] = []
    for part in sorted((root / str(sid)).glob("event_*")):
        with part.open(newline="") as handle:
            ids += [int(row["id"]) for row in csv.DictReader(handle)]
    return ids


@pytest.mark.parametrize("streams", [1, 3])
def test_rows_arriving_during_an_export_are_not_in_it(
    conninfo: str,
    client_credentials: Callable[[str], tuple[str, str]],
    tmp_path: Path,
    streams: int,
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=1000)
    sid = new_snapshot(conninfo, client_credentials)
    first_write = threading.Event()
    proceed = threading.Event()

    class PausingStore(LocalStore):
        """The real local store, paused after its first write so the test can change data."""

        def stage(self, key: str):  # type: ignore[no-untyped-def]
            writer = super().stage(key)
            original = writer.write

            def write(data: bytes) -> None:
                original(data)
                if not first_write.is_set():
                    first_write.set()
                    assert proceed.wait(30)

            writer.write = write  # type: ignore[method-assign]
            return writer

    store = PausingStore(tmp_path, LinkSigner("k", b"s" * 32))
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(
            len(coordinator.run(conninfo, store, sid, max_rows=300, streams=streams).parts)
        )
    )
    worker.start()
    assert first_write.wait(30)
    with psycopg.connect(conninfo) as conn:
        org_id = conn.execute("SELECT id FROM organisations WHERE slug = 'acme'").fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO events (org_id, created_at, event_type)"
            " SELECT %s, %s + make_interval(secs => g), 'late' FROM generate_series(1, 50) g",
            (org_id, FROM),
        )
        conn.execute("DELETE FROM events WHERE id IN (SELECT max(id) FROM events)")
        conn.execute("UPDATE events SET event_type = 'changed' WHERE org_id = %s", (org_id,))
    proceed.set()
    worker.join(30)
    assert result == [4]
    ids = exported_ids(tmp_path, sid)
    assert len(ids) == len(set(ids)) == 1000
    with psycopg.connect(conninfo) as conn:
        counts = conn.execute(
            "SELECT sum(row_count), count(*) FROM snapshot_parts WHERE snapshot_id = %s", (sid,)
        ).fetchone()
    assert counts == (1000, 4)
    for part in (tmp_path / str(sid)).glob("event_*"):
        assert "changed" not in part.read_text()
        assert "late" not in part.read_text()


def test_a_part_that_keeps_failing_does_not_hide_the_good_ones(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=700)
    sid = new_snapshot(conninfo, client_credentials)

    class FullDisk(LocalStore):
        def stage(self, key: str):  # type: ignore[no-untyped-def]
            if key.endswith("_p1_1_0"):  # the second planned part, first run
                raise OSError(28, "No space left on device")
            return super().stage(key)

    outcome = coordinator.run(
        conninfo, FullDisk(tmp_path, LinkSigner("k", b"s" * 32)), sid, max_rows=300
    )
    assert outcome.published
    assert [p.name for p in outcome.failed] == ["event_001"]
    with psycopg.connect(conninfo) as conn:
        state, reason = conn.execute(
            "SELECT state, reason FROM snapshots WHERE id = %s", (sid,)
        ).fetchone() or (None, None)
        parts = conn.execute(
            "SELECT name, state, row_count, reason FROM snapshot_parts"
            " WHERE snapshot_id = %s ORDER BY seq",
            (sid,),
        ).fetchall()
        expected = conn.execute(
            "SELECT id FROM events WHERE created_at >= %s AND created_at < %s"
            " ORDER BY created_at, id",
            (FROM, TO),
        ).fetchall()
    assert state == "failed"
    assert reason is not None
    assert "1 of 3 parts failed" in reason
    assert "No space" in reason
    assert [(name, state, rows) for name, state, rows, _ in parts] == [
        ("event_000", "complete", 300),
        ("event_001", "failed", None),
        ("event_002", "complete", 100),
    ]
    assert parts[1][3] is not None
    assert parts[1][3].startswith("event_001 failed after 3 attempts: OSError")
    assert "No space" in (parts[1][3] or "")
    # The good parts hold exactly their rows; the failed one left nothing behind.
    ids = exported_ids(tmp_path, sid)
    assert ids == [row[0] for row in expected[:300] + expected[600:]]
    assert sorted(p.name for p in (tmp_path / str(sid)).iterdir()) == ["event_000", "event_002"]
    with psycopg.connect(conninfo) as conn:
        left = conn.execute("SELECT count(*) FROM export_parts WHERE snapshot_id = %s", (sid,))
        assert left.fetchone() == (0,)


def test_a_part_that_fails_once_is_retried_and_the_snapshot_completes(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=700)
    sid = new_snapshot(conninfo, client_credentials)
    failures: list[str] = []

    class FlakyDisk(LocalStore):
        def stage(self, key: str):  # type: ignore[no-untyped-def]
            if key.endswith("_p1_1_0") and not failures:
                failures.append(key)
                raise OSError(5, "Input/output error")
            return super().stage(key)

    outcome = coordinator.run(
        conninfo, FlakyDisk(tmp_path, LinkSigner("k", b"s" * 32)), sid, max_rows=300
    )
    assert failures
    assert outcome.published
    assert not outcome.failed
    ids = exported_ids(tmp_path, sid)
    assert len(ids) == len(set(ids)) == 700
    assert not [p for p in (tmp_path / str(sid)).iterdir() if p.name.startswith(".staging")]
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT state, reason FROM snapshots WHERE id = %s", (sid,))
        assert row.fetchone() == ("complete", None)


def test_an_export_killed_mid_part_is_redone_exactly(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=3000)
    sid = new_snapshot(conninfo, client_credentials)
    marker = tmp_path / "first-part-written"
    script = textwrap.dedent(
        f"""
        import time, uuid
        from pathlib import Path
        from pond.downloads.signing import LinkSigner
        from pond.exports import coordinator, planning
        from pond.storage.local import LocalStore

        class SlowStore(LocalStore):
            def stage(self, key):
                writer = super().stage(key)
                if key.endswith("_p1_1_0"):  # the second planned part, first run
                    Path({str(marker)!r}).touch()
                    time.sleep(60)  # killed here, in the middle of the second part
                return writer

        store = SlowStore(Path({str(tmp_path)!r}), LinkSigner("k", b"s" * 32))
        coordinator.run({conninfo!r}, store, uuid.UUID({str(sid)!r}), max_rows=1000)
        """
    )
    victim = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert victim.poll() is None, "the export process died on its own"
            assert time.monotonic() < deadline, "the export never reached its second part"
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.wait(10)
    with psycopg.connect(conninfo) as conn:
        assert conn.execute("SELECT state FROM snapshots WHERE id = %s", (sid,)).fetchone() == (
            "running",
        )

    outcome = coordinator.run(conninfo, store_at(tmp_path), sid, max_rows=1000)
    assert outcome.published
    assert len(outcome.parts) == 3
    ids = exported_ids(tmp_path, sid)
    assert len(ids) == len(set(ids)) == 3000
    leftovers = [p.name for p in (tmp_path / str(sid)).iterdir() if not p.name.startswith("event_")]
    assert leftovers == []
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT state, attempts FROM snapshots WHERE id = %s", (sid,)).fetchone()
    assert row == ("complete", 2)


def test_stored_object_records_size_and_digest(tmp_path: Path) -> None:
    import hashlib

    store = store_at(tmp_path)
    key = f"{uuid.uuid4()}/event_000"
    writer = store.stage(key)
    writer.write(b"id\n1\n")
    path = store.local_path(key)
    assert path is not None
    assert not path.exists()
    stored = writer.commit()
    assert stored == StoredObject(key, 5, hashlib.sha256(b"id\n1\n").hexdigest())


def test_parallel_parts_are_exact_even_when_times_tie(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    sid = new_snapshot(conninfo, client_credentials)
    with psycopg.connect(conninfo) as conn:
        org_id = conn.execute("SELECT org_id FROM snapshots WHERE id = %s", (sid,)).fetchone()[0]  # type: ignore[index]
        # 250 rows share one instant: parts must be cut by (time, id), not by time alone.
        conn.execute(
            "INSERT INTO events (org_id, created_at, event_type)"
            " SELECT %s, %s, 'tie' FROM generate_series(1, 250)",
            (org_id, FROM),
        )
        conn.execute(
            "INSERT INTO events (org_id, created_at, event_type)"
            " SELECT %s, %s + make_interval(secs => g), 'spread' FROM generate_series(1, 101) g",
            (org_id, FROM),
        )
    outcome = coordinator.run(conninfo, store_at(tmp_path), sid, max_rows=100, streams=4)
    assert outcome.published
    assert len(outcome.parts) == 4
    with psycopg.connect(conninfo) as conn:
        counts = [
            r[0]
            for r in conn.execute(
                "SELECT row_count FROM snapshot_parts WHERE snapshot_id = %s ORDER BY seq", (sid,)
            )
        ]
        expected = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY created_at, id")]
    assert counts == [100, 100, 100, 51]
    assert exported_ids(tmp_path, sid) == expected


def published_counts(conninfo: str, sid: uuid.UUID) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT row_count FROM snapshot_parts WHERE snapshot_id = %s ORDER BY seq", (sid,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def all_ids(conninfo: str) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM events ORDER BY created_at, id")]


@pytest.mark.parametrize(
    "sample",
    [
        pytest.param(lambda keys: planning.Sample([], 0.01), id="no-row-in-the-sample"),
        pytest.param(lambda keys: planning.Sample(keys[::10], 1.0), id="ten-times-too-few"),
        pytest.param(lambda keys: planning.Sample(keys, 0.001), id="thousand-times-too-many"),
        pytest.param(lambda keys: planning.Sample(keys[:5], 0.5), id="only-the-first-rows"),
    ],
)
def test_parts_are_exact_and_within_the_limit_whatever_the_sample_says(
    conninfo: str,
    client_credentials: Callable[[str], tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sample: Callable[[list[Any]], planning.Sample],
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=1000)
    sid = new_snapshot(conninfo, client_credentials)
    expected = all_ids(conninfo)
    real = planning.take_sample

    def wrong(conn: psycopg.Connection[Any], job: Any) -> planning.Sample:
        return sample(real(conn, job).keys)

    monkeypatch.setattr(planning, "take_sample", wrong)
    outcome = coordinator.run(conninfo, store_at(tmp_path), sid, max_rows=300, streams=2)
    assert outcome.published
    assert not outcome.failed
    counts = published_counts(conninfo, sid)
    assert all(0 <= c <= 300 for c in counts)
    assert sum(counts) == 1000
    assert exported_ids(tmp_path, sid) == expected
    assert [p.name for p in outcome.parts] == [f"event_{n:03d}" for n in range(len(counts))]
    assert sorted(p.name for p in (tmp_path / str(sid)).iterdir()) == [
        p.name for p in outcome.parts
    ]


def insert_events(conninfo: str, sid: uuid.UUID, select: str, *params: Any) -> None:
    """Rows of the snapshot's organisation, from `SELECT <created_at> FROM ...`, just written:
    no VACUUM, no ANALYZE, as on a live table."""
    with psycopg.connect(conninfo) as conn:
        org_id = conn.execute("SELECT org_id FROM snapshots WHERE id = %s", (sid,)).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO events (org_id, created_at, event_type)"
            f" SELECT %s, t, 'e' FROM ({select}) s (t)",
            (org_id, *params),
        )


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(
            ("SELECT %s + make_interval(secs => g * 3) FROM generate_series(1, 30000) g", FROM),
            id="spread",
        ),
        pytest.param(
            ("SELECT %s::timestamptz FROM generate_series(1, 30000)", FROM), id="one-instant"
        ),
        pytest.param(
            (
                "SELECT %s + make_interval(days => b * 4, secs => g) FROM generate_series(0, 2) b,"
                " generate_series(1, 10000) g",
                FROM,
            ),
            id="bursts-with-long-gaps",
        ),
    ],
)
def test_a_sampled_plan_is_exact_on_fresh_and_skewed_rows(
    conninfo: str,
    client_credentials: Callable[[str], tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rows: tuple[Any, ...],
) -> None:
    sid = new_snapshot(conninfo, client_credentials)
    insert_events(conninfo, sid, *rows)
    expected = all_ids(conninfo)
    # A few pages of the table, as a large table is sampled: the plan is an estimate.
    monkeypatch.setattr(planning, "SAMPLE_PAGES", 8)
    monkeypatch.setattr(planning, "BALANCE_MIN_ROWS", 1)  # balanced parts, as large ones are
    monkeypatch.setattr(planning, "SPLIT_MIN_ROWS", 1)
    outcome = coordinator.run(conninfo, store_at(tmp_path), sid, max_rows=4000, streams=2)
    assert outcome.published
    assert not outcome.failed
    counts = published_counts(conninfo, sid)
    assert all(0 < c <= 4000 for c in counts)
    assert sum(counts) == 30000
    assert exported_ids(tmp_path, sid) == expected
    # The small first part is cut from the index, not the sample: a tenth of a planned
    # part (at most `FILL` of the limit), however few pages the sample read.
    assert counts[0] <= 4000 * planning.FILL * planning.RAMP + 1
    assert counts[0] >= 30000 / 20 * planning.RAMP  # not the sample's luck either way


def test_the_copy_reader_naps_only_briefly_while_the_server_is_slow(
    conninfo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(copy_out_module, "time", SimpleNamespace(sleep=nap))
    blocks: list[bytes] = []
    # 30 kB of rows, then a quarter of a second of silence (the server holds the rest
    # of its 8 kB send buffer meanwhile), then the last rows.
    query = psycopg.sql.SQL(
        "COPY (SELECT repeat('x', 99) FROM generate_series(1, 600) g,"
        " LATERAL (SELECT CASE WHEN g = 300 THEN pg_sleep(0.25) END) s) TO STDOUT (FORMAT csv)"
    )
    with psycopg.connect(conninfo) as conn:
        messages = copy_out_module.copy_out(conn, query, [], lambda b: blocks.append(bytes(b)))
    assert messages == 600
    assert b"".join(blocks) == (b"x" * 99 + b"\n") * 600
    # A nap when the rows stop, then a wait in poll(): not 500 naps of half a millisecond.
    assert 1 <= len(naps) <= 10


def test_a_running_export_reports_its_progress(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]], tmp_path: Path
) -> None:
    seeding.seed(conninfo, org="acme", start=FROM, end=TO, count=40_000)
    sid = new_snapshot(conninfo, client_credentials)
    writes = 0
    paused = threading.Event()
    proceed = threading.Event()

    class PausingStore(LocalStore):
        """The real local store, paused at its third block so the test can look."""

        def stage(self, key: str):  # type: ignore[no-untyped-def]
            writer = super().stage(key)
            original = writer.write

            def write(data: bytes) -> None:
                nonlocal writes
                original(data)
                writes += 1
                if writes == 3:
                    paused.set()
                    assert proceed.wait(30)

            writer.write = write  # type: ignore[method-assign]
            return writer

    store = PausingStore(tmp_path, LinkSigner("k", b"s" * 32))
    worker = threading.Thread(
        target=lambda: coordinator.run(conninfo, store, sid, max_rows=100_000)
    )
    worker.start()
    assert paused.wait(30)
    with psycopg.connect(conninfo) as conn:
        state, progress = conn.execute(
            "SELECT state, rows_exported FROM snapshots WHERE id = %s", (sid,)
        ).fetchone()  # type: ignore[misc]
    proceed.set()
    worker.join(30)
    assert state == "running"
    assert 0 < progress < 40_000


def test_progress_of_several_processes_adds_up(
    conninfo: str, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    sid = new_snapshot(conninfo, client_credentials)
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "UPDATE snapshots SET state = 'running', rows_exported = 0 WHERE id = %s", (sid,)
        )
    # The coordinator and a helper, each counting its own parts.
    coordinator, helper = Progress(conninfo, sid, interval=0), Progress(conninfo, sid, interval=0)
    try:
        coordinator.add(300)
        helper.add(200)
        helper.add(-50)  # a part that failed is taken back
        coordinator.add(100)
    finally:
        coordinator.close()
        helper.close()
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT rows_exported FROM snapshots WHERE id = %s", (sid,)).fetchone()
    assert row == (550,)

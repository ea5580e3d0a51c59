"""News of snapshots from the database: every change of state is announced, one listener
per process hears it, and waiting requests read their snapshot only when there is news."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pond.downloads.signing import LinkSigner
from pond.exports import coordinator
from pond.exports import repository as export_rows
from pond.jobs.runtime import JobRuntime
from pond.jobs.tasks import expire_snapshots
from pond.snapshots import repository
from pond.snapshots.changes import Mark, SnapshotChanges
from pond.snapshots.repository import CHANNEL
from pond.storage.local import LocalStore
from tests.conftest import RunningServer
from tests.integration.helpers import bearer, schedule

Creds = Callable[[str], tuple[str, str]]


def new_snapshot(conninfo: str, client_id: str) -> uuid.UUID:
    sid = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from, created_at_to,"
            " expires_at) SELECT %s, org_id, client_id, 'event', '2019-03-13T18:00Z',"
            " '2019-03-14T18:00Z', now() + interval '1 day' FROM oauth_clients"
            " WHERE client_id = %s",
            (sid, client_id),
        )
    return sid


def heard(listener: psycopg.Connection[Any]) -> list[str]:
    """The payloads announced on the channel since the last call."""
    return [notice.payload for notice in listener.notifies(timeout=0.5)]


def test_every_change_of_state_is_announced_whoever_makes_it(
    conninfo: str, client_credentials: Creds, tmp_path: Path, make_settings: Any
) -> None:
    client_id, _ = client_credentials("acme")
    exported, failed, deleted, expired, rerun = (
        new_snapshot(conninfo, client_id) for _ in range(5)
    )
    store = LocalStore(tmp_path / "objects", LinkSigner("k", b"s" * 32))
    with (
        psycopg.connect(conninfo, autocommit=True) as listener,
        psycopg.connect(conninfo, autocommit=True) as conn,
    ):
        listener.execute(f"LISTEN {CHANNEL}")

        # The export: claimed (running, and its listing starts empty), its one part listed,
        # then published (complete), in three transactions. News of the listed parts
        # says so, for the waiters that show parts alone.
        coordinator.run(conninfo, store, exported, max_rows=100)
        parts_news = f"{exported} parts"
        assert heard(listener) == [str(exported), parts_news, parts_news, str(exported)]
        export_rows.fail(conn, failed, "the disk is full")
        assert heard(listener) == [str(failed)]
        # A run that takes over from a dead one changes no state, but drops the parts
        # listed so far: announced too, once per transaction.
        assert export_rows.claim(conn, rerun) is not None
        assert heard(listener) == [str(rerun), f"{rerun} parts"]
        assert export_rows.claim(conn, rerun) is not None
        assert heard(listener) == [f"{rerun} parts"]

        async def delete() -> None:
            async with await psycopg.AsyncConnection.connect(conninfo) as aconn:
                org = await (await aconn.execute("SELECT id FROM organisations")).fetchone()
                assert org is not None
                assert await repository.mark_deleted(aconn, deleted, org[0])

        asyncio.run(delete())
        assert heard(listener) == [str(deleted)]

        conn.execute("UPDATE snapshots SET expires_at = now() WHERE id = %s", (expired,))
        asyncio.run(expire_snapshots(conninfo, JobRuntime(make_settings(), conninfo, store)))
        # The deleted one too: a delete brings the expiry forward, for one more sweep.
        assert sorted(heard(listener)) == sorted([str(expired), str(deleted)])

        # What is not a change of state is not announced: progress, the job id, a no-op.
        conn.execute("UPDATE snapshots SET rows_exported = 7, job_id = 1")
        conn.execute("UPDATE snapshots SET state = state")
        assert heard(listener) == []


async def until(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.02)


def test_the_listener_wakes_the_named_snapshot_and_everyone_after_a_reconnection(
    conninfo: str,
) -> None:
    async def go() -> None:
        # No sweep during the test: only an announcement or a reconnection wakes anyone.
        changes = SnapshotChanges(conninfo, sweep_interval=3600)
        changes.start()
        try:
            await until(lambda: changes.listening)
            one, other = uuid.uuid4(), uuid.uuid4()
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:

                async def announce(payload: str) -> None:
                    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

                with changes.subscribe(one) as news, changes.subscribe(other) as quiet:
                    assert changes.waiting == 2
                    await announce(str(one))
                    await announce("not a snapshot id")
                    assert await news.wait(10)
                    assert not await quiet.wait(0.5)
                    # The simple form: wait for news of one snapshot, with nothing to clear.
                    assert not await changes.wait(other, 0.2)

                    # The listener's connection is cut: what was announced meanwhile is
                    # lost, so everyone is woken to read again, and it listens again.
                    news.clear()
                    await conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND query = %s",
                        (f"LISTEN {CHANNEL}",),
                    )
                    assert await news.wait(10)
                    assert await quiet.wait(10)
                    await until(lambda: changes.listening)
                    quiet.clear()
                    await announce(str(other))
                    assert await quiet.wait(10)
                assert changes.waiting == 0
        finally:
            await changes.stop()

    asyncio.run(go())


def test_the_sweep_wakes_whoever_saw_another_state_than_the_database_has(
    conninfo: str, client_credentials: Creds
) -> None:
    client_id, _ = client_credentials("acme")
    changed, same = new_snapshot(conninfo, client_id), new_snapshot(conninfo, client_id)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Its notification is lost: the listener is not even running.
        conn.execute("UPDATE snapshots SET state = 'running' WHERE id = %s", (changed,))

    async def go() -> None:
        changes = SnapshotChanges(conninfo)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            with (
                changes.subscribe(changed) as stale,
                changes.subscribe(same) as current,
                changes.subscribe(uuid.uuid4()) as unknown,
                changes.subscribe(same) as unread,
            ):
                stale.saw = current.saw = unknown.saw = Mark("pending")
                await changes.sweep(conn)
                assert await stale.wait(0)
                assert not await current.wait(0)
                assert await unknown.wait(0)  # no such snapshot (any more): read it again
                assert not await unread.wait(0)  # read nothing yet: nothing to compare
            await changes.sweep(conn)  # with no one waiting: a ping of the connection

    asyncio.run(go())


def test_the_sweep_compares_the_run_and_the_parts_listed_with_whoever_saw_them(
    conninfo: str, client_credentials: Creds
) -> None:
    client_id, _ = client_credentials("acme")
    sid = new_snapshot(conninfo, client_id)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE snapshots SET state = 'running', attempts = 2 WHERE id = %s", (sid,))
        for seq, state in enumerate(("complete", "failed")):
            conn.execute(
                "INSERT INTO snapshot_parts (snapshot_id, seq, name, size, row_count, sha256,"
                " state) VALUES (%s, %s, %s, 1, 1, 'x', %s)",
                (sid, seq, f"event_{seq:03d}", state),
            )

    async def go() -> None:
        changes = SnapshotChanges(conninfo)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            with (
                changes.subscribe(sid) as plain,
                changes.subscribe(sid) as current,
                changes.subscribe(sid) as fewer_parts,
                changes.subscribe(sid) as older_run,
            ):
                plain.saw = Mark("running")  # shows no parts: the state alone is compared
                current.saw = Mark("running", 2, 1)  # a failed part is not listed while running
                fewer_parts.saw = Mark("running", 2, 0)
                older_run.saw = Mark("running", 1, 1)
                await changes.sweep(conn)
                assert not await plain.wait(0)
                assert not await current.wait(0)
                assert await fewer_parts.wait(0)
                assert await older_run.wait(0)

    asyncio.run(go())


def token_at(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    return str(answer.json()["access_token"])


@pytest.mark.slow
def test_waiting_requests_read_nothing_until_their_snapshot_changes(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(run_worker=False)  # pending until the test exports it
    state: Any = server.app.state.pond
    token = token_at(server, client_credentials("acme"))
    href = schedule(server.base_url, token).json()["snapshot"]["href"]
    waiters = 30

    def long_poll() -> httpx.Response:
        return httpx.get(href, params={"wait": "30"}, headers=bearer(token), timeout=40)

    with ThreadPoolExecutor(waiters) as pool:
        answers = [pool.submit(long_poll) for _ in range(waiters)]
        deadline = time.monotonic() + 30
        while state.changes.waiting < waiters:
            assert time.monotonic() < deadline, "the long-polls did not all arrive"
            time.sleep(0.02)

        def reads_so_far() -> int:
            return int(state.lookups.loads + state.rereads.loads)

        reads = reads_so_far()
        time.sleep(2)
        # Two seconds of 30 waiting requests: not one read (the listener's sweep, every
        # 5 s, reads the snapshots' states on its own connection and wakes no one).
        assert reads_so_far() - reads == 0
        exported = threading.Thread(
            target=coordinator.run,
            args=(server.conninfo, state.store, uuid.UUID(href.rsplit("/", 1)[1])),
            kwargs={"max_rows": 100},
        )
        exported.start()
        bodies = [answer.result().json() for answer in answers]
        exported.join()
    assert all(body["items"][0]["state"] == "complete" for body in bodies)
    # Three announcements (running, its one part listed, complete) woke 30 requests each:
    # a few batched reads between them, where polling would have made one per request
    # and interval.
    assert reads_so_far() - reads <= 10

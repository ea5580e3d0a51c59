"""Fixtures for the client against a real pond server on loopback (used by integration
and acceptance tests alike), and a way to run the `pond` command as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pond.client import Backoff, Client
from pond.events import seeding
from tests.conftest import RunningServer
from tests.integration.client.proxy import FaultyProxy

START = datetime(2019, 3, 13, 18, tzinfo=UTC)
END = datetime(2019, 3, 28, 18, tzinfo=UTC)
FAST = Backoff(initial=0.05, factor=2, maximum=0.5, jitter=0.5)


@dataclass
class Setup:
    """A running server and an OAuth client of organisation `acme` on it."""

    server: RunningServer
    client_id: str
    client_secret: str

    def client(self, **options: Any) -> Client:
        options.setdefault("backoff", FAST)
        return Client(
            self.client_id,
            self.client_secret,
            api_url=self.server.base_url,
            token_url=self.server.token_url,
            **options,
        )

    def seed(self, count: int, start: datetime = START, end: datetime = END) -> int:
        return seeding.seed(self.server.conninfo, org="acme", start=start, end=end, count=count)

    def env(self, home: Path, api_url: str | None = None) -> dict[str, str]:
        """Environment for the `pond` command: credentials, endpoints, private dirs."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
        return {
            **inherited,
            "POND_CLIENT_ID": self.client_id,
            "POND_CLIENT_SECRET": self.client_secret,
            "POND_API_URL": api_url or self.server.base_url,
            "POND_TOKEN_URL": self.server.token_url,
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "COLUMNS": "120",
        }


@pytest.fixture
def make_setup(
    start_server: Callable[..., RunningServer], client_credentials: Callable[[str], tuple[str, str]]
) -> Callable[..., Setup]:
    """Factory: a server with setting overrides, and credentials on it."""

    def make(**overrides: Any) -> Setup:
        server = start_server(**overrides)
        client_id, secret = client_credentials("acme")
        return Setup(server, client_id, secret)

    return make


@pytest.fixture
def acme(make_setup: Callable[..., Setup]) -> Setup:
    """A server with default settings, except parts of at most 1000 rows."""
    return make_setup(part_max_rows=1000)


@pytest.fixture
def behind_proxy(
    make_setup: Callable[..., Setup],
) -> Iterator[Callable[..., tuple[Setup, FaultyProxy]]]:
    """Factory: a server whose hrefs and links all point at a fault-injecting proxy."""
    proxies: list[FaultyProxy] = []

    def make(**overrides: Any) -> tuple[Setup, FaultyProxy]:
        proxy = FaultyProxy()
        proxies.append(proxy)
        setup = make_setup(public_url=proxy.url, **overrides)
        proxy.target_port = int(setup.server.base_url.rsplit(":", 1)[1])
        return setup, proxy

    yield make
    for proxy in proxies:
        proxy.close()


POND = str(Path(sys.executable).parent / "pond")


def run_pond(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real `pond` command in a subprocess, as a user would."""
    return subprocess.run(
        [POND, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )

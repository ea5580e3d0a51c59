"""A `pond serve` process of the benchmark's own, and the few API calls the cases make to it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.environment import END, START, Bench

SCOPE = "pond/insights.snapshots"
POLL_SECONDS = 0.005


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            httpx.head(url, timeout=2)
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server for {url} did not start in {seconds:.0f} s")


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path, probe: str) -> Iterator[None]:
    """Run `argv` until the block ends, once `probe` answers; its output goes to `log`."""
    with log.open("wb") as out:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter running pond or http.server
            argv, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(probe, child)
            yield
        finally:
            child.terminate()
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@dataclass
class Api:
    """A running `pond serve` with a token of the benchmark client."""

    base: str
    data_dir: Path
    headers: dict[str, str]

    def create(self, start: datetime = START, end: datetime = END) -> str:
        """POST a snapshot of [start, end); its href."""
        answer = httpx.post(
            f"{self.base}/insights/snapshots",
            headers=self.headers,
            data={"created_at_from": start.isoformat(), "created_at_to": end.isoformat()},
        )
        answer.raise_for_status()
        return str(answer.json()["snapshot"]["href"])

    def wait(self, href: str, client: httpx.Client | None = None) -> list[dict[str, object]]:
        """Poll `href` every few milliseconds until every item is complete; the items."""
        with contextlib.ExitStack() as stack:
            http = client or stack.enter_context(httpx.Client(timeout=30))
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                items: list[dict[str, object]] = http.get(href, headers=self.headers).json()[
                    "items"
                ]
                states = {item["state"] for item in items}
                if states == {"complete"}:
                    return items
                if "failed" in states:
                    raise RuntimeError(f"the benchmark snapshot failed: {items}")
                time.sleep(POLL_SECONDS)
        raise RuntimeError("the benchmark snapshot did not complete")


@contextlib.contextmanager
def serve(
    bench: Bench,
    name: str,
    part_max_rows: int | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Api]:
    """`pond serve` (with its in-process worker) on the benchmark database, in its own process.

    `settings` are more `POND_*` variables for it, e.g. `{"POND_RATE_LIMIT_PER_MINUTE": "60"}`.
    """
    data_dir = bench.work_dir / name
    data_dir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env.update(
        POND_DATABASE_URL=bench.conninfo,
        POND_DATA_DIR=str(data_dir),
        POND_PART_MAX_ROWS=str(part_max_rows or bench.rows + 1),
        POND_LOG_FORMAT="json",
    )
    env.update(settings or {})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "pond", "serve", "--port", str(port)]
    with process(argv, env, bench.work_dir / f"{name}.log", f"{base}/healthz"):
        token = httpx.post(
            f"{base}/oauth2/token",
            auth=(bench.client_id, bench.client_secret),
            data={"grant_type": "client_credentials", "scope": SCOPE},
        ).json()["access_token"]
        yield Api(base, data_dir, {"Authorization": f"Bearer {token}"})

"""Acceptance fixtures: the real `pond` executable in a subprocess, on the embedded database.

Every command runs with a clean environment (no `POND_*` from the caller, so no
`POND_DATABASE_URL`: the embedded PostgreSQL in the data directory is used) and
in its own working directory, so no stray `pond.toml` is read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

# The console script installed next to this interpreter: what a user runs.
POND = Path(sys.executable).parent / "pond"


def pond_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any POND_* variable, plus POND_DATA_DIR and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env["POND_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_pond(
    *args: str, data_dir: Path, timeout: float = 60, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run `pond ARGS` to completion on `data_dir`; stdout and stderr captured as text."""
    assert POND.exists(), f"the pond console script is not installed at {POND}"
    return subprocess.run(
        [str(POND), *args],
        env=pond_env(data_dir, **extra_env),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postmaster_running(data_dir: Path) -> bool:
    """Whether the embedded PostgreSQL of `data_dir` is up (it removes this file on stop)."""
    return (data_dir / "pg" / "postmaster.pid").exists()


@dataclass
class ServeProcess:
    """A `pond serve` subprocess and where to reach it."""

    process: subprocess.Popen[bytes]
    base_url: str
    data_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 30) -> bool:
        """Send `sig` (Ctrl-C by default) and wait; kill if it does not go.

        Returns whether the process exited on its own.
        """
        if self.process.poll() is not None:
            return True
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
            return False
        return True


def leftover_postgres(directory: Path) -> list[psutil.Process]:
    """PostgreSQL servers still running on a data directory under `directory`."""
    inside = str(directory) + os.sep
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline and cmdline[0].endswith("/postgres") and "-D" in cmdline[:-1]:
            pgdata = cmdline[cmdline.index("-D") + 1]
            if pgdata.startswith(inside):
                found.append(process)
    return found


def stop_leftover_postgres(directory: Path) -> None:
    """Stop (by pid) PostgreSQL servers that pond left running under `directory`."""
    servers = leftover_postgres(directory)
    for server in servers:
        with contextlib.suppress(psutil.NoSuchProcess):
            server.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
    _, alive = psutil.wait_procs(servers, timeout=15)
    for server in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            server.kill()


def start_serve(data_dir: Path, timeout: float = 60, **extra_env: str) -> ServeProcess:
    """Start `pond serve` on a free loopback port; return once GET /readyz answers 200."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(POND), "serve", "--port", str(port)],
            env=pond_env(data_dir, POND_LOG_FORMAT="json", **extra_env),
            cwd=data_dir.parent,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    serve = ServeProcess(process, f"http://127.0.0.1:{port}", data_dir, log)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"pond serve exited during start-up:\n{serve.output()}")
            try:
                if httpx.get(f"{serve.base_url}/readyz", timeout=2).status_code == 200:
                    return serve
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"pond serve was not ready in time:\n{serve.output()}")
            time.sleep(0.1)
    except BaseException:
        serve.stop()
        raise


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One `pond serve` subprocess for the module, on its own fresh data directory."""
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    running = start_serve(data_dir)
    try:
        yield running
    finally:
        running.stop()
        stop_leftover_postgres(data_dir)

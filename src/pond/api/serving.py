"""Serving the app with uvicorn: bind first (a clear error if the port is taken), stop cleanly."""

from __future__ import annotations

import signal
import socket
import sys
from typing import Any

import uvicorn

from pond.errors import ConfigError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or `ConfigError` saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="pick another --port, or stop the process that holds this one",
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app: Any, host: str, port: int) -> None:
    """Run `app` until SIGINT or SIGTERM; either way this returns (or exits) normally.

    uvicorn re-raises the signal it caught once it has shut down; making SIGTERM a
    normal exit lets the embedded PostgreSQL's exit handler run.
    """
    sock = bind(host, port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=10
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()

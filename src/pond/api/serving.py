"""Serving the app with uvicorn: bind first (a clear error if the port is taken), bound slow
clients (`pond.api.timeouts`), stop cleanly."""

from __future__ import annotations

import signal
import socket
import sys
from typing import Any

import uvicorn

from pond.api.timeouts import BodyDeadline, guarded_protocol
from pond.errors import ConfigError
from pond.settings import Settings, load_settings


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


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for `app`, with the request deadlines of `settings`.

    No cap on connections (uvicorn's `limit_concurrency`): it counts idle and slow
    connections too and answers everyone past it 503, so a few hundred slow sockets
    would turn it against every other client. The deadlines bound how long each one
    holds its socket instead.
    """
    return uvicorn.Config(
        BodyDeadline(app, settings.body_timeout),
        http=guarded_protocol(settings.header_timeout, settings.body_timeout),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        **options,
    )


def serve(app: Any, host: str, port: int, *, settings: Settings | None = None) -> None:
    """Run `app` until SIGINT or SIGTERM; either way this returns (or exits) normally.

    uvicorn re-raises the signal it caught once it has shut down; making SIGTERM a
    normal exit lets the embedded PostgreSQL's exit handler run.
    """
    sock = bind(host, port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config = server_config(app, settings or load_settings())
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()

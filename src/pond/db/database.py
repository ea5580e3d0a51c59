"""Which PostgreSQL pond talks to: `POND_DATABASE_URL`, or the embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from pond.db import embedded
from pond.errors import Unavailable
from pond.settings import Settings


@contextmanager
def open_database(settings: Settings) -> Iterator[str]:
    """Yield a connection string; the embedded server stays up at least until the block ends."""
    if settings.database_url is not None:
        conninfo = settings.database_url.get_secret_value()
        try:
            psycopg.connect(conninfo, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            raise Unavailable(
                f"cannot connect to POND_DATABASE_URL: {str(exc).strip().splitlines()[0]}",
                hint="check the URL, and that the server accepts connections",
            ) from None
        yield conninfo
        return
    conninfo, server = embedded.start(settings.data_dir)
    try:
        yield conninfo
    finally:
        del server  # the wheel stops the server when its last user process exits

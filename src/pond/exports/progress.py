"""How many rows an export has written so far, shared by its streams and its helpers.

Each stream reports the rows of every block it writes (and takes back those of
a part that failed). At most once per `interval` seconds, what this process
counted since its last report is added to `snapshots.rows_exported`, on a
connection of its own (the export's own connections are read-only, inside its
snapshot). Adding rather than setting lets the coordinator and helper jobs in
other processes count into the same total.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg

from pond.exports import repository


class Progress:
    def __init__(self, conninfo: str, snapshot_id: uuid.UUID, *, interval: float = 1.0) -> None:
        self._conninfo = conninfo
        self._snapshot_id = snapshot_id
        self._interval = interval
        self._lock = threading.Lock()
        self._unreported = 0
        self._reported_at = float("-inf")
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def add(self, rows: int) -> None:
        """Count `rows` more (fewer, if negative); report them if the last report is old enough."""
        with self._lock:
            self._unreported += rows
            now = time.monotonic()
            if now - self._reported_at < self._interval:
                return
            self._reported_at = now
            try:
                if self._conn is None:
                    self._conn = psycopg.connect(self._conninfo, autocommit=True)
                repository.add_rows_exported(self._conn, self._snapshot_id, self._unreported)
                self._unreported = 0
            except psycopg.Error:
                # Progress is a courtesy: a failure to report it never fails the export;
                # what was not reported is added the next time.
                self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

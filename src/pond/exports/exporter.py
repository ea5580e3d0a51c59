"""Stream a snapshot's rows from PostgreSQL into CSV parts, never holding them in memory.

One `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)` runs inside a
REPEATABLE READ, READ ONLY transaction, so the export is one point-in-time
view. PostgreSQL sends each row of a COPY as one message (the header too), so
rows are counted exactly without parsing the CSV; bytes go to storage in large
blocks. Parts are staged and committed only when complete; the database marks
the snapshot complete afterwards, so a run that dies leaves nothing visible and
a rerun simply writes everything again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import structlog

from pond.entities import get_entity
from pond.storage.base import ObjectStore, StagedWriter, StoredObject

log = structlog.get_logger("pond.exports")

_BLOCK = 1 << 20  # bytes gathered before one write to storage


@dataclass(frozen=True)
class Part:
    seq: int
    name: str
    rows: int
    stored: StoredObject


@dataclass(frozen=True)
class Job:
    snapshot_id: uuid.UUID
    org_id: int
    entity: str
    start: datetime
    end: datetime


def claim(conn: psycopg.Connection[Any], snapshot_id: uuid.UUID) -> Job | None:
    """Mark the snapshot running and return what to export; None if there is nothing to do."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE snapshots SET state = 'running', started_at = now(), attempts = attempts + 1"
            " WHERE id = %s AND state IN ('pending', 'running') AND expires_at > now()"
            " RETURNING org_id, entity, created_at_from, created_at_to",
            (snapshot_id,),
        ).fetchone()
    if row is None:
        return None
    return Job(snapshot_id, int(row[0]), str(row[1]), row[2], row[3])


class _PartWriter:
    """Cuts the row stream into parts of at most `max_rows` rows, each with the header."""

    def __init__(self, store: ObjectStore, job: Job, header: bytes, max_rows: int) -> None:
        self._store = store
        self._prefix = f"{job.snapshot_id}/{job.entity}"
        self._header = header
        self._max_rows = max_rows
        self.parts: list[Part] = []
        self._writer: StagedWriter | None = None
        self._rows = 0
        self._block: list[bytes | bytearray | memoryview] = []
        self._block_size = 0

    def _open(self) -> StagedWriter:
        seq = len(self.parts)
        self._writer = self._store.stage(f"{self._prefix}_{seq:03d}")
        self._writer.write(self._header)
        self._rows = 0
        return self._writer

    def _flush(self) -> None:
        if self._block and self._writer is not None:
            self._writer.write(b"".join(self._block))
        self._block.clear()
        self._block_size = 0

    def add(self, row: bytes | bytearray | memoryview) -> None:
        if self._writer is None:
            self._open()
        self._block.append(row)
        self._block_size += len(row)
        self._rows += 1
        if self._block_size >= _BLOCK:
            self._flush()
        if self._rows >= self._max_rows:
            self.close_part()

    def close_part(self) -> None:
        if self._writer is None:
            return
        self._flush()
        stored = self._writer.commit()
        seq = len(self.parts)
        self.parts.append(Part(seq, f"{self._prefix.split('/')[1]}_{seq:03d}", self._rows, stored))
        self._writer = None

    def finish(self) -> list[Part]:
        if self._writer is not None:
            self.close_part()
        if not self.parts:
            # An empty range still yields one part: the header alone, zero rows.
            self._open()
            self.close_part()
        return self.parts

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None


def export(
    conn: psycopg.Connection[Any], store: ObjectStore, job: Job, *, max_rows: int
) -> list[Part]:
    """Write the job's rows as committed parts; return them in order."""
    entity = get_entity(job.entity)
    # Nothing under this prefix is visible while the snapshot runs: start clean.
    store.delete_prefix(str(job.snapshot_id))
    query = psycopg.sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(
        entity.export_query()
    )
    writer: _PartWriter | None = None
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # Timestamps print in UTC whatever the server's time zone.
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        with conn.cursor() as cur, cur.copy(query, (job.org_id, job.start, job.end)) as copy:
            try:
                for message in copy:
                    if writer is None:
                        writer = _PartWriter(store, job, bytes(message), max_rows)
                        continue
                    writer.add(message)
            except BaseException:
                if writer is not None:
                    writer.abort()
                raise
    assert writer is not None, "COPY with HEADER always sends the header row"
    return writer.finish()


def publish(conn: psycopg.Connection[Any], job: Job, parts: list[Part]) -> None:
    """Record the parts and mark the snapshot complete, atomically."""
    with conn.transaction():
        conn.execute("DELETE FROM snapshot_parts WHERE snapshot_id = %s", (job.snapshot_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO snapshot_parts (snapshot_id, seq, name, size, row_count, sha256)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (job.snapshot_id, p.seq, p.name, p.stored.size, p.rows, p.stored.sha256)
                    for p in parts
                ],
            )
        conn.execute(
            "UPDATE snapshots SET state = 'complete', completed_at = now(), reason = NULL"
            " WHERE id = %s AND state = 'running'",
            (job.snapshot_id,),
        )


def fail(conn: psycopg.Connection[Any], snapshot_id: uuid.UUID, reason: str) -> None:
    """Mark the snapshot failed with a reason a user can read."""
    with conn.transaction():
        conn.execute(
            "UPDATE snapshots SET state = 'failed', reason = %s, completed_at = now()"
            " WHERE id = %s AND state IN ('pending', 'running')",
            (reason, snapshot_id),
        )


def run(conninfo: str, store: ObjectStore, snapshot_id: uuid.UUID, *, max_rows: int) -> int:
    """Export one snapshot and publish it; return its number of parts (0: nothing to do)."""
    with psycopg.connect(conninfo) as conn:
        job = claim(conn, snapshot_id)
        if job is None:
            log.info("export.skipped", snapshot_id=str(snapshot_id))
            return 0
        parts = export(conn, store, job, max_rows=max_rows)
        publish(conn, job, parts)
    log.info(
        "export.complete",
        snapshot_id=str(snapshot_id),
        parts=len(parts),
        rows=sum(p.rows for p in parts),
        bytes=sum(p.stored.size for p in parts),
    )
    return len(parts)

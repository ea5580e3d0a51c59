"""Stream a snapshot's rows from PostgreSQL into CSV parts, never holding them in memory.

A coordinating REPEATABLE READ, READ ONLY transaction exports its snapshot
(`pg_export_snapshot`) and plans the parts by walking the index; then each part
runs its own `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)` on its own
connection, inside that same snapshot, several at a time. So the export is one
point-in-time view however many streams read it, and rows are exactly once
across parts. PostgreSQL sends each row of a COPY as one message (the header
too), so rows are counted exactly without parsing the CSV; bytes go to storage
in large blocks, gzipped on the way when the snapshot asks for it. Parts are
staged and committed only when complete; the database marks the snapshot
complete afterwards, so a run that dies leaves nothing visible and a rerun
simply writes everything again.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
import structlog

from pond.entities import get_entity
from pond.exports.compression import GzipWriter
from pond.exports.options import ExportOptions
from pond.exports.progress import Progress
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
    options: ExportOptions = field(default_factory=ExportOptions)


def claim(conn: psycopg.Connection[Any], snapshot_id: uuid.UUID) -> Job | None:
    """Mark the snapshot running and return what to export; None if there is nothing to do."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE snapshots SET state = 'running', started_at = now(), attempts = attempts + 1,"
            " rows_exported = 0"
            " WHERE id = %s AND state IN ('pending', 'running') AND expires_at > now()"
            " RETURNING org_id, entity, created_at_from, created_at_to,"
            " format, compression, export_columns",
            (snapshot_id,),
        ).fetchone()
    if row is None:
        return None
    columns = tuple(row[6]) if row[6] is not None else None
    options = ExportOptions(format=str(row[4]), compression=row[5], columns=columns)
    return Job(snapshot_id, int(row[0]), str(row[1]), row[2], row[3], options)


Key = tuple[Any, Any]  # (time, key column) of the row that starts a part


@dataclass(frozen=True)
class PartPlan:
    """Part `seq` holds the rows from key `after` (included) to key `before` (excluded)."""

    seq: int
    after: Key | None
    before: Key | None


def plan_parts(conn: psycopg.Connection[Any], job: Job, max_rows: int) -> list[PartPlan]:
    """Cut the job's rows into parts of at most `max_rows`, by (time, id) keys.

    Each boundary is found by walking the (org, time, id) index `max_rows` rows on
    from the previous one, inside the export's snapshot: the parts are exact.
    """
    entity = get_entity(job.entity)
    boundaries: list[Key] = []
    while True:
        after = boundaries[-1] if boundaries else None
        params: list[Any] = [job.org_id, job.start, job.end, *(after or ()), max_rows]
        row = conn.execute(entity.boundary_query(after=after is not None), params).fetchone()
        if row is None:
            break
        boundaries.append((row[0], row[1]))
    keys: list[Key | None] = [None, *boundaries, None]
    return [PartPlan(seq, keys[seq], keys[seq + 1]) for seq in range(len(keys) - 1)]


def _begin_snapshot(conn: psycopg.Connection[Any], snapshot: psycopg.sql.Composable | None) -> None:
    """Start the export's kind of transaction, joining `snapshot` when given."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if snapshot is not None:
        conn.execute(psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(snapshot))
    # Timestamps print in UTC whatever the server's time zone.
    conn.execute("SET LOCAL TIME ZONE 'UTC'")


def export_part(
    conninfo: str,
    snapshot: psycopg.sql.Composable,
    store: ObjectStore,
    job: Job,
    plan: PartPlan,
    progress: Progress | None = None,
) -> Part:
    """COPY one planned part into a committed object, on a connection of its own."""
    entity = get_entity(job.entity)
    name = job.options.object_name(job.entity, plan.seq)
    query = psycopg.sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(
        entity.export_query(
            after=plan.after is not None,
            before=plan.before is not None,
            columns=job.options.columns,
        )
    )
    params = [job.org_id, job.start, job.end, *(plan.after or ()), *(plan.before or ())]
    with psycopg.connect(conninfo) as conn, conn.transaction():
        _begin_snapshot(conn, snapshot)
        writer: StagedWriter = store.stage(f"{job.snapshot_id}/{name}")
        if job.options.compression == "gzip":
            # Compressed in this part's thread, block by block as the COPY streams.
            writer = GzipWriter(writer)
        try:
            rows = _copy_into(conn, query, params, writer, progress)
            stored = writer.commit()
        except BaseException:
            writer.abort()
            raise
    return Part(plan.seq, name, rows, stored)


def _copy_into(
    conn: psycopg.Connection[Any],
    query: psycopg.sql.Composed,
    params: list[Any],
    writer: StagedWriter,
    progress: Progress | None = None,
) -> int:
    """Stream a COPY into `writer` in large blocks; return the number of data rows."""
    block: list[bytes | bytearray | memoryview] = []
    size = 0
    messages = 0
    with conn.cursor() as cur, cur.copy(query, params) as copy:
        for message in copy:
            block.append(message)
            size += len(message)
            messages += 1
            if size >= _BLOCK:
                writer.write(b"".join(block))
                if progress is not None:
                    progress.add(len(block) - (1 if messages == len(block) else 0))
                block.clear()
                size = 0
    writer.write(b"".join(block))
    if progress is not None:
        progress.add(len(block) - (1 if messages == len(block) else 0))
    return messages - 1  # the first message is the header


def export(
    conninfo: str,
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    job: Job,
    *,
    max_rows: int,
    streams: int = 1,
) -> list[Part]:
    """Write the job's rows as committed parts, `streams` at a time; return them in order.

    `conn` holds the coordinating transaction: it exports its snapshot, plans the
    parts, and stays open while every part's own connection reads through it.
    """
    # Nothing under this prefix is visible while the snapshot runs: start clean.
    store.delete_prefix(str(job.snapshot_id))
    with conn.transaction():
        _begin_snapshot(conn, None)
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        snapshot = psycopg.sql.Literal(str(row[0]))
        plans = plan_parts(conn, job, max_rows)
        progress = Progress(conninfo, job.snapshot_id)
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(streams, len(plans)))) as pool:
                futures = [
                    pool.submit(export_part, conninfo, snapshot, store, job, plan, progress)
                    for plan in plans
                ]
                parts = [future.result() for future in futures]
        finally:
            progress.close()
    return parts


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


def run(
    conninfo: str,
    store: ObjectStore,
    snapshot_id: uuid.UUID,
    *,
    max_rows: int,
    streams: int = 1,
) -> int:
    """Export one snapshot and publish it; return its number of parts (0: nothing to do)."""
    with psycopg.connect(conninfo) as conn:
        job = claim(conn, snapshot_id)
        if job is None:
            log.info("export.skipped", snapshot_id=str(snapshot_id))
            return 0
        parts = export(conninfo, conn, store, job, max_rows=max_rows, streams=streams)
        publish(conn, job, parts)
    log.info(
        "export.complete",
        snapshot_id=str(snapshot_id),
        parts=len(parts),
        rows=sum(p.rows for p in parts),
        bytes=sum(p.stored.size for p in parts),
    )
    return len(parts)

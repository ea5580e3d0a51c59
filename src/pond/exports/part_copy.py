"""Copy one part: the rows of one range, at most `POND_PART_MAX_ROWS` of them.

The part is read with `COPY (SELECT ... LIMIT max_rows) TO STDOUT`, in the
snapshot's format (`pond.exports.formats`: CSV, JSON Lines or Parquet), on a
connection that joins the export's point-in-time view (`SET TRANSACTION
SNAPSHOT`), and written through a staged writer under the part's *provisional*
name: the place of a part among the published ones is only known once every
part before it is done (see `pond.exports.publishing`).

Bytes go to storage in large blocks, gzipped on the way when the snapshot asks
for it. When the range gave exactly `max_rows` rows it may hold more: the key
of the first row past the limit, read in the same view, is where the rest of
the range starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pond.entities import get_entity
from pond.exports import formats, repository
from pond.exports.compression import GzipWriter
from pond.exports.job import Job, Key, Range
from pond.exports.progress import Progress
from pond.storage.base import ObjectStore, StagedWriter, StoredObject


class RunOver(Exception):
    """The export run this worker was asked to join has ended (or was never there)."""


@dataclass(frozen=True)
class Written:
    """A part committed under its provisional name, and where the rest of its range
    starts if the range held more rows than one part may (else None)."""

    rows: int
    stored: StoredObject
    rest: Key | None


def export_part(
    conninfo: str,
    snapshot: str,
    store: ObjectStore,
    job: Job,
    part: Range,
    *,
    max_rows: int,
    progress: Progress | None = None,
) -> Written:
    """COPY the first `max_rows` rows of `part` into a committed object, on a connection
    of its own, inside the export's view `snapshot`.

    Raises `RunOver` when `snapshot` can no longer be joined: its run has ended.
    Storage and database errors are raised as they come; nothing stays staged.
    """
    entity = get_entity(job.entity)
    after, before = part.after is not None, part.before is not None
    select = entity.export_query(
        after=after, before=before, columns=job.options.columns, limit=True
    )
    where = entity.where_params(job.org_id, job.start, job.end, part.after, part.before)
    counted = 0

    def count(rows: int) -> None:
        nonlocal counted
        counted += rows
        if progress is not None:
            progress.add(rows)

    key = f"{job.snapshot_id}/{job.options.provisional_name(job.entity, job.run, part)}"
    with psycopg.connect(conninfo) as conn, conn.transaction():
        try:
            repository.begin_snapshot(conn, snapshot)
        except psycopg.Error as exc:
            raise RunOver(str(exc)) from exc
        writer: StagedWriter = store.stage(key)
        if job.options.compression == "gzip":
            # Compressed in this part's thread, block by block as the COPY streams.
            writer = GzipWriter(writer)
        try:
            rows = formats.write_part(
                conn, select, [*where, max_rows], entity, job.options, writer, count
            )
            rest = None
            if rows >= max_rows:
                rest = repository.key_after(
                    conn, entity, where, after=after, before=before, offset=max_rows
                )
            stored = writer.commit()
        except BaseException:
            writer.abort()
            if progress is not None:
                progress.add(-counted)  # the part will be written again, or not at all
            raise
    return Written(rows, stored, rest)

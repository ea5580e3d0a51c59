"""Publish an export's parts as their places become known, then end the snapshot.

A part is written under a provisional name (`event_p<run>_<range>_<sub>`),
because while the parts before it are still being exported, any of them may yet
be cut in two. Once every part before it is done (or has failed for good), its
place is fixed: it is renamed to its published name (`event_003`) and listed in
`snapshot_parts`, where a client asking for details sees it, with its link,
while the snapshot still runs. The plain GET of the documented API shows
nothing of it until the snapshot is complete.

Publishing holds the run's lock (`repository.lock_run`): a run that lost the
snapshot (another run claimed it) publishes nothing, and a new claim waits for
a publication in progress, then drops what the old run listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pond.exports import repository
from pond.exports.job import Job
from pond.exports.repository import Conn, PartRow
from pond.storage.base import ObjectStore, StoredObject


@dataclass(frozen=True)
class Part:
    """A part as published: complete with its object, or failed with a reason."""

    seq: int
    name: str
    rows: int | None
    stored: StoredObject | None
    reason: str | None = None


def _publish_ready(conn: Conn, store: ObjectStore, job: Job) -> list[PartRow]:
    """Publish every part whose place is known and that is not published yet; return the
    run's parts as they stand. Inside the caller's transaction, under the run's lock."""
    rows = repository.plan_rows(conn, job)
    seq = 0
    for row in rows:
        if row.seq is not None:
            seq = row.seq + 1
            continue
        if row.state == "pending":
            break
        name = job.options.object_name(job.entity, seq)
        if row.state == "done":
            assert row.name is not None
            prefix = str(job.snapshot_id)
            store.rename(f"{prefix}/{row.name}", f"{prefix}/{name}")
        repository.publish_part(conn, job, row, seq, name)
        seq += 1
    return repository.plan_rows(conn, job)


def publish_ready(conn: Conn, store: ObjectStore, job: Job) -> bool:
    """Publish the parts whose places are known; False if the run no longer owns the snapshot."""
    with conn.transaction():
        if not repository.lock_run(conn, job):
            return False
        _publish_ready(conn, store, job)
    return True


def _parts(job: Job, rows: list[PartRow]) -> list[Part]:
    parts = []
    for row in rows:
        assert row.seq is not None
        assert row.name is not None
        if row.state == "done":
            assert row.size is not None
            assert row.sha256 is not None
            stored = StoredObject(f"{job.snapshot_id}/{row.name}", row.size, row.sha256)
            parts.append(Part(row.seq, row.name, row.row_count, stored))
        else:
            reason = f"{row.name} {row.reason or 'failed'}"
            parts.append(Part(row.seq, row.name, None, None, reason))
    return parts


def publish(conn: Conn, store: ObjectStore, job: Job) -> list[Part] | None:
    """Publish what is left and end the snapshot, atomically; the parts, or None if this run
    no longer owns the snapshot or some part is still pending (the run ended early).

    Every part done: the snapshot is complete. Some failed: it is failed, with its
    reason, and its complete parts stay downloadable beside the failed ones.
    """
    with conn.transaction():
        if not repository.lock_run(conn, job):
            return None
        rows = _publish_ready(conn, store, job)
        if any(row.seq is None for row in rows):
            return None
        parts = _parts(job, rows)
        failed = [p for p in parts if p.stored is None]
        state, reason = "complete", None
        if failed and len(failed) == len(parts):
            state, reason = "failed", f"the export failed: {failed[0].reason}"
        elif failed:
            state = "failed"
            reason = (
                f"{len(failed)} of {len(parts)} parts failed, the others are complete:"
                f" {failed[0].reason}"
            )
        if not repository.finish(conn, job, state, reason):
            return None
    return parts

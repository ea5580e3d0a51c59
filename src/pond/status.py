"""What the operator's `pond status` reports: queue, snapshots, recent failures, storage use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pond.api import repository as figures
from pond.console import repository
from pond.console.repository import SnapshotSummary
from pond.snapshots.repository import Conn


@dataclass(frozen=True)
class Status:
    queue: dict[str, int]
    snapshots: dict[str, int]
    stored_parts: int
    stored_bytes: int
    failures: list[SnapshotSummary] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "snapshots": self.snapshots,
            "storage": {"parts": self.stored_parts, "bytes": self.stored_bytes},
            "recent_failures": [
                {
                    "id": str(f.id),
                    "org": f.org,
                    "entity": f.entity,
                    "created_at": f.created_at.isoformat(),
                    "reason": f.reason,
                }
                for f in self.failures
            ],
        }


async def gather(conn: Conn, *, failures: int = 10) -> Status:
    """The service's state, read from the database (the same for every process)."""
    stored = await figures.stored(conn)
    return Status(
        queue=await figures.queue_depth(conn),
        snapshots=await figures.snapshot_counts(conn),
        stored_parts=stored.parts,
        stored_bytes=stored.bytes,
        failures=await repository.recent_snapshots(conn, failed_only=True, limit=failures),
    )

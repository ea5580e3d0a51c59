"""What the operator's `pond status` reports: queue, snapshots, recent failures, storage use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    states = await (
        await conn.execute("SELECT state, count(*) FROM snapshots GROUP BY state ORDER BY state")
    ).fetchall()
    stored = await (
        await conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM snapshot_parts")
    ).fetchone()
    assert stored is not None
    return Status(
        queue=await repository.queue_depth(conn),
        snapshots={str(state): int(count) for state, count in states},
        stored_parts=int(stored[0]),
        stored_bytes=int(stored[1]),
        failures=await repository.recent_snapshots(conn, failed_only=True, limit=failures),
    )

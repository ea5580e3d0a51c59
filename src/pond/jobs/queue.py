"""Deferring procrastinate jobs inside pond's own transactions.

procrastinate's `defer` opens its own connection; pond needs a job to exist if
and only if the rows that call for it do, so it calls procrastinate's own SQL
function on the connection that writes those rows.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

# One row per job: (queue, task, priority, lock, queueing lock, args, scheduled at).
DEFER_SQL = (
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
    "%s, %s, %s, NULL, NULL, %s::jsonb, NULL"
    ")]::procrastinate_job_to_defer_v1[]))"
)


def defer(
    conn: psycopg.Connection[Any],
    queue: str,
    task: str,
    args: dict[str, Any],
    *,
    count: int = 1,
    priority: int = 0,
) -> list[int]:
    """Queue `count` jobs of `task` with `args` on `conn`; return their ids."""
    ids = []
    for _ in range(count):
        row = conn.execute(DEFER_SQL, (queue, task, priority, json.dumps(args))).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids

"""`pond status`: the operator's view of queue, snapshots, storage and failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg


def pond(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pond", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_reports_what_the_database_holds(
    conninfo: str, tmp_path: Path, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, _ = client_credentials("acme")
    failed, complete = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        for sid, state, reason in ((failed, "failed", "disk full"), (complete, "complete", None)):
            conn.execute(
                "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from,"
                " created_at_to, state, reason, expires_at)"
                " SELECT %s, org_id, client_id, 'event', '2019-01-01Z', '2019-01-02Z', %s, %s,"
                " now() + interval '1 day' FROM oauth_clients WHERE client_id = %s",
                (sid, state, reason, client_id),
            )
        conn.execute(
            "INSERT INTO snapshot_parts (snapshot_id, seq, name, size, row_count, sha256)"
            " VALUES (%s, 0, 'event_000', 1234, 10, 'x'), (%s, 1, 'event_001', 66, 1, 'y')",
            (complete, complete),
        )
    env = {**os.environ, "POND_DATABASE_URL": conninfo, "POND_DATA_DIR": str(tmp_path)}
    answer = pond("status", "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    report = json.loads(answer.stdout)
    assert report["snapshots"] == {"complete": 1, "failed": 1}
    assert report["storage"] == {"parts": 2, "bytes": 1300}
    assert [f["id"] for f in report["recent_failures"]] == [str(failed)]
    assert report["recent_failures"][0]["reason"] == "disk full"
    assert isinstance(report["queue"], dict)
    plain = pond("status", env={**env, "COLUMNS": "200"})
    assert plain.returncode == 0
    assert "disk full" in plain.stdout
    assert "1,300 bytes" in plain.stdout

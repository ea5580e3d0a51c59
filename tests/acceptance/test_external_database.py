"""With POND_DATABASE_URL set, pond uses that server and never starts the embedded one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def pond(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pond", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_operator_commands_run_on_the_external_database(conninfo: str, tmp_path: Path) -> None:
    env = {**os.environ, "POND_DATABASE_URL": conninfo, "POND_DATA_DIR": str(tmp_path / "d")}
    created = pond("clients", "create", "--name", "ext", "--org", "acme", "--json", env=env)
    assert created.returncode == 0, created.stderr
    client_id = json.loads(created.stdout)["client_id"]
    listed = pond("clients", "list", "--json", env=env)
    assert client_id in [row["client_id"] for row in json.loads(listed.stdout)]
    assert not (tmp_path / "d" / "pg").exists()


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "POND_DATABASE_URL": "postgresql://pond@127.0.0.1:9/pond?connect_timeout=2",
        "POND_DATA_DIR": str(tmp_path / "d"),
    }
    answer = pond("clients", "list", env=env)
    assert answer.returncode == 9
    assert "POND_DATABASE_URL" in answer.stderr
    assert "Traceback" not in answer.stderr

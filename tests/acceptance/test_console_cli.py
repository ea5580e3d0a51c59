"""`pond console operator create`: a password shown once, stored only as a hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


def test_operator_accounts_are_made_once_with_a_hashed_password(
    conninfo: str, tmp_path: Path
) -> None:
    env = {**os.environ, "POND_DATABASE_URL": conninfo, "POND_DATA_DIR": str(tmp_path)}
    made = pond("console", "operator", "create", "--name", "ops", "--json", env=env)
    assert made.returncode == 0, made.stderr
    password = json.loads(made.stdout)["password"]
    assert len(password) >= 16
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT * FROM console_operators").fetchall()
    assert len(rows) == 1
    assert password not in repr(rows)
    again = pond("console", "operator", "create", "--name", "ops", env=env)
    assert again.returncode == 2
    assert "ops" in again.stderr

"""The operator's side of `pond`, run as a user runs it: the real executable, a real
`pond serve` on loopback, and the embedded PostgreSQL in the data directory.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import (
    ServeProcess,
    leftover_postgres,
    postmaster_running,
    run_pond,
    start_serve,
    stop_leftover_postgres,
)

SCOPE = "pond/insights.snapshots"
FROM, TO = "2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"


def create_client(data_dir: Path, org: str = "acme", name: str = "reporting") -> dict[str, Any]:
    done = run_pond("clients", "create", "--name", name, "--org", org, "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def request_token(base_url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/oauth2/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": SCOPE},
    )


def token_for(base_url: str, client_id: str, secret: str) -> str:
    answer = request_token(base_url, client_id, secret)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def schedule(base_url: str, token: str, start: str = FROM, end: str = TO) -> str:
    answer = httpx.post(
        f"{base_url}/insights/snapshots",
        headers=bearer(token),
        data={"created_at_from": start, "created_at_to": end},
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["snapshot"]["href"])


def wait_complete(href: str, token: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = httpx.get(href, headers=bearer(token))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if all(item["state"] in ("complete", "failed") for item in body["items"]):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{href} did not complete within {timeout} s")


def exported_rows(base_url: str, token: str, start: str, end: str) -> int:
    body = wait_complete(schedule(base_url, token, start, end), token)
    assert {item["state"] for item in body["items"]} == {"complete"}, body
    return sum(int(item["count"]) for item in body["items"])


def wait_until_stopped(data_dir: Path, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while postmaster_running(data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_clients_create_and_list_without_a_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    created = create_client(data_dir, name="nightly export")

    assert created["client_id"]
    assert len(created["client_secret"]) >= 32
    listed = run_pond("clients", "list", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["client_id"] == created["client_id"]
    assert row["org"] == "acme"
    assert row["name"] == "nightly export"
    assert row["state"] == "active"
    assert not [key for key in row if "secret" in key or "hash" in key]
    assert created["client_secret"] not in listed.stdout
    table = run_pond("clients", "list", data_dir=data_dir)
    assert table.returncode == 0, table.stderr
    assert created["client_secret"] not in table.stdout
    # The last process using the embedded PostgreSQL stopped it on the way out.
    assert wait_until_stopped(data_dir), "the embedded PostgreSQL outlived the commands"


def test_the_clients_table_shows_whole_ids(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    created = create_client(data_dir, name="nightly export")

    table = run_pond("clients", "list", data_dir=data_dir)

    assert table.returncode == 0, table.stderr
    assert created["client_id"] in table.stdout


def test_operator_commands_work_while_serve_runs(serve: ServeProcess) -> None:
    created = create_client(serve.data_dir)

    answer = request_token(serve.base_url, created["client_id"], created["client_secret"])

    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"
    # The command left the shared PostgreSQL running under the server.
    assert httpx.get(f"{serve.base_url}/readyz").status_code == 200
    listed = run_pond("clients", "list", "--json", data_dir=serve.data_dir)
    assert created["client_id"] in {row["client_id"] for row in json.loads(listed.stdout)}


def test_rotate_replaces_the_secret_and_ends_old_tokens(serve: ServeProcess) -> None:
    created = create_client(serve.data_dir)
    old_token = token_for(serve.base_url, created["client_id"], created["client_secret"])
    href = schedule(serve.base_url, old_token)

    rotated = run_pond("clients", "rotate", created["client_id"], "--json", data_dir=serve.data_dir)

    assert rotated.returncode == 0, rotated.stderr
    new_secret = json.loads(rotated.stdout)["client_secret"]
    assert new_secret != created["client_secret"]
    refused = request_token(serve.base_url, created["client_id"], created["client_secret"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client"
    stale = httpx.get(href, headers=bearer(old_token))
    assert stale.status_code == 401
    assert stale.json()["error"] == "invalid_token"
    new_token = token_for(serve.base_url, created["client_id"], new_secret)
    assert httpx.get(href, headers=bearer(new_token)).status_code == 200


def test_revoke_ends_the_client_and_its_tokens(serve: ServeProcess) -> None:
    created = create_client(serve.data_dir)
    token = token_for(serve.base_url, created["client_id"], created["client_secret"])
    href = schedule(serve.base_url, token)

    revoked = run_pond("clients", "revoke", created["client_id"], data_dir=serve.data_dir)

    assert revoked.returncode == 0, revoked.stderr
    refused = httpx.get(href, headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    answer = request_token(serve.base_url, created["client_id"], created["client_secret"])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"
    listed = run_pond("clients", "list", "--json", data_dir=serve.data_dir)
    [row] = [r for r in json.loads(listed.stdout) if r["client_id"] == created["client_id"]]
    assert row["state"] == "revoked"


def test_seeded_events_are_what_a_snapshot_exports(serve: ServeProcess) -> None:
    seeded = run_pond(
        "seed", "--org", "acme", "--from", FROM, "--to", TO, "--count", "1000",
        data_dir=serve.data_dir,
    )  # fmt: skip

    assert seeded.returncode == 0, seeded.stderr
    created = create_client(serve.data_dir)
    token = token_for(serve.base_url, created["client_id"], created["client_secret"])
    assert exported_rows(serve.base_url, token, FROM, TO) == 1000


def test_import_rejects_a_bad_row_by_line_and_loads_nothing(
    serve: ServeProcess, tmp_path: Path
) -> None:
    start, end = "2020-01-01T00:00:00.000Z", "2020-02-01T00:00:00.000Z"
    created = create_client(serve.data_dir)
    token = token_for(serve.base_url, created["client_id"], created["client_secret"])
    header = "id,created_at,event_type\n"
    good = "900001,2020-01-02T00:00:00Z,click\n900002,2020-01-03T00:00:00Z,login\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + good + "900003,the third of January,click\n")

    rejected = run_pond("import", "--org", "acme", str(bad), data_dir=serve.data_dir)

    assert rejected.returncode == 2, rejected.stdout + rejected.stderr
    assert "line 4" in rejected.stderr
    assert exported_rows(serve.base_url, token, start, end) == 0
    # The same rows, fixed, load: so "nothing" above was the rejection, not a broken import.
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(header + good + "900003,2020-01-04T00:00:00Z,click\n")
    loaded = run_pond("import", "--org", "acme", str(fixed), data_dir=serve.data_dir)
    assert loaded.returncode == 0, loaded.stderr
    assert exported_rows(serve.base_url, token, start, end) == 3


def test_a_bad_setting_stops_the_command_and_names_the_variable(tmp_path: Path) -> None:
    done = run_pond("clients", "list", data_dir=tmp_path / "data", POND_PART_MAX_ROWS="abc")

    assert done.returncode == 8, done.stdout + done.stderr
    assert "POND_PART_MAX_ROWS" in done.stderr
    assert not postmaster_running(tmp_path / "data")


def test_demo_walks_the_documented_flow_and_cleans_up(tmp_path: Path) -> None:
    try:
        done = run_pond("demo", data_dir=tmp_path / "data", timeout=120, TMPDIR=str(tmp_path))

        assert done.returncode == 0, done.stdout + done.stderr
        assert "demo passed" in done.stdout
        # It removed its throwaway data directory and stopped its PostgreSQL.
        assert not list(tmp_path.glob("pond-demo-*"))
        assert leftover_postgres(tmp_path) == []
    finally:
        stop_leftover_postgres(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopping_serve_takes_its_database_down(tmp_path: Path, sig: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    running = start_serve(data_dir)
    try:
        assert postmaster_running(data_dir)

        assert running.stop(sig), running.output()

        assert wait_until_stopped(data_dir), "the embedded PostgreSQL outlived pond serve"
        assert leftover_postgres(tmp_path) == []
    finally:
        running.stop()
        stop_leftover_postgres(tmp_path)


@pytest.mark.parametrize("command", [["clients", "revoke"], ["clients", "rotate"]])
def test_an_unknown_client_is_not_found(serve: ServeProcess, command: list[str]) -> None:
    done = run_pond(*command, "no-such-client", data_dir=serve.data_dir)

    assert done.returncode == 4, done.stdout + done.stderr
    assert "no-such-client" in done.stderr

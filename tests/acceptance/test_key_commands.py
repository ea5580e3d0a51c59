"""`pond keys list | rotate | retire`, run as an operator runs them: with no server, and
beside a running `pond serve`, which follows the changes without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg

from pond.db import embedded
from tests.acceptance.conftest import ServeProcess, run_pond, stop_leftover_postgres
from tests.acceptance.test_cli_server import bearer, create_client, schedule, token_for

PICK_UP_SECONDS = 15


def keys(data_dir: Path) -> dict[str, dict[str, Any]]:
    listed = run_pond("keys", "list", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    return {row["kid"]: row for row in json.loads(listed.stdout)}


def test_keys_are_listed_without_a_server_and_never_show_a_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        listed = keys(data_dir)
        table = run_pond("keys", "list", data_dir=data_dir)
    finally:
        stop_leftover_postgres(data_dir)

    assert sorted((k["purpose"], k["state"]) for k in listed.values()) == [
        ("hash", "hashing"),
        ("link", "signing"),
        ("token", "signing"),
    ]
    assert table.returncode == 0, table.stderr
    for kid in listed:
        assert kid in table.stdout
    assert "secret" not in table.stdout + json.dumps(listed)


def test_a_rotation_reaches_the_running_server_and_retirement_ends_old_tokens(
    serve: ServeProcess,
) -> None:
    created = create_client(serve.data_dir)
    creds = created["client_id"], created["client_secret"]
    old_token = token_for(serve.base_url, *creds)
    href = schedule(serve.base_url, old_token)

    rotated = run_pond("keys", "rotate", "--token", "--json", data_dir=serve.data_dir)

    assert rotated.returncode == 0, rotated.stderr
    [change] = json.loads(rotated.stdout)
    assert change["purpose"] == "token"
    assert change["old_kid"] == jwt.get_unverified_header(old_token)["kid"]
    listed = keys(serve.data_dir)
    assert listed[change["old_kid"]]["state"] == "verifying"
    assert listed[change["old_kid"]]["retires_at"] == change["old_retires_at"]
    assert listed[change["new_kid"]]["state"] == "signing"
    assert [k["state"] for k in listed.values() if k["purpose"] == "link"] == ["signing"]

    deadline = time.monotonic() + PICK_UP_SECONDS
    while True:
        new_token = token_for(serve.base_url, *creds)
        if jwt.get_unverified_header(new_token)["kid"] == change["new_kid"]:
            break
        assert time.monotonic() < deadline, "the server still signs with the old key"
        time.sleep(0.2)
    assert httpx.get(href, headers=bearer(old_token)).status_code == 200
    assert httpx.get(href, headers=bearer(new_token)).status_code == 200

    retired = run_pond("keys", "retire", change["old_kid"], data_dir=serve.data_dir)

    assert retired.returncode == 0, retired.stderr
    assert change["old_kid"] in retired.stdout
    deadline = time.monotonic() + PICK_UP_SECONDS
    while httpx.get(href, headers=bearer(old_token)).status_code != 401:
        assert time.monotonic() < deadline, "the retired key still verifies"
        time.sleep(0.2)
    assert httpx.get(href, headers=bearer(new_token)).status_code == 200
    again = run_pond("keys", "retire", change["old_kid"], data_dir=serve.data_dir)
    assert again.returncode == 0, again.stderr
    assert "retired already" in again.stdout


def test_retiring_the_key_that_signs_or_an_unknown_one_is_refused(serve: ServeProcess) -> None:
    listed = keys(serve.data_dir)
    signing = next(k for k, row in listed.items() if row["purpose"] == "link")
    hashing = next(k for k, row in listed.items() if row["purpose"] == "hash")

    current = run_pond("keys", "retire", signing, data_dir=serve.data_dir)
    hash_key = run_pond("keys", "retire", hashing, data_dir=serve.data_dir)
    unknown = run_pond("keys", "retire", "no-such-key", data_dir=serve.data_dir)

    assert current.returncode == 2
    assert "pond keys rotate --link" in current.stderr
    assert hash_key.returncode == 2
    assert "never retired" in hash_key.stderr
    assert unknown.returncode == 4
    assert "pond keys list" in unknown.stderr
    assert keys(serve.data_dir)[signing]["state"] == "signing"


def test_a_kid_that_begins_with_a_dash_is_retired_after_double_dash(tmp_path: Path) -> None:
    # Kids made before they were kept from beginning with '-' may still do so.
    data_dir = tmp_path / "data"
    try:
        keys(data_dir)  # the first command makes the keys
        conninfo, server = embedded.start(data_dir)
        try:
            with psycopg.connect(conninfo) as conn:
                conn.execute(
                    "INSERT INTO signing_keys (kid, purpose, secret, superseded_at)"
                    " VALUES ('-legacy', 'link', %s, now())",
                    (b"s" * 32,),
                )
            plain = run_pond("keys", "retire", "-legacy", data_dir=data_dir)
            helped = run_pond("keys", "retire", "--help", data_dir=data_dir, COLUMNS="200")
            escaped = run_pond("keys", "retire", "--", "-legacy", data_dir=data_dir)
            listed = keys(data_dir)
        finally:
            embedded.stop(server)
    finally:
        stop_leftover_postgres(data_dir)

    assert plain.returncode == 2
    assert "--help" in plain.stderr
    assert "pond keys retire -- -kid" in helped.stdout
    assert escaped.returncode == 0, escaped.stderr
    assert "-legacy" in escaped.stdout
    assert listed["-legacy"]["state"] == "retired"

"""The whole flow on S3-compatible servers as operators meet them.

- SeaweedFS checks credentials, SigV4 signatures and expiry, like AWS: links
  work, tampered and expired ones are refused, DELETE removes the objects, and
  `pond export` downloads everything.
- s3rver lacks ListMultipartUploads, which pond's clean-up uses: exports
  complete all the same.
- A bucket pond cannot use stops `pond serve` and `pond worker` at start-up
  with the configuration exit code, and makes `/readyz` answer 503.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pond.cli.output import EXIT_CONFIG
from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer, free_port
from tests.integration.client.fixtures import run_pond
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done
from tests.integration.processes import service_env
from tests.integration.s3_servers import NO_LIST, S3Server

Creds = Callable[[str], tuple[str, str]]
Start = Callable[..., RunningServer]


def on_bucket(start_server: Start, s3: S3Server, bucket: str, **overrides: Any) -> RunningServer:
    return start_server(**s3.settings(bucket), **overrides)


def token_for(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(
        server.token_url,
        auth=creds,
        data={"grant_type": "client_credentials", "scope": "pond/insights.snapshots"},
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def completed(server: RunningServer, token: str) -> dict[str, Any]:
    created = schedule(server.base_url, token)
    assert created.status_code == 202, created.text
    body = wait_done(created.json()["snapshot"]["href"], token, timeout=60)
    assert {item["state"] for item in body["items"]} == {"complete"}, body
    return body


def ids_in(csv_texts: list[str]) -> list[int]:
    return sorted(int(row["id"]) for text in csv_texts for row in csv.DictReader(io.StringIO(text)))


def cli_export(server: RunningServer, creds: tuple[str, str], home: Path) -> list[int]:
    """`pond export` of the test range as a user runs it; the ids of the rows it wrote."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(home),
        "POND_CLIENT_ID": creds[0],
        "POND_CLIENT_SECRET": creds[1],
        "POND_API_URL": server.base_url,
        "POND_TOKEN_URL": server.token_url,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    out = home / "out"
    done = run_pond("export", "--from", FROM, "--to", TO, "--out", str(out), "--json", env=env)
    assert done.returncode == 0, done.stderr
    files = [Path(name) for name in json.loads(done.stdout)["files"]]
    return ids_in([path.read_text() for path in files])


def tampered(link: str) -> str:
    """`link` with the signed download name changed: the signature no longer matches."""
    return link.replace("event_000.csv", "event_999.csv")


def link_ends(link: str) -> datetime:
    params = httpx.URL(link).params
    signed = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed + timedelta(seconds=int(params["X-Amz-Expires"]))


@pytest.mark.slow
def test_the_whole_flow_on_a_server_that_checks_signatures_and_expiry(
    start_server: Start,
    client_credentials: Creds,
    seaweedfs: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    seaweedfs.use_credentials(monkeypatch, tmp_path)
    bucket = seaweedfs.new_bucket()
    server = on_bucket(start_server, seaweedfs, bucket, part_max_rows=400, link_ttl=5)
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(server.conninfo, org="acme", start=start, end=end, count=1000)
    creds = client_credentials("acme")
    token = token_for(server, creds)
    body = completed(server, token)
    links = [item["href"] for item in body["items"]]
    assert [item["count"] for item in body["items"]] == [400, 400, 200]

    downloads = [httpx.get(link) for link in links]
    for answer, item in zip(downloads, body["items"], strict=True):
        assert answer.status_code == 200, answer.text
        assert len(answer.content) == item["size"]
    assert downloads[0].headers["content-disposition"] == 'attachment; filename="event_000.csv"'
    assert ids_in([answer.text for answer in downloads]) == list(range(1, 1001))

    refused = httpx.get(tampered(links[0]))
    assert refused.status_code == 403
    assert "SignatureDoesNotMatch" in refused.text

    # The client, through a second API process with the default link lifetime.
    other = on_bucket(start_server, seaweedfs, bucket, part_max_rows=400)
    assert cli_export(other, creds, tmp_path / "cli") == list(range(1, 1001))

    time.sleep(max(0.0, (link_ends(links[0]) - datetime.now(UTC)).total_seconds()) + 1.5)
    expired = httpx.get(links[0])
    assert expired.status_code == 403
    assert "expired" in expired.text

    sid = str(body["href"]).rsplit("/", 1)[1]
    assert len(seaweedfs.keys_under(bucket, f"exports/{sid}/")) == 3
    deleted = httpx.delete(str(body["href"]), headers=bearer(token))
    assert deleted.status_code == 204, deleted.text
    assert seaweedfs.keys_under(bucket, f"exports/{sid}/") == []
    # A link signed now, which S3 would honour, finds nothing.
    store = server.app.state.pond.store
    fresh = store.signed_url(
        f"{sid}/event_000", expires_at=datetime.now(UTC) + timedelta(minutes=5), base_url=""
    )
    gone = httpx.get(fresh)
    assert gone.status_code == 404
    assert "NoSuchKey" in gone.text


def test_exports_complete_on_a_server_without_list_multipart_uploads(
    start_server: Start,
    client_credentials: Creds,
    s3rver: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    s3rver.use_credentials(monkeypatch, tmp_path)
    bucket = s3rver.new_bucket()
    server = on_bucket(start_server, s3rver, bucket, part_max_rows=400)
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(server.conninfo, org="acme", start=start, end=end, count=600)
    creds = client_credentials("acme")
    token = token_for(server, creds)
    body = completed(server, token)
    answers = [httpx.get(item["href"]) for item in body["items"]]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert ids_in([answer.text for answer in answers]) == list(range(1, 601))
    assert cli_export(server, creds, tmp_path / "cli") == list(range(1, 601))
    sid = str(body["href"]).rsplit("/", 1)[1]
    assert httpx.delete(str(body["href"]), headers=bearer(token)).status_code == 204
    assert s3rver.keys_under(bucket, f"exports/{sid}/") == []


def test_an_export_completes_when_its_clean_up_is_refused(
    start_server: Start,
    client_credentials: Creds,
    seaweedfs: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Keys that may write and read objects but not list them: the clean-up before
    # the export (ListMultipartUploads, ListObjectsV2) is refused, the export is not.
    bucket = seaweedfs.new_bucket()
    limited = replace(seaweedfs, access_key=NO_LIST[0], secret_key=NO_LIST[1])
    limited.use_credentials(monkeypatch, tmp_path)
    server = on_bucket(start_server, limited, bucket)
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(server.conninfo, org="acme", start=start, end=end, count=50)
    body = completed(server, token_for(server, client_credentials("acme")))
    [item] = body["items"]
    answer = httpx.get(item["href"])
    assert answer.status_code == 200, answer.text
    assert ids_in([answer.text]) == list(range(1, 51))


def test_readyz_says_when_the_bucket_cannot_be_used(
    start_server: Start, moto_s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    moto_s3.use_credentials(monkeypatch, tmp_path)
    bucket = moto_s3.new_bucket()
    server = on_bucket(start_server, moto_s3, bucket)
    assert httpx.get(f"{server.base_url}/readyz").json() == {"status": "ready"}
    moto_s3.client().delete_bucket(Bucket=bucket)
    answer = httpx.get(f"{server.base_url}/readyz")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json()["error"] == "storage_unavailable"
    assert f"S3 bucket {bucket}" in answer.json()["error_description"]
    assert "does not exist" in answer.json()["error_description"]
    moto_s3.client().create_bucket(Bucket=bucket)
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200


@pytest.mark.parametrize(
    ("command", "problem", "words"),
    [
        ("serve", "no bucket", "does not exist"),
        ("worker", "wrong secret", "refused pond's credentials"),
        ("serve", "no server", "cannot reach S3 bucket"),
    ],
)
def test_start_up_stops_when_the_bucket_cannot_be_used(
    conninfo: str,
    seaweedfs: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: str,
    problem: str,
    words: str,
) -> None:
    secret = "not-the-secret" if problem == "wrong secret" else None
    seaweedfs.use_credentials(monkeypatch, tmp_path, secret_key=secret)
    bucket = seaweedfs.new_bucket() if problem == "wrong secret" else f"pond-{uuid.uuid4().hex[:8]}"
    endpoint = f"http://127.0.0.1:{free_port()}" if problem == "no server" else seaweedfs.endpoint
    settings = S3Server("", endpoint, "", "").settings(bucket)
    env = service_env(
        conninfo,
        tmp_path / "data",
        **{f"POND_{name.upper()}": value for name, value in settings.items()},
    )
    args = [sys.executable, "-m", "pond", command]
    if command == "serve":
        args += ["--port", str(free_port())]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == EXIT_CONFIG, done.stderr
    assert words in done.stderr
    assert f"S3 bucket {bucket}" in done.stderr
    assert "hint:" in done.stderr

"""S3 storage against S3-compatible servers on loopback.

Most tests use moto in server mode (a dev dependency): it speaks S3's HTTP but
accepts any credentials and checks no signature or expiry. The last test uses
s3rver, which does check them; it is installed from npm when the test runs and
skipped, with the reason, where npm cannot install it. The signing itself is
also pinned, with no server, in tests/unit/test_s3_signing.py.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from pond.downloads.signing import LinkSigner
from pond.events import seeding
from pond.exports import coordinator
from pond.jobs.runtime import JobRuntime
from pond.jobs.tasks import expire_snapshots
from pond.settings import Settings, load_settings
from pond.snapshots.dates import parse_instant
from pond.storage.factory import open_s3_store
from pond.storage.local import LocalStore
from pond.storage.s3 import S3Store
from tests.conftest import RunningServer, free_port
from tests.integration.helpers import FROM, TO, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]
MiB = 1 << 20


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """URL of an S3-compatible server on 127.0.0.1 (moto), for this module."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket; the AWS variables point the default credential chain at test keys."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "pond-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "pond-test-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    name = f"pond-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="pond-test-key",
        aws_secret_access_key="pond-test-secret",
    )


def keys_under(endpoint: str, bucket: str, prefix: str) -> list[str]:
    answer = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in answer.get("Contents", [])]


def s3_store(make_settings: Callable[..., Settings], endpoint: str, bucket: str) -> S3Store:
    settings = make_settings(
        storage_url=f"s3://{bucket}/exports", s3_endpoint_url=endpoint, s3_region="us-east-1"
    )
    store = open_s3_store(settings)
    assert isinstance(store, S3Store)
    return store


def s3_server(
    start_server: Callable[..., RunningServer], endpoint: str, bucket: str, **overrides: object
) -> RunningServer:
    return start_server(
        storage_url=f"s3://{bucket}/exports",
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        **overrides,
    )


def same_range_snapshot(conninfo: str, org: str = "acme") -> uuid.UUID:
    """A second snapshot of the same range and organisation, inserted with no job."""
    sid = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from, created_at_to,"
            " expires_at) SELECT %s, org_id, client_id, 'event', %s, %s, now() + interval '1 day'"
            " FROM oauth_clients c JOIN organisations o ON o.id = c.org_id"
            " WHERE o.slug = %s LIMIT 1",
            (sid, parse_instant("f", FROM), parse_instant("t", TO), org),
        )
    return sid


def complete_snapshot(server: RunningServer, creds: Creds, rows: int) -> dict[str, Any]:
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(server.conninfo, org="acme", start=start, end=end, count=rows)
    client_id, secret = creds("acme")
    token = httpx.post(
        server.token_url,
        auth=(client_id, secret),
        data={"grant_type": "client_credentials", "scope": "pond/insights.snapshots"},
    ).json()["access_token"]
    created = schedule(server.base_url, token)
    assert created.status_code == 202, created.text
    body = wait_done(created.json()["snapshot"]["href"], token)
    assert {item["state"] for item in body["items"]} == {"complete"}, body
    return body


def test_s3_export_matches_local_export_byte_for_byte(
    start_server: Callable[..., RunningServer],
    client_credentials: Creds,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    server = s3_server(start_server, s3_endpoint, bucket, part_max_rows=400)
    body = complete_snapshot(server, client_credentials, rows=1000)
    items = body["items"]
    assert isinstance(items, list)
    assert [item["count"] for item in items] == [400, 400, 200]
    for item in items:
        assert item["href"].startswith(f"{s3_endpoint}/{bucket}/exports/")
        assert "X-Amz-Signature=" in item["href"]
    s3_parts = [httpx.get(item["href"]) for item in items]
    for answer, item in zip(s3_parts, items, strict=True):
        assert answer.status_code == 200, answer.text
        assert len(answer.content) == item["size"]

    # The same range exported to local files, with the same part size.
    local = tmp_path / "local"
    sid = same_range_snapshot(server.conninfo)
    coordinator.run(
        server.conninfo, LocalStore(local, LinkSigner("k", b"s" * 32)), sid, max_rows=400
    )
    local_parts = sorted((local / str(sid)).glob("event_*"))
    assert [p.read_bytes() for p in local_parts] == [a.content for a in s3_parts]


def test_s3_link_downloads_with_no_token_and_names_the_file(
    start_server: Callable[..., RunningServer],
    client_credentials: Creds,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    server = s3_server(start_server, s3_endpoint, bucket)
    [item] = complete_snapshot(server, client_credentials, rows=50)["items"]
    answer = httpx.get(item["href"])
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="event_000.csv"'
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text.count("\n") == 51  # header and 50 rows
    curl = shutil.which("curl")
    if curl is None:
        return
    target = tmp_path / "part.csv"
    subprocess.run([curl, "-sSf", "-o", str(target), item["href"]], check=True, timeout=30)
    assert target.read_bytes() == answer.content


def test_links_are_signed_afresh_and_never_outlive_retention(
    start_server: Callable[..., RunningServer],
    client_credentials: Creds,
    s3_endpoint: str,
    bucket: str,
) -> None:
    server = s3_server(start_server, s3_endpoint, bucket, retention_days=0.01)  # 864 s
    body = complete_snapshot(server, client_credentials, rows=5)
    [item] = body["items"]
    expires = int(httpx.URL(item["href"]).params["X-Amz-Expires"])
    assert 0 < expires <= 864


def test_retention_deletes_the_objects(
    start_server: Callable[..., RunningServer],
    client_credentials: Creds,
    s3_endpoint: str,
    bucket: str,
) -> None:
    server = s3_server(start_server, s3_endpoint, bucket)
    body = complete_snapshot(server, client_credentials, rows=20)
    sid = str(body["href"]).rsplit("/", 1)[1]
    assert keys_under(s3_endpoint, bucket, f"exports/{sid}/") == [f"exports/{sid}/event_000"]
    [item] = body["items"]
    with psycopg.connect(server.conninfo) as conn:
        conn.execute(
            "UPDATE snapshots SET expires_at = now() - interval '1 second' WHERE id = %s", (sid,)
        )
    store = server.app.state.pond.store
    assert isinstance(store, S3Store)
    expire_snapshots(server.conninfo, JobRuntime(server.settings, server.conninfo, store))
    assert keys_under(s3_endpoint, bucket, f"exports/{sid}/") == []
    # S3 answers 403 rather than 404 for a missing key when it cannot tell the
    # caller whether the key exists.
    assert httpx.get(item["href"]).status_code in (403, 404)


def test_multipart_upload_streams_parts_and_is_invisible_until_commit(
    make_settings: Callable[..., Settings], s3_endpoint: str, bucket: str
) -> None:
    store = s3_store(make_settings, s3_endpoint, bucket)
    store = S3Store(store._client, bucket, "exports", part_size=5 * MiB)
    key = f"{uuid.uuid4()}/event_000"
    writer = store.stage(key)
    digest = hashlib.sha256()
    for n in range(12):
        block = bytes([n]) * MiB
        writer.write(block)
        digest.update(block)
    assert keys_under(s3_endpoint, bucket, f"exports/{key}") == []
    # Two full 5 MiB parts are already in S3; only the last 2 MiB wait in memory.
    client = s3_client(s3_endpoint)
    [upload] = client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    listed = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    assert [part["Size"] for part in listed["Parts"]] == [5 * MiB, 5 * MiB]
    stored = writer.commit()
    assert (stored.key, stored.size, stored.sha256) == (key, 12 * MiB, digest.hexdigest())
    answer = s3_client(s3_endpoint).get_object(Bucket=bucket, Key=f"exports/{key}")
    assert hashlib.sha256(answer["Body"].read()).hexdigest() == stored.sha256


def test_an_aborted_writer_leaves_no_object_and_no_upload(
    make_settings: Callable[..., Settings], s3_endpoint: str, bucket: str
) -> None:
    store = s3_store(make_settings, s3_endpoint, bucket)
    store = S3Store(store._client, bucket, "exports", part_size=5 * MiB)
    for size in (100, 6 * MiB):  # a single-PUT object and a multipart one
        key = f"{uuid.uuid4()}/event_000"
        writer = store.stage(key)
        writer.write(b"x" * size)
        writer.abort()
        assert keys_under(s3_endpoint, bucket, "exports/") == []
    uploads = s3_client(s3_endpoint).list_multipart_uploads(Bucket=bucket)
    assert uploads.get("Uploads", []) == []


def test_delete_prefix_removes_only_that_snapshot(
    make_settings: Callable[..., Settings], s3_endpoint: str, bucket: str
) -> None:
    store = s3_store(make_settings, s3_endpoint, bucket)
    first, second = uuid.uuid4(), uuid.uuid4()
    for sid in (first, second):
        for n in range(3):
            writer = store.stage(f"{sid}/event_{n:03d}")
            writer.write(b"id\n1\n")
            writer.commit()
    store.delete_prefix(str(first))
    assert keys_under(s3_endpoint, bucket, f"exports/{first}/") == []
    assert len(keys_under(s3_endpoint, bucket, f"exports/{second}/")) == 3


# --- Expiry, against a server that enforces it (s3rver, from npm) ---
# s3rver checks the expiry of SigV4 links but not their signature (it checks only
# V2 signatures); tests/unit/test_s3_signing.py recomputes the SigV4 signature.

S3RVER_KEY = "S3RVER"  # s3rver's built-in access key and secret


@pytest.fixture(scope="module")
def s3rver_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """s3rver on 127.0.0.1, installed from npm into a temporary directory for this run."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("s3rver needs Node.js and npm, which are not installed")
    root = tmp_path_factory.mktemp("s3rver")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "s3rver@3"],
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"could not install s3rver from the npm registry: {exc}")
    port = free_port()
    data = root / "data"
    data.mkdir()
    script = root / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    args = [node, str(script), "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "-s"]
    log = root / "s3rver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=output)
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            pytest.fail(f"s3rver did not start: {log.read_text()}")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def s3rver_store(s3rver_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Store:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3RVER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3RVER_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    name = f"pond-{uuid.uuid4().hex[:12]}"
    settings = load_settings(
        data_dir=tmp_path, storage_url=f"s3://{name}/exports", s3_endpoint_url=s3rver_endpoint
    )
    store = open_s3_store(settings)
    assert isinstance(store, S3Store)
    store._client.create_bucket(Bucket=name)
    return store


@pytest.mark.slow
def test_links_work_until_they_expire_on_a_server_that_checks(
    s3rver_store: S3Store,
) -> None:
    key = f"{uuid.uuid4()}/event_000"
    writer = s3rver_store.stage(key)
    writer.write(b"id,created_at\n1,2019-03-13T18:00:00Z\n")
    writer.commit()
    link = s3rver_store.signed_url(
        key, expires_at=datetime.now(UTC) + timedelta(seconds=4), base_url=""
    )
    answer = httpx.get(link)
    assert answer.status_code == 200, answer.text
    assert answer.content == b"id,created_at\n1,2019-03-13T18:00:00Z\n"
    assert answer.headers["content-disposition"] == 'attachment; filename="event_000.csv"'
    time.sleep(4.5)
    expired = httpx.get(link)
    assert expired.status_code == 403
    assert "expired" in expired.text

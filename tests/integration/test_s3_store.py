"""The S3 store itself, on each S3-compatible server it is tried against.

Each test runs on moto, SeaweedFS (checks signatures and credentials) and
s3rver (lacks ListMultipartUploads), except where a server lacks what the test
looks at; the servers are described in tests/integration/s3_servers.py.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import LogCapture

from pond.errors import StorageUnavailable
from pond.settings import load_settings
from pond.storage import s3
from pond.storage.factory import open_s3_store
from pond.storage.s3 import S3Store
from tests.conftest import free_port
from tests.integration.s3_servers import S3Server

MiB = 1 << 20
ALL = ["moto_s3", "seaweedfs", "s3rver"]
# s3rver has no ListMultipartUploads, ListParts or UploadPartCopy.
MULTIPART = ["moto_s3", "seaweedfs"]
StoreOn = Callable[..., S3Store]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> S3Server:
    """The server named by the test's `server` parameter."""
    found: S3Server = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def store_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> StoreOn:
    """Factory: a store in a fresh bucket of `server`, made from settings as pond makes it."""

    def make(
        server: S3Server,
        *,
        bucket: str | None = None,
        secret_key: str | None = None,
        **options: Any,
    ) -> S3Store:
        server.use_credentials(monkeypatch, tmp_path, secret_key=secret_key)
        bucket = bucket or server.new_bucket()
        store = open_s3_store(load_settings(data_dir=tmp_path, **server.settings(bucket)))
        assert isinstance(store, S3Store)
        if options:
            store = S3Store(store._client, bucket, "exports", probe=store._probe, **options)
        return store

    return make


def new_key(name: str = "event_000") -> str:
    return f"{uuid.uuid4()}/{name}"


def put(store: S3Store, key: str, data: bytes) -> None:
    writer = store.stage(key)
    writer.write(data)
    writer.commit()


def fetch(server: S3Server, store: S3Store, key: str) -> Any:
    return server.client().get_object(Bucket=store.bucket, Key=store.object_key(key))


def capture_logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    captured = LogCapture()
    monkeypatch.setattr(s3, "log", structlog.wrap_logger(None, processors=[captured]))
    return captured


@pytest.mark.parametrize("server", MULTIPART, indirect=True)
def test_multipart_upload_streams_parts_and_is_invisible_until_commit(
    server: S3Server, store_on: StoreOn
) -> None:
    store = store_on(server, part_size=5 * MiB)
    key = new_key()
    writer = store.stage(key)
    digest = hashlib.sha256()
    for n in range(12):
        block = bytes([n]) * MiB
        writer.write(block)
        digest.update(block)
    assert server.keys_under(store.bucket, store.object_key(key)) == []
    # Two full 5 MiB parts are already in S3; only the last 2 MiB wait in memory.
    client = server.client()
    [upload] = client.list_multipart_uploads(Bucket=store.bucket)["Uploads"]
    listed = client.list_parts(Bucket=store.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    assert [part["Size"] for part in listed["Parts"]] == [5 * MiB, 5 * MiB]
    stored = writer.commit()
    assert (stored.key, stored.size, stored.sha256) == (key, 12 * MiB, digest.hexdigest())
    body = fetch(server, store, key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == stored.sha256


@pytest.mark.parametrize("server", MULTIPART, indirect=True)
def test_an_aborted_writer_leaves_no_object_and_no_upload(
    server: S3Server, store_on: StoreOn
) -> None:
    store = store_on(server, part_size=5 * MiB)
    for size in (100, 6 * MiB):  # a single-PUT object and a multipart one
        writer = store.stage(new_key())
        writer.write(b"x" * size)
        writer.abort()
        assert server.keys_under(store.bucket, "exports/") == []
    uploads = server.client().list_multipart_uploads(Bucket=store.bucket)
    assert uploads.get("Uploads", []) == []


@pytest.mark.parametrize("server", ALL, indirect=True)
def test_delete_prefix_removes_only_that_snapshot(server: S3Server, store_on: StoreOn) -> None:
    store = store_on(server)
    first, second = uuid.uuid4(), uuid.uuid4()
    for sid in (first, second):
        for n in range(3):
            put(store, f"{sid}/event_{n:03d}", b"id\n1\n")
    store.delete_prefix(str(first))
    assert server.keys_under(store.bucket, f"exports/{first}/") == []
    assert len(server.keys_under(store.bucket, f"exports/{second}/")) == 3


def count_requests(store: S3Store) -> list[str]:
    """The names of the S3 operations `store` sends from now on, in order."""
    sent: list[str] = []
    store._client.meta.events.register(
        "before-call.s3.*", lambda model, **_: sent.append(model.name)
    )
    return sent


@pytest.mark.parametrize("server", ALL, indirect=True)
def test_delete_prefixes_removes_many_snapshots_with_one_delete_request(
    server: S3Server, store_on: StoreOn
) -> None:
    store = store_on(server)
    doomed, kept = [uuid.uuid4() for _ in range(5)], uuid.uuid4()
    for sid in [*doomed, kept]:
        for n in range(3):
            put(store, f"{sid}/event_{n:03d}", b"id\n1\n")
    sent = count_requests(store)
    store.delete_prefixes([str(sid) for sid in doomed])
    for sid in doomed:
        assert server.keys_under(store.bucket, f"exports/{sid}/") == []
    assert len(server.keys_under(store.bucket, f"exports/{kept}/")) == 3
    # 15 objects of 5 snapshots: one listing each, then a single DeleteObjects.
    assert sent.count("ListObjectsV2") == 5
    assert sent.count("DeleteObjects") == 1
    assert sent.count("ListMultipartUploads") <= 1


@pytest.mark.parametrize("server", MULTIPART, indirect=True)
def test_delete_prefixes_aborts_the_unfinished_uploads_of_those_snapshots_only(
    server: S3Server, store_on: StoreOn
) -> None:
    store = store_on(server, part_size=5 * MiB)
    doomed, kept = [uuid.uuid4(), uuid.uuid4()], uuid.uuid4()
    writers = []
    for sid in [*doomed, kept]:
        writer = store.stage(f"{sid}/event_p1_0_0")
        writer.write(b"x" * 6 * MiB)  # one part sent: an upload in progress
        writers.append(writer)
    store.delete_prefixes([str(sid) for sid in doomed])
    uploads = server.client().list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert [upload["Key"] for upload in uploads] == [store.object_key(f"{kept}/event_p1_0_0")]
    writers[-1].abort()


@pytest.mark.parametrize("server", ["s3rver"], indirect=True)
def test_clean_up_a_server_cannot_do_is_skipped_and_said_once(
    server: S3Server, store_on: StoreOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = capture_logs(monkeypatch)
    store = store_on(server)
    sid = uuid.uuid4()
    put(store, f"{sid}/event_000", b"id\n1\n")
    store.discard_unfinished(str(sid))  # s3rver answers ListMultipartUploads 501
    store.delete_prefix(str(sid))
    assert server.keys_under(store.bucket, f"exports/{sid}/") == []
    [said] = [e for e in logs.entries if e["event"] == "storage.operation_unsupported"]
    assert said["operation"] == "ListMultipartUploads"
    assert "lifecycle rule" in said["skipped"]
    assert "NotImplemented" in said["reason"]


@pytest.mark.parametrize("server", ALL, indirect=True)
def test_rename_moves_the_object_and_names_it_for_its_new_key(
    server: S3Server, store_on: StoreOn
) -> None:
    store = store_on(server)
    source, target = new_key("event_000"), new_key("event_000.csv.gz")
    put(store, source, b"new bytes")
    put(store, target, b"what was there before")
    store.rename(source, target)
    assert server.keys_under(store.bucket, store.object_key(source)) == []
    moved = fetch(server, store, target)
    assert moved["Body"].read() == b"new bytes"
    assert moved["ContentType"] == "application/gzip"
    assert moved["ContentDisposition"] == 'attachment; filename="event_000.csv.gz"'
    link = store.signed_url(
        target, expires_at=datetime.now(UTC) + timedelta(minutes=5), base_url=""
    )
    answer = httpx.get(link)
    assert answer.status_code == 200, answer.text
    assert answer.content == b"new bytes"


@pytest.mark.parametrize("server", MULTIPART, indirect=True)
def test_rename_copies_a_large_object_in_parts(server: S3Server, store_on: StoreOn) -> None:
    # The limits are scaled down: the same code copies a 12 GiB part in 512 MiB pieces.
    store = store_on(server, part_size=5 * MiB, copy_limit=6 * MiB, copy_part_size=5 * MiB)
    source, target = new_key("event_000"), new_key("event_001")
    data = b"".join(bytes([n]) * MiB for n in range(12))
    put(store, source, data)
    store.rename(source, target)
    moved = fetch(server, store, target)
    assert hashlib.sha256(moved["Body"].read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert moved["ETag"].strip('"').endswith("-3")  # three UploadPartCopy pieces
    assert moved["ContentType"] == "text/csv"
    assert moved["ContentDisposition"] == 'attachment; filename="event_001.csv"'
    assert server.keys_under(store.bucket, store.object_key(source)) == []
    assert server.client().list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


@pytest.mark.parametrize("server", ALL, indirect=True)
def test_rename_of_a_missing_object_names_the_operation(
    server: S3Server, store_on: StoreOn
) -> None:
    store = store_on(server)
    with pytest.raises(OSError, match=r"S3 HeadObject of s3://.*/event_000 failed: (404|NoSuch)"):
        store.rename(new_key(), new_key("event_001"))
    key = new_key()
    put(store, key, b"stays")
    store.rename(key, key)
    assert fetch(server, store, key)["Body"].read() == b"stays"


@pytest.mark.parametrize("server", MULTIPART, indirect=True)
def test_failures_name_the_operation_that_failed(server: S3Server, store_on: StoreOn) -> None:
    store = store_on(server, part_size=5 * MiB)
    gone = S3Store(store._client, f"missing-{uuid.uuid4().hex[:8]}", "exports", part_size=5 * MiB)
    writer = gone.stage(new_key())
    writer.write(b"id\n")
    with pytest.raises(OSError, match=r"S3 PutObject of s3://missing-.* failed: NoSuchBucket"):
        writer.commit()
    with pytest.raises(OSError, match=r"S3 CreateMultipartUpload of .* failed: NoSuchBucket"):
        gone.stage(new_key()).write(b"x" * 5 * MiB)
    # An upload that disappears under the writer (aborted by someone else): UploadPart.
    writer = store.stage(new_key())
    writer.write(b"x" * 5 * MiB)
    [upload] = server.client().list_multipart_uploads(Bucket=store.bucket)["Uploads"]
    server.client().abort_multipart_upload(
        Bucket=store.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
    )
    # SeaweedFS answers NoSuchUpload; moto fails with a 500.
    with pytest.raises(OSError, match=r"S3 UploadPart of s3://.*/event_000 failed: "):
        writer.write(b"y" * 5 * MiB)


@pytest.mark.parametrize("server", ALL, indirect=True)
def test_check_passes_on_a_usable_bucket_and_says_what_is_wrong(
    server: S3Server, store_on: StoreOn
) -> None:
    store_on(server).check()
    missing = store_on(server, bucket=f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageUnavailable, match="does not exist") as caught:
        missing.check()
    assert caught.value.hint is not None
    assert "create the bucket" in caught.value.hint


@pytest.mark.parametrize("server", ["seaweedfs"], indirect=True)
def test_check_says_when_the_credentials_are_refused(server: S3Server, store_on: StoreOn) -> None:
    bucket = server.new_bucket()
    refused = store_on(server, bucket=bucket, secret_key="not-the-secret")
    with pytest.raises(StorageUnavailable, match="refused pond's credentials") as caught:
        refused.check()
    assert caught.value.hint is not None
    assert "AWS_SECRET_ACCESS_KEY" in caught.value.hint
    store_on(server, bucket=bucket).check()


def test_check_says_when_the_endpoint_cannot_be_reached(store_on: StoreOn) -> None:
    nowhere = S3Server("nowhere", f"http://127.0.0.1:{free_port()}", "k", "s")
    store = store_on(nowhere, bucket="pond-exports")
    with pytest.raises(StorageUnavailable, match="cannot reach S3 bucket pond-exports") as caught:
        store.check()
    assert caught.value.hint is not None
    assert "POND_S3_ENDPOINT_URL" in caught.value.hint

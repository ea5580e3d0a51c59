"""pond on S3 storage (moto on loopback): exports, links and retention through the API.

moto speaks S3's HTTP but checks no signature or expiry: the whole flow on
servers that check them is in tests/integration/test_s3_flow.py, the store on
each server in tests/integration/test_s3_store.py, and the SigV4 signing itself,
with no server, in tests/unit/test_s3_signing.py.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pond.downloads.signing import LinkSigner
from pond.events import seeding
from pond.exports import coordinator
from pond.jobs.runtime import JobRuntime
from pond.jobs.tasks import expire_snapshots
from pond.snapshots.dates import parse_instant
from pond.storage.local import LocalStore
from pond.storage.s3 import S3Store
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, schedule, wait_done
from tests.integration.s3_servers import S3Server

Creds = Callable[[str], tuple[str, str]]
MiB = 1 << 20


@pytest.fixture
def s3_endpoint(moto_s3: S3Server) -> str:
    return moto_s3.endpoint


@pytest.fixture
def bucket(moto_s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket; the AWS variables point the default credential chain at test keys."""
    moto_s3.use_credentials(monkeypatch, tmp_path)
    return moto_s3.new_bucket()


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
    moto_s3: S3Server,
    bucket: str,
) -> None:
    server = s3_server(start_server, moto_s3.endpoint, bucket)
    body = complete_snapshot(server, client_credentials, rows=20)
    sid = str(body["href"]).rsplit("/", 1)[1]
    assert moto_s3.keys_under(bucket, f"exports/{sid}/") == [f"exports/{sid}/event_000"]
    [item] = body["items"]
    with psycopg.connect(server.conninfo) as conn:
        conn.execute(
            "UPDATE snapshots SET expires_at = now() - interval '1 second' WHERE id = %s", (sid,)
        )
    store = server.app.state.pond.store
    assert isinstance(store, S3Store)
    asyncio.run(
        expire_snapshots(server.conninfo, JobRuntime(server.settings, server.conninfo, store))
    )
    assert moto_s3.keys_under(bucket, f"exports/{sid}/") == []
    # S3 answers 403 rather than 404 for a missing key when it cannot tell the
    # caller whether the key exists.
    assert httpx.get(item["href"]).status_code in (403, 404)

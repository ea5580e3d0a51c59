"""Export options on create over real HTTP: columns, gzip, format; the default unchanged."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pond.entities import EVENT
from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer
from tests.integration.client.fixtures import Setup, acme, make_setup, run_pond
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

__all__ = ["acme", "make_setup"]  # the client's fixtures, used by the CLI and SDK tests

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]


@pytest.fixture
def acme_token(
    pond_server: RunningServer, conninfo: str, client_credentials: Creds, get_token: Token
) -> str:
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(conninfo, org="acme", start=start, end=end, count=2500)
    return get_token(*client_credentials("acme"))


def complete(pond_server: RunningServer, token: str, **params: Any) -> dict[str, Any]:
    answer = schedule(pond_server.base_url, token, **params)
    assert answer.status_code == 202, answer.text
    return wait_done(answer.json()["snapshot"]["href"], token)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_columns_pick_and_order_the_exported_columns(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token, columns="value,id,country")
    assert answer.status_code == 202
    item = answer.json()["snapshot"]["items"][0]
    assert list(item) == ["href", "size", "count", "state", "query"]
    assert item["query"]["columns"] == ["value", "id", "country"]
    body = wait_done(answer.json()["snapshot"]["href"], acme_token)
    (part,) = body["items"]
    assert part["query"]["columns"] == ["value", "id", "country"]
    assert part["href"].split("?")[0].endswith("/event_000")
    rows = rows_of(httpx.get(part["href"]).text)
    assert rows[0] == ["value", "id", "country"]
    assert len(rows) - 1 == part["count"] == 2500
    assert all(len(row) == 3 for row in rows)


@pytest.mark.parametrize(
    ("columns", "named"),
    [("id,nope", "'nope'"), ("id,id", "'id'"), ("id,,value", "''")],
)
def test_bad_columns_are_a_400_naming_them(
    pond_server: RunningServer, acme_token: str, columns: str, named: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token, columns=columns)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert named in body["error_description"]
    if "nope" in columns:
        assert ", ".join(EVENT.columns) in body["error_description"]


def test_gzip_parts_are_csv_gz_objects_counted_and_hashed(
    pond_server: RunningServer, acme_token: str
) -> None:
    plain = complete(pond_server, acme_token)["items"][0]
    answer = schedule(pond_server.base_url, acme_token, compression="gzip")
    assert answer.json()["snapshot"]["items"][0]["query"]["compression"] == "gzip"
    href = answer.json()["snapshot"]["href"]
    body = wait_done(href, acme_token)
    (part,) = body["items"]
    assert part["href"].split("?")[0].endswith("/event_000.csv.gz")
    download = httpx.get(part["href"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    assert 'filename="event_000.csv.gz"' in download.headers["content-disposition"]
    assert "content-encoding" not in download.headers
    assert part["size"] == len(download.content) < plain["size"]
    text = gzip.decompress(download.content).decode()
    assert text == httpx.get(plain["href"]).text
    assert part["count"] == len(rows_of(text)) - 1 == plain["count"]
    details = httpx.get(f"{href}?details=true", headers=bearer(acme_token)).json()
    assert details["items"][0]["sha256"] == hashlib.sha256(download.content).hexdigest()


def test_gzip_and_columns_together_in_several_parts(
    start_server: Callable[..., RunningServer],
    conninfo: str,
    client_credentials: Creds,
) -> None:
    server = start_server(part_max_rows=400)
    seeding.seed(
        conninfo, org="acme", start=parse_instant("f", FROM), end=parse_instant("t", TO), count=1000
    )
    token = httpx.post(
        server.token_url, auth=client_credentials("acme"), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    body = complete(server, token, compression="gzip", columns="id,created_at")
    assert [i["href"].split("?")[0].rsplit("/", 1)[1] for i in body["items"]] == [
        "event_000.csv.gz",
        "event_001.csv.gz",
        "event_002.csv.gz",
    ]
    ids = []
    for item in body["items"]:
        rows = rows_of(gzip.decompress(httpx.get(item["href"]).content).decode())
        assert rows[0] == ["id", "created_at"]
        assert item["count"] == len(rows) - 1
        ids += [row[0] for row in rows[1:]]
    assert len(ids) == len(set(ids)) == 1000


@pytest.mark.parametrize(("field", "value"), [("format", "xlsx"), ("compression", "brotli")])
def test_unsupported_format_or_compression_says_what_exists(
    pond_server: RunningServer, acme_token: str, field: str, value: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token, **{field: value})
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_request"
    assert value in body["error_description"]
    assert ("csv" if field == "format" else "gzip") in body["error_description"]


def test_format_csv_is_the_documented_answer_exactly(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token, format="csv")
    assert answer.status_code == 202
    assert answer.json()["snapshot"]["items"][0]["query"] == {
        "entity": "event",
        "created_at": [FROM, TO],
    }
    (part,) = wait_done(answer.json()["snapshot"]["href"], acme_token)["items"]
    assert list(part) == ["href", "size", "count", "state", "query"]
    assert part["href"].split("?")[0].endswith("/event_000")
    assert rows_of(httpx.get(part["href"]).text)[0] == list(EVENT.columns)


def test_json_columns_as_a_list_and_idempotency_sees_the_options(
    pond_server: RunningServer, acme_token: str
) -> None:
    url = f"{pond_server.base_url}/insights/snapshots"
    base = {"created_at_from": FROM, "created_at_to": TO}
    headers = {**bearer(acme_token), "Idempotency-Key": "opts-1"}
    first = httpx.post(url, headers=headers, json={**base, "columns": ["id", "value"]})
    again = httpx.post(url, headers=headers, data={**base, "columns": "id, value"})
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    other = httpx.post(url, headers=headers, json={**base, "columns": ["id"]})
    assert other.status_code == 409
    gz = httpx.post(
        url, headers=headers, json={**base, "columns": "id,value", "compression": "gzip"}
    )
    assert gz.status_code == 409


RANGE = ("--from", FROM, "--to", TO)


def test_pond_export_gzip_columns_keeps_gz_names_and_merges_plain(
    acme: Setup, tmp_path: Path
) -> None:
    acme.seed(2500)
    env = acme.env(tmp_path)
    out, merged = tmp_path / "out", tmp_path / "all.csv"
    args = ("--gzip", "--columns", "id, country", "--merge", str(merged), "--json")
    done = run_pond("export", *RANGE, "--out", str(out), *args, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 2500
    files = [Path(f) for f in result["files"]]
    assert [f.name for f in files] == ["event_000.csv.gz", "event_001.csv.gz", "event_002.csv.gz"]
    ids = []
    for path in files:
        rows = rows_of(gzip.decompress(path.read_bytes()).decode())
        assert rows[0] == ["id", "country"]
        ids += [int(row[0]) for row in rows[1:]]
    assert sorted(ids) == list(range(1, 2501))
    merged_rows = rows_of(merged.read_text())
    assert merged_rows[0] == ["id", "country"]
    assert len(merged_rows) == 2501
    again = run_pond("export", *RANGE, "--out", str(out), *args, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["snapshot"] == result["snapshot"]


def test_pond_snapshot_create_passes_the_options_and_refusals_reach_the_user(
    acme: Setup, tmp_path: Path
) -> None:
    env = acme.env(tmp_path)
    done = run_pond(
        "snapshot", "create", *RANGE, "--gzip", "--columns", "id,value", "--json", env=env
    )
    assert done.returncode == 0, done.stderr
    query = json.loads(done.stdout)["items"][0]["query"]
    assert query["columns"] == ["id", "value"]
    assert query["compression"] == "gzip"
    bad = run_pond("snapshot", "create", *RANGE, "--columns", "id,colour", env=env)
    assert bad.returncode != 0
    assert "colour" in bad.stderr
    assert "event_type" in bad.stderr


def test_sdk_download_verifies_gzip_parts_and_reads_their_rows(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1500)
    with acme.client() as client:
        snapshot = client.create(FROM, TO, compression="gzip", columns="id,event_type")
        snapshot = client.wait(snapshot)
        download = client.download(snapshot, tmp_path / "parts")
    assert [f.name for f in download.files] == ["event_000.csv.gz", "event_001.csv.gz"]
    rows = list(download.iter_rows())
    assert len(rows) == 1500
    assert list(rows[0]) == ["id", "event_type"]

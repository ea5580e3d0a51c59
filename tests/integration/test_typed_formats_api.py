"""Parquet and JSON Lines over real HTTP: asking for them, their links, and what details show."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Callable

import httpx
import pyarrow.parquet as pq
import pytest

from pond.entities import EVENT
from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]
DOCUMENTED = ["href", "size", "count", "state", "query"]


@pytest.fixture
def acme_token(
    pond_server: RunningServer, conninfo: str, client_credentials: Creds, get_token: Token
) -> str:
    start, end = parse_instant("f", FROM), parse_instant("t", TO)
    seeding.seed(conninfo, org="acme", start=start, end=end, count=1200)
    return get_token(*client_credentials("acme"))


def test_parquet_parts_download_as_parquet_and_details_type_their_columns(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token, format="parquet")
    assert answer.status_code == 202, answer.text
    query = answer.json()["snapshot"]["items"][0]["query"]
    assert query == {"entity": "event", "created_at": [FROM, TO], "format": "parquet"}
    href = answer.json()["snapshot"]["href"]
    (part,) = wait_done(href, acme_token)["items"]
    assert list(part) == DOCUMENTED
    assert httpx.URL(part["href"]).path.endswith("/event_000.parquet")
    download = httpx.get(part["href"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/vnd.apache.parquet"
    assert 'filename="event_000.parquet"' in download.headers["content-disposition"]
    table = pq.read_table(io.BytesIO(download.content))
    assert table.num_rows == part["count"] == 1200
    assert part["size"] == len(download.content)

    (detailed,) = httpx.get(f"{href}?details=true", headers=bearer(acme_token)).json()["items"]
    assert detailed["sha256"] == hashlib.sha256(download.content).hexdigest()
    assert detailed["format"] == "parquet"
    assert [c["name"] for c in detailed["columns"]] == list(EVENT.columns)
    assert [c["type"] for c in detailed["columns"]] == [str(f.type) for f in table.schema]
    assert [c["db_type"] for c in detailed["columns"]] == list(EVENT.db_types)
    listed = httpx.get(f"{pond_server.base_url}/insights/snapshots", headers=bearer(acme_token))
    assert listed.json()["items"][0]["items"][0]["columns"] == detailed["columns"]


def test_ndjson_gzip_from_a_json_body_with_chosen_columns(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = httpx.post(
        f"{pond_server.base_url}/insights/snapshots",
        headers=bearer(acme_token),
        json={
            "created_at_from": FROM,
            "created_at_to": TO,
            "format": "ndjson",
            "compression": "gzip",
            "columns": ["id", "value"],
        },
    )
    assert answer.status_code == 202, answer.text
    href = answer.json()["snapshot"]["href"]
    (part,) = wait_done(href, acme_token)["items"]
    assert part["query"]["format"] == "ndjson"
    assert part["query"]["compression"] == "gzip"
    assert httpx.URL(part["href"]).path.endswith("/event_000.ndjson.gz")
    download = httpx.get(part["href"])
    assert download.headers["content-type"] == "application/gzip"
    lines = gzip.decompress(download.content).decode().splitlines()
    assert len(lines) == part["count"] == 1200
    assert list(json.loads(lines[0])) == ["id", "value"]
    (detailed,) = httpx.get(f"{href}?details=true", headers=bearer(acme_token)).json()["items"]
    assert detailed["columns"] == [
        {"name": "id", "type": "int64", "db_type": "bigint"},
        {"name": "value", "type": "decimal128(14, 4)", "db_type": "numeric(14,4)"},
    ]


def test_plain_ndjson_is_served_as_json_lines(pond_server: RunningServer, acme_token: str) -> None:
    answer = schedule(pond_server.base_url, acme_token, format="ndjson")
    (part,) = wait_done(answer.json()["snapshot"]["href"], acme_token)["items"]
    download = httpx.get(part["href"])
    assert download.headers["content-type"] == "application/x-ndjson"
    assert 'filename="event_000.ndjson"' in download.headers["content-disposition"]
    assert download.text.count("\n") == part["count"]


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"format": "parquet", "compression": "gzip"}, "zstd, snappy, none"),
        ({"compression": "zstd"}, "for csv, compression must be one of: gzip"),
    ],
)
def test_a_compression_the_format_does_not_take_is_a_400(
    pond_server: RunningServer, acme_token: str, params: dict[str, str], says: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token, **params)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert says in answer.json()["error_description"]

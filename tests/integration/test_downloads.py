"""Signed links: plain GETs with Range and ETag; expired or altered links get 403."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]


def completed_links(server: RunningServer, creds: Creds, rows: int = 200) -> list[str]:
    client_id, secret = creds("acme")
    token = httpx.post(
        server.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    seeding.seed(
        server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=rows,
    )
    href = schedule(server.base_url, token).json()["snapshot"]["href"]
    return [item["href"] for item in wait_done(href, token)["items"]]


def with_query(link: str, **changes: str) -> str:
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_download_headers_and_ranges(pond_server: RunningServer, client_credentials: Creds) -> None:
    [link] = completed_links(pond_server, client_credentials)
    whole = httpx.get(link)
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("text/csv")
    assert whole.headers["content-length"] == str(len(whole.content))
    assert 'filename="event_000.csv"' in whole.headers["content-disposition"]
    etag = whole.headers["etag"]

    part = httpx.get(link, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"

    resumed = httpx.get(link, headers={"Range": "bytes=500-", "If-Range": etag})
    assert resumed.status_code == 206
    assert resumed.content == whole.content[500:]

    changed = httpx.get(link, headers={"Range": "bytes=500-", "If-Range": '"other"'})
    assert changed.status_code == 200
    assert changed.content == whole.content

    beyond = httpx.get(link, headers={"Range": f"bytes={len(whole.content) + 10}-"})
    assert beyond.status_code == 416

    head = httpx.head(link)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(whole.content))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda link: with_query(link, Expires=str(int(time.time()) + 999_999)),
        lambda link: with_query(link, Signature="A" * 43),
        lambda link: with_query(link, KeyId="other"),
        lambda link: link.replace("event_000", "event_001"),
        lambda link: link.split("?")[0],
    ],
    ids=["expiry", "signature", "key", "path", "no-query"],
)
def test_altered_links_are_refused_like_s3(
    pond_server: RunningServer, client_credentials: Creds, tamper: Callable[[str], str]
) -> None:
    [link] = completed_links(pond_server, client_credentials, rows=5)
    answer = httpx.get(tamper(link))
    assert answer.status_code == 403
    assert "<Code>AccessDenied</Code>" in answer.text


def test_another_snapshots_signature_does_not_open_this_one(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    [first] = completed_links(pond_server, client_credentials, rows=5)
    [second] = completed_links(pond_server, client_credentials, rows=5)
    other_id = urlsplit(second).path.split("/")[2]
    borrowed = first.replace(urlsplit(first).path.split("/")[2], other_id)
    assert httpx.get(borrowed).status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/objects/../../etc/passwd", "/objects/%2e%2e/%2e%2e/etc/passwd", "/objects/x/..%2Fpg"],
)
def test_paths_outside_the_store_are_refused(pond_server: RunningServer, path: str) -> None:
    answer = httpx.get(f"{pond_server.base_url}{path}?KeyId=a&Expires=9999999999&Signature=x")
    assert answer.status_code in (403, 404)
    assert "root:" not in answer.text


def test_links_expire(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server = start_server(link_ttl=2)
    [link] = completed_links(server, client_credentials, rows=5)
    assert httpx.get(link).status_code == 200
    time.sleep(3.1)
    answer = httpx.get(link)
    assert answer.status_code == 403
    assert "expired" in answer.text

"""POST /insights/events: a client loads its own events as CSV or NDJSON, all or nothing."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import psycopg
import pytest

from tests.conftest import RunningServer
from tests.integration.helpers import bearer, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]


def events_of(conninfo: str, org: str) -> list[tuple[str, str]]:
    with psycopg.connect(conninfo) as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                "SELECT e.event_type, coalesce(e.actor_id, '') FROM events e"
                " JOIN organisations o ON o.id = e.org_id WHERE o.slug = %s ORDER BY e.id",
                (org,),
            )
        ]


@pytest.fixture
def acme(pond_server: RunningServer, client_credentials: Creds, get_token: Token) -> str:
    return get_token(*client_credentials("acme"))


def post(server: RunningServer, token: str, body: bytes, content_type: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/insights/events",
        headers={**bearer(token), "Content-Type": content_type},
        content=body,
    )


def test_csv_batch_lands_in_the_callers_organisation_and_exports(
    pond_server: RunningServer, acme: str
) -> None:
    body = (
        b"created_at,event_type,actor_id,value,properties\n"
        b'2019-03-14T10:00:00Z,purchase,u1,12.5,"{""sku"": ""A1""}"\n'
        b"2019-03-15T10:00:00+02:00,click,u2,,{}\n"
    )
    answer = post(pond_server, acme, body, "text/csv")
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"result": "OK", "count": 2}
    assert events_of(pond_server.conninfo, "acme") == [("purchase", "u1"), ("click", "u2")]
    href = schedule(pond_server.base_url, acme).json()["snapshot"]["href"]
    [item] = wait_done(href, acme)["items"]
    assert item["count"] == 2
    assert "2019-03-15 08:00:00+00" in httpx.get(item["href"]).text


def test_ndjson_batch_is_checked_line_by_line(pond_server: RunningServer, acme: str) -> None:
    lines = [
        {"created_at": "2019-03-14T10:00:00Z", "event_type": "login", "properties": {"a": 1}},
        {"created_at": "2019-03-14T11:00:00Z", "event_type": "logout", "actor_id": "u9"},
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    answer = post(pond_server, acme, body, "application/x-ndjson")
    assert answer.status_code == 201, answer.text
    assert answer.json()["count"] == 2
    assert events_of(pond_server.conninfo, "acme") == [("login", ""), ("logout", "u9")]


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"created_at,event_type\n2019-03-14T10:00:00Z,a\nnot-a-date,b\n", "text/csv", "line 3"),
        (b"created_at,colour\n2019-03-14T10:00:00Z,red\n", "text/csv", "unknown column 'colour'"),
        (
            b'{"created_at": "2019-03-14T10:00:00Z", "event_type": "a"}\n'
            b'{"created_at": "2019-03-14T10:00:00", "event_type": "b"}\n',
            "application/x-ndjson",
            "line 2",
        ),
        (b'{"event_type": "a"}\n', "application/x-ndjson", "created_at is required"),
        (b"[1, 2]\n", "application/x-ndjson", "one JSON object"),
    ],
    ids=["bad-date", "unknown-column", "naive-time", "missing", "not-object"],
)
def test_a_bad_batch_is_refused_whole_and_says_where(
    pond_server: RunningServer, acme: str, body: bytes, content_type: str, words: str
) -> None:
    answer = post(pond_server, acme, body, content_type)
    assert answer.status_code == 400
    assert words in answer.json()["error_description"]
    assert events_of(pond_server.conninfo, "acme") == []


def test_another_type_of_body_is_415_and_names_the_ones_read(
    pond_server: RunningServer, acme: str
) -> None:
    answer = post(pond_server, acme, b"hello", "text/plain")
    assert answer.status_code == 415
    assert answer.json()["error"] == "unsupported_media_type"
    assert "text/csv" in answer.json()["error_description"]


def test_oversized_bodies_are_refused_before_reading(pond_server: RunningServer, acme: str) -> None:
    header = b"created_at,event_type\n"
    answer = post(pond_server, acme, header + b"x" * (11 * 1024 * 1024), "text/csv")
    assert answer.status_code == 413
    assert answer.json()["error"] == "request_too_large"


def test_events_need_a_token(pond_server: RunningServer) -> None:
    answer = httpx.post(
        f"{pond_server.base_url}/insights/events",
        headers={"Content-Type": "text/csv"},
        content=b"created_at,event_type\n",
    )
    assert answer.status_code == 401

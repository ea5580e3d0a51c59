"""The snapshots API: the documented answers, validation, tenant isolation, retention."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule, token_for, wait_done

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]


def seed(conninfo: str, org: str, count: int, start: str = FROM, end: str = TO) -> None:
    seeding.seed(
        conninfo, org=org, start=parse_instant("f", start), end=parse_instant("t", end), count=count
    )


def snapshot_count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM snapshots").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def acme_token(pond_server: RunningServer, client_credentials: Creds, get_token: Token) -> str:
    return get_token(*client_credentials("acme"))


def test_schedule_answers_202_with_the_documented_body(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = schedule(pond_server.base_url, acme_token)
    assert answer.status_code == 202
    body = answer.json()
    assert list(body) == ["result", "snapshot"]
    assert body["result"] == "OK"
    snapshot = body["snapshot"]
    assert list(snapshot) == ["href", "items"]
    assert snapshot["href"].startswith(f"{pond_server.base_url}/insights/snapshots/")
    assert snapshot["items"] == [
        {
            "href": None,
            "size": None,
            "count": None,
            "state": "pending",
            "query": {"entity": "event", "created_at": [FROM, TO]},
        }
    ]


def test_json_body_and_offsets_are_accepted_and_echoed_in_utc(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = httpx.post(
        f"{pond_server.base_url}/insights/snapshots",
        headers=bearer(acme_token),
        json={
            "created_at_from": "2019-03-13T11:00:00-07:00",
            "created_at_to": "2019-03-28T11:00:00.5-07:00",
            "entity": "event",
        },
    )
    assert answer.status_code == 202
    query = answer.json()["snapshot"]["items"][0]["query"]
    assert query["created_at"] == ["2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.500Z"]


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        ({"created_at_to": TO}, "invalid_date_range", "created_at_from is required"),
        (
            {"created_at_from": "2019-03-13T18:00:00", "created_at_to": TO},
            "invalid_date_range",
            "time zone",
        ),
        ({"created_at_from": "yesterday", "created_at_to": TO}, "invalid_date_range", "ISO 8601"),
        ({"created_at_from": TO, "created_at_to": FROM}, "invalid_date_range", "earlier"),
        ({"created_at_from": FROM, "created_at_to": FROM}, "invalid_date_range", "earlier"),
        (
            {"created_at_from": FROM, "created_at_to": TO, "entity": "users"},
            "unknown_entity",
            "event",
        ),
    ],
    ids=["missing", "naive", "garbage", "reversed", "empty", "entity"],
)
def test_invalid_requests_get_400_and_create_nothing(
    pond_server: RunningServer, acme_token: str, data: dict[str, str], code: str, words: str
) -> None:
    answer = httpx.post(
        f"{pond_server.base_url}/insights/snapshots", headers=bearer(acme_token), data=data
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == code
    assert words in body["error_description"]
    assert snapshot_count(pond_server.conninfo) == 0


def test_body_without_content_type_is_refused_with_a_hint(
    pond_server: RunningServer, acme_token: str
) -> None:
    answer = httpx.post(
        f"{pond_server.base_url}/insights/snapshots",
        headers=bearer(acme_token),
        content=f"created_at_from={FROM}&created_at_to={TO}".encode(),
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "missing_content_type"
    assert "Content-Type" in body["error_description"]
    assert snapshot_count(pond_server.conninfo) == 0


def test_every_api_error_has_one_json_shape(pond_server: RunningServer, acme_token: str) -> None:
    answers = [
        httpx.get(f"{pond_server.base_url}/insights/snapshots/nope", headers=bearer(acme_token)),
        httpx.get(f"{pond_server.base_url}/no/such/route"),
        httpx.delete(f"{pond_server.base_url}/oauth2/token"),
        httpx.post(f"{pond_server.base_url}/insights/snapshots"),
        httpx.post(f"{pond_server.base_url}/oauth2/token", data={"grant_type": "x"}),
        schedule(pond_server.base_url, acme_token, created_at_from="bad"),
    ]
    for answer in answers:
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert set(body) == {"error", "error_description"}, (answer.status_code, body)
        assert isinstance(body["error"], str)
        assert body["error_description"]
    assert [a.status_code for a in answers] == [404, 404, 405, 401, 400, 400]


def test_snapshot_completes_with_exact_rows_of_the_org_and_range(
    pond_server: RunningServer, acme_token: str
) -> None:
    seed(pond_server.conninfo, "acme", 300)
    seed(pond_server.conninfo, "acme", 50, "2019-04-01T00:00:00Z", "2019-04-02T00:00:00Z")
    seed(pond_server.conninfo, "globex", 70)
    href = schedule(pond_server.base_url, acme_token).json()["snapshot"]["href"]
    body = wait_done(href, acme_token)
    assert body["href"] == href
    [item] = body["items"]
    assert item["state"] == "complete"
    assert item["count"] == 300
    csv_bytes = httpx.get(item["href"]).content
    assert len(csv_bytes) == item["size"]
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    assert len(rows) == 300
    with psycopg.connect(pond_server.conninfo) as conn:
        expected = {
            r[0]
            for r in conn.execute(
                "SELECT e.id FROM events e JOIN organisations o ON o.id = e.org_id"
                " WHERE o.slug = 'acme' AND e.created_at >= %s AND e.created_at < %s",
                (FROM, TO),
            )
        }
    assert {int(r["id"]) for r in rows} == expected


def three_part_snapshot(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> tuple[RunningServer, str, str]:
    """A server with parts of 100 rows, a token of `acme`, and its snapshot of 250 rows."""
    server = start_server(part_max_rows=100)
    token = token_for(server.base_url, client_credentials("acme"))
    seed(server.conninfo, "acme", 250)
    return server, token, schedule(server.base_url, token).json()["snapshot"]["href"]


def test_large_exports_are_split_into_parts_each_with_a_header(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    _, token, href = three_part_snapshot(start_server, client_credentials)
    items = wait_done(href, token)["items"]
    assert [i["count"] for i in items] == [100, 100, 50]
    assert [httpx.URL(i["href"]).path.rsplit("/", 1)[1] for i in items] == [
        "event_000",
        "event_001",
        "event_002",
    ]
    seen: list[str] = []
    for item in items:
        text = httpx.get(item["href"]).text
        lines = list(csv.reader(io.StringIO(text)))
        assert lines[0][:2] == ["id", "created_at"]
        seen += [row[0] for row in lines[1:]]
    assert len(seen) == len(set(seen)) == 250


def test_a_failed_part_is_shown_beside_the_good_ones(
    start_server: Callable[..., RunningServer], client_credentials: Creds
) -> None:
    server, token, href = three_part_snapshot(start_server, client_credentials)
    wait_done(href, token)
    # As the exporter publishes a part that failed every attempt: no object, a reason.
    sid = href.rsplit("/", 1)[1]
    with psycopg.connect(server.conninfo) as conn:
        conn.execute(
            "UPDATE snapshots SET state = 'failed', reason = '1 of 3 parts failed' WHERE id = %s",
            (sid,),
        )
        conn.execute(
            "UPDATE snapshot_parts SET state = 'failed', size = NULL, row_count = NULL,"
            " sha256 = NULL, reason = 'event_001: OSError: disk full'"
            " WHERE snapshot_id = %s AND seq = 1",
            (sid,),
        )
    items = httpx.get(href, headers=bearer(token)).json()["items"]
    assert [i["state"] for i in items] == ["complete", "failed", "complete"]
    assert items[1]["href"] is None
    assert items[1]["reason"] == "event_001: OSError: disk full"
    for item in (items[0], items[2]):
        rows = list(csv.reader(io.StringIO(httpx.get(item["href"]).text)))
        assert len(rows) - 1 == item["count"]
    listed = httpx.get(f"{server.base_url}/insights/snapshots", headers=bearer(token)).json()
    [entry] = [s for s in listed["items"] if s["href"] == href]
    assert [i["state"] for i in entry["items"]] == ["complete", "failed", "complete"]


def test_empty_range_completes_with_a_header_only_part(
    pond_server: RunningServer, acme_token: str
) -> None:
    href = schedule(pond_server.base_url, acme_token).json()["snapshot"]["href"]
    [item] = wait_done(href, acme_token)["items"]
    assert item["count"] == 0
    assert httpx.get(item["href"]).text.startswith("id,created_at,")


def test_other_organisations_snapshots_are_404(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token, acme_token: str
) -> None:
    href = schedule(pond_server.base_url, acme_token).json()["snapshot"]["href"]
    globex = get_token(*client_credentials("globex"))
    foreign = httpx.get(href, headers=bearer(globex))
    unknown = httpx.get(
        f"{pond_server.base_url}/insights/snapshots/00000000-0000-4000-8000-000000000000",
        headers=bearer(globex),
    )
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()
    assert httpx.get(href, headers=bearer(acme_token)).status_code == 200


def test_concurrent_gets_of_two_organisations_each_see_only_their_own(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token, acme_token: str
) -> None:
    """GETs that arrive together share one read of the database: none sees another's rows."""
    globex = get_token(*client_credentials("globex"))
    owned = {
        token: schedule(pond_server.base_url, token).json()["snapshot"]["href"]
        for token in (acme_token, globex)
    }
    asks = [(token, href) for _ in range(10) for token in owned for href in owned.values()]

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(
                *(http.get(href, headers=bearer(token)) for token, href in asks)
            )

    for (token, href), answer in zip(asks, asyncio.run(ask_all()), strict=True):
        if owned[token] == href:
            assert answer.status_code == 200
            assert answer.json()["href"] == href
        else:
            assert answer.status_code == 404


def test_links_are_signed_afresh_on_every_get(pond_server: RunningServer, acme_token: str) -> None:
    href = schedule(pond_server.base_url, acme_token).json()["snapshot"]["href"]
    first = wait_done(href, acme_token)["items"][0]["href"]
    import time

    time.sleep(1.1)
    second = httpx.get(href, headers=bearer(acme_token)).json()["items"][0]["href"]
    assert first != second
    assert httpx.get(first).status_code == httpx.get(second).status_code == 200


def test_expired_snapshot_answers_410_and_its_files_are_deleted(
    pond_server: RunningServer, acme_token: str
) -> None:
    from pond.jobs.runtime import JobRuntime
    from pond.jobs.tasks import expire_snapshots

    seed(pond_server.conninfo, "acme", 20)
    href = schedule(pond_server.base_url, acme_token).json()["snapshot"]["href"]
    link = wait_done(href, acme_token)["items"][0]["href"]
    snapshot_id = href.rsplit("/", 1)[1]
    objects = pond_server.settings.objects_dir / snapshot_id
    assert objects.is_dir()
    with psycopg.connect(pond_server.conninfo) as conn:
        conn.execute(
            "UPDATE snapshots SET expires_at = now() - interval '1 second' WHERE id = %s",
            (snapshot_id,),
        )
    gone = httpx.get(href, headers=bearer(acme_token))
    assert gone.status_code == 410
    assert gone.json()["error"] == "snapshot_expired"
    state: Any = pond_server.app.state.pond
    runtime = JobRuntime(pond_server.settings, pond_server.conninfo, state.store)
    assert asyncio.run(expire_snapshots(pond_server.conninfo, runtime)) == 1
    assert not objects.exists()
    assert httpx.get(href, headers=bearer(acme_token)).status_code == 410
    assert httpx.get(link).status_code in (403, 404)


def test_a_failing_export_ends_failed_with_a_reason(
    pond_server: RunningServer, acme_token: str
) -> None:
    import shutil

    objects = pond_server.settings.objects_dir
    shutil.rmtree(objects)
    objects.write_text("not a directory: every write to the store fails")
    href = schedule(pond_server.base_url, acme_token).json()["snapshot"]["href"]
    [item] = wait_done(href, acme_token, timeout=60)["items"]
    assert item["state"] == "failed"
    assert item["href"] is None
    assert "3 attempts" in item["reason"]


def test_trailing_slashes_answer_without_a_redirect(
    pond_server: RunningServer, acme_token: str
) -> None:
    created = httpx.post(
        f"{pond_server.base_url}/insights/snapshots/",
        headers=bearer(acme_token),
        data={"created_at_from": FROM, "created_at_to": TO},
    )
    assert created.status_code == 202
    href = created.json()["snapshot"]["href"]
    assert httpx.get(f"{href}/", headers=bearer(acme_token)).status_code == 200

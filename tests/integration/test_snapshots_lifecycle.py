"""Listing and deleting snapshots: `GET /insights/snapshots` and `DELETE <href>`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from pond.exports import coordinator, publishing
from pond.exports import repository as exports
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]

LIST = "/insights/snapshots"


def token_at(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def day(n: int) -> tuple[str, str]:
    return f"2019-03-{n:02d}T00:00:00.000Z", f"2019-03-{n + 1:02d}T00:00:00.000Z"


def create(server: RunningServer, token: str, n: int) -> str:
    start, end = day(n)
    answer = schedule(server.base_url, token, created_at_from=start, created_at_to=end)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["snapshot"]["href"])


def job_of(conninfo: str, href: str) -> tuple[str, str, bool]:
    """(snapshot state, job status, abort requested) of a snapshot."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT s.state, j.status::text, j.abort_requested FROM snapshots s"
            " JOIN procrastinate_jobs j ON j.id = s.job_id WHERE s.id = %s",
            (href.rsplit("/", 1)[1],),
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


@pytest.fixture
def idle(start_server: Callable[..., RunningServer]) -> RunningServer:
    """A server whose snapshots stay pending: no worker runs in it."""
    return start_server(run_worker=False)


def test_list_is_newest_first_and_pages_with_an_opaque_cursor(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    hrefs = [create(idle, token, n) for n in range(1, 6)]
    first = httpx.get(f"{idle.base_url}{LIST}?limit=2", headers=bearer(token))
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    body = first.json()
    assert list(body) == ["items", "next"]
    seen = [s["href"] for s in body["items"]]
    pages = 1
    while body["next"]:
        assert "limit=2" in body["next"]
        body = httpx.get(body["next"], headers=bearer(token)).json()
        seen += [s["href"] for s in body["items"]]
        pages += 1
    assert seen == hrefs[::-1]
    assert pages == 3
    every = httpx.get(f"{idle.base_url}{LIST}", headers=bearer(token)).json()
    assert every["next"] is None
    for snapshot in every["items"]:
        assert snapshot == httpx.get(snapshot["href"], headers=bearer(token)).json()


def test_list_items_are_what_get_answers_with_signed_links(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(pond_server, client_credentials("acme"))
    href = schedule(pond_server.base_url, token).json()["snapshot"]["href"]
    shown = wait_done(href, token)
    [listed] = httpx.get(f"{pond_server.base_url}{LIST}", headers=bearer(token)).json()["items"]
    assert listed["href"] == href
    [item] = listed["items"]
    assert list(item)[:5] == ["href", "size", "count", "state", "query"]
    extra = ("href", "expires_at", "sha256", "run", "format", "columns")
    assert {k: v for k, v in item.items() if k not in extra} == {
        k: v for k, v in shown["items"][0].items() if k != "href"
    }
    assert httpx.get(item["href"]).status_code == 200


def test_list_filters_by_state_and_creation_time(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    hrefs = [create(idle, token, n) for n in range(1, 4)]
    with psycopg.connect(idle.conninfo) as conn:
        for n, href in enumerate(hrefs):
            conn.execute(
                "UPDATE snapshots SET created_at = %s WHERE id = %s",
                (f"2026-01-0{n + 1}T12:00:00Z", href.rsplit("/", 1)[1]),
            )
        conn.execute(
            "UPDATE snapshots SET state = 'failed', reason = 'x' WHERE id = %s",
            (hrefs[1].rsplit("/", 1)[1],),
        )

    def listed(query: str) -> list[str]:
        answer = httpx.get(f"{idle.base_url}{LIST}?{query}", headers=bearer(token))
        assert answer.status_code == 200, answer.text
        return [s["href"] for s in answer.json()["items"]]

    assert listed("state=failed") == [hrefs[1]]
    assert listed("state=pending,failed") == hrefs[::-1]
    assert listed("state=complete") == []
    assert listed("created_after=2026-01-02T00:00:00Z") == [hrefs[2], hrefs[1]]
    assert listed("created_before=2026-01-02T12:00:00%2B00:00") == [hrefs[0]]
    assert listed("created_after=2026-01-01T13:00:00Z&created_before=2026-01-03T00:00:00Z") == [
        hrefs[1]
    ]
    page = httpx.get(f"{idle.base_url}{LIST}?state=pending&limit=1", headers=bearer(token))
    assert "state=pending" in page.json()["next"]
    assert listed(page.json()["next"].split("?", 1)[1]) == [hrefs[0]]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("state=done", "state"),
        ("created_after=2026-01-01T00:00:00", "time zone"),
        ("cursor=not-a-cursor", "cursor"),
        ("status=complete", "unknown query parameter"),
    ],
)
def test_bad_list_parameters_are_400_with_the_one_error_shape(
    idle: RunningServer, client_credentials: Creds, query: str, words: str
) -> None:
    token = token_at(idle, client_credentials("acme"))
    answer = httpx.get(f"{idle.base_url}{LIST}?{query}", headers=bearer(token))
    assert answer.status_code == 400
    body = answer.json()
    assert set(body) == {"error", "error_description"}
    assert words in body["error_description"]


def test_list_shows_only_the_callers_organisation_and_needs_a_token(
    idle: RunningServer, client_credentials: Creds
) -> None:
    acme = token_at(idle, client_credentials("acme"))
    globex = token_at(idle, client_credentials("globex"))
    create(idle, acme, 1)
    assert httpx.get(f"{idle.base_url}{LIST}", headers=bearer(globex)).json() == {
        "items": [],
        "next": None,
    }
    assert httpx.get(f"{idle.base_url}{LIST}").status_code == 401


def test_delete_removes_files_and_then_answers_404(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(pond_server, client_credentials("acme"))
    globex = token_at(pond_server, client_credentials("globex"))
    href = schedule(pond_server.base_url, token).json()["snapshot"]["href"]
    link = wait_done(href, token)["items"][0]["href"]
    objects = pond_server.settings.objects_dir / href.rsplit("/", 1)[1]
    assert objects.is_dir()

    foreign = httpx.delete(href, headers=bearer(globex))
    assert foreign.status_code == 404
    assert foreign.json()["error"] == "snapshot_not_found"
    assert httpx.get(href, headers=bearer(token)).status_code == 200

    deleted = httpx.delete(href, headers=bearer(token))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not objects.exists()
    assert httpx.get(link).status_code in (403, 404)
    gone = httpx.get(href, headers=bearer(token))
    assert gone.status_code == 404
    assert gone.json()["error"] == "snapshot_not_found"
    assert httpx.delete(href, headers=bearer(token)).status_code == 404
    assert httpx.get(f"{pond_server.base_url}{LIST}", headers=bearer(token)).json()["items"] == []
    unknown = f"{pond_server.base_url}{LIST}/{uuid.uuid4()}"
    assert httpx.delete(unknown, headers=bearer(token)).status_code == 404
    assert httpx.delete(
        f"{pond_server.base_url}{LIST}/nope", headers=bearer(token)
    ).status_code == (404)


def test_deleting_a_pending_snapshot_cancels_its_job(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = create(idle, token, 1)
    assert job_of(idle.conninfo, href) == ("pending", "todo", False)
    assert httpx.delete(href, headers=bearer(token)).status_code == 204
    assert job_of(idle.conninfo, href) == ("deleted", "cancelled", True)
    state: Any = idle.app.state.pond
    # Even if a worker picked the job up anyway, there is nothing to do.
    sid = uuid.UUID(href.rsplit("/", 1)[1])
    assert not coordinator.run(idle.conninfo, state.store, sid, max_rows=100).published
    assert httpx.get(href, headers=bearer(token)).status_code == 404


def test_a_delete_during_the_export_is_never_undone_by_it(
    idle: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(idle, client_credentials("acme"))
    href = create(idle, token, 1)
    sid = uuid.UUID(href.rsplit("/", 1)[1])
    state: Any = idle.app.state.pond
    with psycopg.connect(idle.conninfo) as conn:
        job = exports.claim(conn, sid)
        assert job is not None
        with psycopg.connect(idle.conninfo) as procrastinate_side:
            procrastinate_side.execute(
                "UPDATE procrastinate_jobs SET status = 'doing' WHERE id ="
                " (SELECT job_id FROM snapshots WHERE id = %s)",
                (sid,),
            )
        assert httpx.delete(href, headers=bearer(token)).status_code == 204
        assert job_of(idle.conninfo, href) == ("deleted", "doing", True)
        # The run lost its snapshot: it publishes nothing, at the end or again later.
        assert coordinator.export(idle.conninfo, conn, state.store, job, max_rows=100) is None
        assert publishing.publish(conn, state.store, job) is None
        exports.fail(conn, sid, "late failure")
    assert job_of(idle.conninfo, href)[0] == "deleted"
    assert httpx.get(href, headers=bearer(token)).status_code == 404
    with psycopg.connect(idle.conninfo) as conn:
        row = conn.execute("SELECT expires_at <= now() FROM snapshots WHERE id = %s", (sid,))
        # Retention sweeps the prefix again: files the export wrote late do not linger.
        assert row.fetchone() == (True,)


def test_seed_answers_are_unchanged_by_the_extensions(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    token = token_at(pond_server, client_credentials("acme"))
    href = schedule(pond_server.base_url, token).json()["snapshot"]["href"]
    body = wait_done(href, token)
    assert list(body) == ["href", "items"]
    [plain] = body["items"]
    assert list(plain) == ["href", "size", "count", "state", "query"]
    detailed = httpx.get(f"{href}?details=true", headers=bearer(token)).json()
    [item] = detailed["items"]
    assert list(item) == [
        *("href", "size", "count", "state", "query"),
        *("expires_at", "sha256", "run", "format", "columns"),
    ]
    assert item["query"] == {"entity": "event", "created_at": [FROM, TO]}
    assert item["format"] == "csv"
    assert item["columns"][1] == {
        "name": "created_at",
        "type": "timestamp[us, tz=UTC]",
        "db_type": "timestamp with time zone",
    }
    assert item["expires_at"].endswith(".000Z")
    expires = httpx.URL(item["href"]).params["Expires"]
    from pond.snapshots.dates import parse_instant

    assert int(parse_instant("expires_at", item["expires_at"]).timestamp()) == int(expires)
    import hashlib

    assert hashlib.sha256(httpx.get(item["href"]).content).hexdigest() == item["sha256"]

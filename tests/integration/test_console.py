"""The web console over real HTTP: sign in, CSRF, create, list, watch, download, delete."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from pond.console import service
from pond.events import seeding
from pond.exports import coordinator
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer

FROM, TO = "2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"


@pytest.fixture
def browser(pond_server: RunningServer) -> Iterator[httpx.Client]:
    """An HTTP client that keeps cookies, like a browser, and does not follow redirects."""
    with httpx.Client(base_url=pond_server.base_url, timeout=30) as client:
        yield client


def csrf(client: httpx.Client) -> str:
    """The CSRF token of this 'browser', fetched from a page if it has none yet."""
    if "pond_csrf" not in client.cookies:
        assert client.get("/console").status_code == 200
    return str(client.cookies["pond_csrf"])


def sign_in(client: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    return client.post(
        "/console/sign-in",
        data={"client_id": client_id, "client_secret": secret, "csrf_token": csrf(client)},
    )


def wait_final(client: httpx.Client, snapshot_id: str, timeout: float = 30) -> str:
    """Long-poll the status fragment, as the page's script does, until the export ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fragment = client.get(f"/console/snapshots/{snapshot_id}/status", params={"wait": "10"})
        assert fragment.status_code == 200, fragment.text
        if re.search(r'data-state="(complete|failed)"', fragment.text):
            return fragment.text
        time.sleep(0.1)
    raise AssertionError("the snapshot did not finish in time")


def snapshot_count(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM snapshots").fetchone()
    assert row is not None
    return int(row[0])


def test_client_walks_the_whole_console(
    pond_server: RunningServer,
    browser: httpx.Client,
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    client_id, secret = client_credentials("acme")
    seeding.seed(
        pond_server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=300,
    )

    page = browser.get("/console")
    assert page.status_code == 200
    assert 'name="client_secret"' in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    signed_in = sign_in(browser, client_id, secret)
    assert signed_in.status_code == 303
    cookie = next(
        v for v in signed_in.headers.get_list("set-cookie") if v.startswith("pond_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback

    listing = browser.get("/console")
    assert "Snapshots of acme" in listing.text
    assert "No snapshots yet" in listing.text

    # The form without JavaScript: local times plus the browser's offset (UTC+1 here).
    created = browser.post(
        "/console/snapshots",
        data={
            "entity": "event",
            "from_local": "2019-03-13T19:00",
            "to_local": "2019-03-28T19:00:00",
            "tz_offset": "60",
            "csrf_token": csrf(browser),
        },
    )
    assert created.status_code == 303, created.text
    snapshot_id = created.headers["location"].rsplit("/", 1)[1]
    with psycopg.connect(pond_server.conninfo) as conn:
        row = conn.execute(
            "SELECT created_at_from, created_at_to FROM snapshots WHERE id = %s", (snapshot_id,)
        ).fetchone()
    assert row == (parse_instant("f", FROM), parse_instant("t", TO))

    detail = browser.get(f"/console/snapshots/{snapshot_id}")
    assert detail.status_code == 200
    assert f'data-poll="/console/snapshots/{snapshot_id}/status"' in detail.text

    fragment = wait_final(browser, snapshot_id)
    assert 'data-state="complete"' in fragment
    [href] = re.findall(r'<a href="([^"]+)" download=', fragment)
    download = httpx.get(href.replace("&amp;", "&"))
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.text)))
    assert len(rows) == 301
    assert "300" in fragment

    listing = browser.get("/console")
    assert f"/console/snapshots/{snapshot_id}" in listing.text
    assert "state-complete" in listing.text

    refused = browser.post(f"/console/snapshots/{snapshot_id}/delete", data={})
    assert refused.status_code == 403
    assert browser.get(f"/console/snapshots/{snapshot_id}").status_code == 200

    deleted = browser.post(
        f"/console/snapshots/{snapshot_id}/delete", data={"csrf_token": csrf(browser)}
    )
    assert deleted.status_code == 303
    assert f"Snapshot {snapshot_id} was deleted" in browser.get(deleted.headers["location"]).text
    assert browser.get(f"/console/snapshots/{snapshot_id}").status_code == 404
    assert httpx.get(href.replace("&amp;", "&")).status_code in (403, 404)
    objects = pond_server.settings.objects_dir / snapshot_id
    assert not objects.exists() or not any(objects.iterdir())

    signed_out = browser.post("/console/sign-out", data={"csrf_token": csrf(browser)})
    assert signed_out.status_code == 303
    assert 'name="client_secret"' in browser.get("/console").text
    assert browser.get(f"/console/snapshots/{snapshot_id}").status_code == 303


def test_wrong_secret_is_refused(
    browser: httpx.Client, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    client_id, _ = client_credentials("acme")
    answer = sign_in(browser, client_id, "not-the-secret")
    assert answer.status_code == 401
    assert "client id or secret is wrong" in answer.text
    assert "pond_console" not in browser.cookies
    assert sign_in(browser, "no-such-client", "x").status_code == 401


def test_forms_without_the_csrf_token_are_refused(
    pond_server: RunningServer,
    browser: httpx.Client,
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    client_id, secret = client_credentials("acme")
    no_token = browser.post(
        "/console/sign-in", data={"client_id": client_id, "client_secret": secret}
    )
    assert no_token.status_code == 403
    assert "security token" in no_token.text
    assert sign_in(browser, client_id, secret).status_code == 303

    form = {"entity": "event", "created_at_from": FROM, "created_at_to": TO}
    forged = browser.post("/console/snapshots", data={**form, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert browser.post("/console/snapshots", data=form).status_code == 403
    assert snapshot_count(pond_server.conninfo) == 0
    assert browser.post("/console/sign-out", data={}).status_code == 403


def test_bad_range_is_explained_and_nothing_is_stored(
    pond_server: RunningServer,
    browser: httpx.Client,
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    assert sign_in(browser, *client_credentials("acme")).status_code == 303
    answer = browser.post(
        "/console/snapshots",
        data={"created_at_from": TO, "created_at_to": FROM, "csrf_token": csrf(browser)},
    )
    assert answer.status_code == 400
    assert "must be earlier than" in answer.text
    assert snapshot_count(pond_server.conninfo) == 0


def test_other_organisations_snapshots_are_not_found(
    browser: httpx.Client, client_credentials: Callable[[str], tuple[str, str]]
) -> None:
    assert sign_in(browser, *client_credentials("acme")).status_code == 303
    created = browser.post(
        "/console/snapshots",
        data={"created_at_from": FROM, "created_at_to": TO, "csrf_token": csrf(browser)},
    )
    snapshot_path = created.headers["location"]
    browser.cookies.clear()
    assert sign_in(browser, *client_credentials("globex")).status_code == 303
    assert browser.get(snapshot_path).status_code == 404
    assert (
        browser.post(snapshot_path + "/delete", data={"csrf_token": csrf(browser)}).status_code
        == 404
    )


def test_operator_manages_clients(pond_server: RunningServer, browser: httpx.Client) -> None:
    async def make_operator() -> str:
        async with await psycopg.AsyncConnection.connect(
            pond_server.conninfo, autocommit=True
        ) as conn:
            return await service.create_operator(conn, "ops")

    password = asyncio.run(make_operator())
    sign_in_form = {"name": "ops", "password": "wrong", "csrf_token": csrf(browser)}
    assert browser.post("/console/operator/sign-in", data=sign_in_form).status_code == 401
    sign_in_form["password"] = password
    assert browser.post("/console/operator/sign-in", data=sign_in_form).status_code == 303

    dashboard = browser.get("/console/operator")
    assert "Job queue" in dashboard.text
    assert "Recent jobs" in dashboard.text  # the periodic maintenance job is always queued

    made = browser.post(
        "/console/operator/clients",
        data={"name": "console test", "org": "initech", "csrf_token": csrf(browser)},
    )
    assert made.status_code == 200
    client_id = re.search(r'id="new-client-id">(\w+)<', made.text)[1]  # type: ignore[index]
    secret = re.search(r'id="new-client-secret">(\w+)<', made.text)[1]  # type: ignore[index]
    token = httpx.post(
        f"{pond_server.base_url}/oauth2/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials"},
    )
    assert token.status_code == 200

    rotated = browser.post(
        f"/console/operator/clients/{client_id}/rotate", data={"csrf_token": csrf(browser)}
    )
    new_secret = re.search(r'id="new-client-secret">(\w+)<', rotated.text)[1]  # type: ignore[index]
    assert new_secret != secret
    assert browser.post(f"/console/operator/clients/{client_id}/revoke", data={}).status_code == 403
    revoked = browser.post(
        f"/console/operator/clients/{client_id}/revoke", data={"csrf_token": csrf(browser)}
    )
    assert revoked.status_code == 303
    assert "revoked" in browser.get("/console/operator").text
    assert sign_in(browser, client_id, new_secret).status_code == 401

    # A client's session is not an operator's.
    browser.post("/console/operator/sign-out", data={"csrf_token": csrf(browser)})
    assert 'name="password"' in browser.get("/console/operator").text


def test_the_active_snapshot_cap_is_explained_on_the_page(
    start_server: Callable[..., RunningServer],
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    server = start_server(run_worker=False, max_active_snapshots=1)
    with httpx.Client(base_url=server.base_url, timeout=30) as browser:
        assert sign_in(browser, *client_credentials("acme")).status_code == 303
        form = {"created_at_from": FROM, "created_at_to": TO, "csrf_token": csrf(browser)}
        assert browser.post("/console/snapshots", data=form).status_code == 303
        refused = browser.post("/console/snapshots", data=form)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert snapshot_count(server.conninfo) == 1


def test_the_create_form_passes_gzip_and_columns(
    pond_server: RunningServer,
    browser: httpx.Client,
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    seeding.seed(
        pond_server.conninfo, org="acme", start=parse_instant("f", FROM),
        end=parse_instant("t", TO), count=30,
    )  # fmt: skip
    assert sign_in(browser, *client_credentials("acme")).status_code == 303
    page = browser.get("/console")
    assert 'name="gzip"' in page.text
    assert 'name="columns"' in page.text
    form = {
        "created_at_from": FROM,
        "created_at_to": TO,
        "columns": "id,event_type",
        "gzip": "1",
        "csrf_token": csrf(browser),
    }
    created = browser.post("/console/snapshots", data=form)
    assert created.status_code == 303, created.text
    snapshot_id = created.headers["location"].rsplit("/", 1)[1]
    fragment = wait_final(browser, snapshot_id)
    link = re.search(r'href="(http[^"]+event_000\.csv\.gz[^"]*)"', fragment)
    assert link is not None, fragment
    import gzip

    text = gzip.decompress(httpx.get(link[1].replace("&amp;", "&")).content).decode()
    assert text.splitlines()[0] == "id,event_type"
    assert len(text.splitlines()) == 31
    bad = browser.post("/console/snapshots", data={**form, "columns": "id,colour"})
    assert bad.status_code == 400
    assert "colour" in bad.text


def test_the_status_fragment_waits_for_the_export_without_polling(
    start_server: Callable[..., RunningServer],
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    server = start_server(run_worker=False)  # the snapshot stays pending until the test exports it
    client_id, secret = client_credentials("acme")
    with httpx.Client(base_url=server.base_url, timeout=40) as client:
        assert sign_in(client, client_id, secret).status_code == 303
        created = client.post(
            "/console/snapshots",
            data={
                "entity": "event",
                "from_local": "2019-03-13T19:00",
                "to_local": "2019-03-28T19:00:00",
                "tz_offset": "0",
                "csrf_token": csrf(client),
            },
        )
        snapshot_id = created.headers["location"].rsplit("/", 1)[1]
        status = f"/console/snapshots/{snapshot_id}/status"
        assert client.get(status, params={"wait": "31"}).status_code == 400

        state: Any = server.app.state.pond
        exported = threading.Timer(
            0.5,
            coordinator.run,
            (server.conninfo, state.store, uuid.UUID(snapshot_id)),
            {"max_rows": 100},
        )
        exported.start()
        began = time.monotonic()
        # As the page's script does: ask again at once whenever an answer comes.
        states = []
        while not states or states[-1] in ("pending", "running"):
            fragment = client.get(status, params={"wait": "30"})
            assert fragment.status_code == 200
            found = re.search(r'data-state="([a-z]+)"', fragment.text)
            assert found is not None
            states.append(found[1])
        waited = time.monotonic() - began
        exported.join()
    assert states[-1] == "complete"
    assert 'download="event_000.csv"' in fragment.text
    # Each answer came with a change of state, and the last with the end of the
    # export, not at the end of the 30 seconds.
    assert len(states) <= 5, states
    assert waited < 20


def test_the_create_form_offers_parquet_and_json_lines(
    pond_server: RunningServer,
    browser: httpx.Client,
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    seeding.seed(
        pond_server.conninfo, org="acme", start=parse_instant("f", FROM),
        end=parse_instant("t", TO), count=30,
    )  # fmt: skip
    assert sign_in(browser, *client_credentials("acme")).status_code == 303
    page = browser.get("/console")
    assert '<option value="parquet"' in page.text
    assert '<option value="ndjson"' in page.text
    base = {"created_at_from": FROM, "created_at_to": TO}
    for fmt, name in (("parquet", "event_000.parquet"), ("ndjson", "event_000.ndjson.gz")):
        # gzip applies to JSON Lines; Parquet is compressed inside and ignores the box.
        form = {**base, "format": fmt, "gzip": "1", "csrf_token": csrf(browser)}
        created = browser.post("/console/snapshots", data=form)
        assert created.status_code == 303, created.text
        fragment = wait_final(browser, created.headers["location"].rsplit("/", 1)[1])
        link = re.search(rf'href="(http[^"]+{re.escape(name)}[^"]*)"', fragment)
        assert link is not None, fragment
        body = httpx.get(link[1].replace("&amp;", "&")).content
        assert body.startswith(b"PAR1" if fmt == "parquet" else b"\x1f\x8b")

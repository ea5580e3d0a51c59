"""The documented flow over real HTTP: token, schedule, poll, download."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable

import httpx

from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer

FROM, TO = "2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"


def wait_complete(href: str, token: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(href, headers={"Authorization": f"Bearer {token}"}).json()
        if body["items"][0]["state"] in ("complete", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("snapshot did not complete in time")


def test_documented_flow_end_to_end(
    pond_server: RunningServer,
    client_credentials: Callable[[str], tuple[str, str]],
    get_token: Callable[[str, str], str],
) -> None:
    client_id, secret = client_credentials("acme")
    seeding.seed(
        pond_server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=500,
    )
    token = get_token(client_id, secret)
    created = httpx.post(
        f"{pond_server.base_url}/insights/snapshots",
        headers={"Authorization": f"Bearer {token}"},
        data={"created_at_from": FROM, "created_at_to": TO},
    )
    assert created.status_code == 202
    body = wait_complete(created.json()["snapshot"]["href"], token)
    [item] = body["items"]
    assert item["state"] == "complete"
    download = httpx.get(item["href"])
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.text)))
    assert len(rows) - 1 == item["count"] == 500
    assert len(download.content) == item["size"]

"""`/metrics`: request figures by route template, and database gauges read at scrape time."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pond.events import seeding
from pond.snapshots.dates import parse_instant
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]


def samples(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = httpx.get(f"{base_url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found[(name, frozenset(labels.items()))]


def test_metrics_after_a_snapshot_completes(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    client_id, secret = client_credentials("acme")
    token = get_token(client_id, secret)
    seeding.seed(
        pond_server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=300,
    )
    href = schedule(pond_server.base_url, token).json()["snapshot"]["href"]
    body = wait_done(href, token)
    assert body["items"][0]["state"] == "complete"
    rows = sum(item["count"] for item in body["items"])
    size = sum(item["size"] for item in body["items"])
    # Two more requests to a templated route, with two different ids.
    httpx.get(href, headers=bearer(token))
    httpx.get(
        f"{pond_server.base_url}/insights/snapshots/00000000-0000-0000-0000-000000000000",
        headers=bearer(token),
    )
    httpx.get(f"{pond_server.base_url}/no/such/page")

    found = samples(pond_server.base_url)

    assert value(found, "pond_database_up") == 1
    assert value(found, "pond_snapshots", state="complete") == 1
    assert value(found, "pond_snapshots", state="pending") == 0
    assert value(found, "pond_jobs", status="todo") == 0
    assert value(found, "pond_exported_rows") == rows == 300
    assert value(found, "pond_exported_bytes") == size

    route = "/insights/snapshots/{snapshot_id}"
    assert value(found, "pond_http_requests_total", method="GET", route=route, status="200") >= 2
    assert value(found, "pond_http_requests_total", method="GET", route=route, status="404") == 1
    assert (
        value(found, "pond_http_requests_total", method="POST", route="/oauth2/token", status="200")
        == 1
    )
    assert (
        value(found, "pond_http_requests_total", method="GET", route="unmatched", status="404") == 1
    )
    assert (
        value(
            found,
            "pond_http_request_duration_seconds_count",
            method="POST",
            route="/insights/snapshots",
            status="202",
        )
        == 1
    )
    # Label values are templates only: no raw id, no path of an unknown page.
    labels = {v for (_, pairs) in found for (_, v) in pairs}
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", label) for label in labels)
    assert "/no/such/page" not in labels

"""Requests built and answers read, without a network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from pond.client import answers, protocol
from pond.client.errors import (
    AuthenticationFailed,
    ClientError,
    NotOffered,
    RequestRejected,
    ServiceUnavailable,
    SnapshotExpired,
    SnapshotFailed,
    SnapshotNotFound,
    UsageError,
)
from pond.client.models import Snapshot
from tests.unit.client.test_client_models import HREF, complete, pending

API = "https://api.sgipond.com"


def answer(status: int, body: Any = None, method: str = "GET", url: str = HREF) -> httpx.Response:
    request = httpx.Request(method, url)
    if body is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=body, request=request)


def test_create_is_form_encoded_as_documented() -> None:
    call = protocol.create_call(
        API,
        datetime(2019, 3, 13, 18, tzinfo=UTC),
        "2019-03-28T11:00:00-07:00",
        extra={"columns": "id,created_at", "gzip": True},
        idempotency_key="k1",
    )
    assert (call.method, call.url) == ("POST", f"{API}/insights/snapshots")
    assert call.data == {
        "created_at_from": "2019-03-13T18:00:00.000Z",
        "created_at_to": "2019-03-28T18:00:00.000Z",
        "entity": "event",
        "columns": "id,created_at",
        "gzip": "true",
    }
    assert call.headers["Idempotency-Key"] == "k1"
    assert call.idempotent
    request = httpx.Client().build_request(call.method, call.url, data=call.data)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode())["created_at_from"] == ["2019-03-13T18:00:00.000Z"]


def test_a_post_without_a_key_is_not_idempotent() -> None:
    call = protocol.create_call(API, "2019-03-13T18:00:00Z", "2019-03-14T18:00:00Z")
    assert not call.idempotent
    assert protocol.retry_answer(call, 503)
    assert protocol.retry_answer(call, 429)
    assert not protocol.retry_answer(call, 502)
    assert protocol.retry_error(call, httpx.ConnectError("refused"))
    assert not protocol.retry_error(call, httpx.ReadError("cut"))
    get = protocol.get_call(HREF)
    assert protocol.retry_answer(get, 502)
    assert protocol.retry_error(get, httpx.ReadError("cut"))
    assert not protocol.retry_answer(get, 500)


def test_snapshot_references() -> None:
    assert protocol.snapshot_href(API, HREF) == HREF
    assert protocol.snapshot_href(API + "/", "abc") == f"{API}/insights/snapshots/abc"
    for bad in ("", "a/b", ".."):
        with pytest.raises(UsageError):
            protocol.snapshot_href(API, bad)


def test_created_and_got_snapshots_are_read() -> None:
    created = answers.read_created(answer(202, {"result": "OK", "snapshot": pending()}, "POST"))
    assert created.href == HREF
    got = answers.read_snapshot(answer(200, complete(2)))
    assert got.is_complete


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RequestRejected),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, SnapshotNotFound),
        (410, SnapshotExpired),
        (503, ServiceUnavailable),
        (500, ServiceUnavailable),
        (418, ClientError),
    ],
)
def test_error_answers_become_client_errors(status: int, error: type[ClientError]) -> None:
    body = {"error": "some_code", "error_description": "what the server said"}
    with pytest.raises(error) as caught:
        answers.read_snapshot(answer(status, body))
    assert caught.value.status == status
    if status != 404:
        assert "what the server said" in caught.value.message


def test_error_messages_never_show_a_signed_query() -> None:
    with pytest.raises(SnapshotNotFound) as caught:
        answers.read_snapshot(answer(404, url=f"{HREF}?Signature=secret"))
    assert "secret" not in caught.value.message


def test_bodies_that_are_not_snapshots_are_explained() -> None:
    with pytest.raises(ClientError, match="not JSON"):
        answers.read_snapshot(
            httpx.Response(200, text="<html>", request=httpx.Request("GET", HREF))
        )
    with pytest.raises(ClientError, match="cannot read"):
        answers.read_snapshot(answer(200, {"nope": 1}))


@pytest.mark.parametrize("status", [404, 405])
def test_missing_list_and_delete_endpoints_are_not_offered(status: int) -> None:
    body = {"error": "method_not_allowed" if status == 405 else "not_found"}
    with pytest.raises(NotOffered, match="does not offer listing"):
        answers.read_list(answer(status, body, url=f"{API}/insights/snapshots"))
    with pytest.raises(NotOffered, match="does not offer deleting"):
        answers.read_deleted(answer(status, body, "DELETE"))


def test_deleting_an_unknown_snapshot_is_not_found() -> None:
    with pytest.raises(SnapshotNotFound):
        answers.read_deleted(answer(404, {"error": "snapshot_not_found"}, "DELETE"))


def test_lists_in_either_shape() -> None:
    url = f"{API}/insights/snapshots"
    assert len(answers.read_list(answer(200, [pending(), complete()], url=url))) == 2
    assert len(answers.read_list(answer(200, {"snapshots": [pending()]}, url=url))) == 1


def test_finished_means_complete_and_failed_raises() -> None:
    assert not answers.check_finished(Snapshot.from_wire(pending()))
    assert answers.check_finished(Snapshot.from_wire(complete()))
    failed = pending()
    failed["items"][0].update(state="failed", reason="disk full")
    with pytest.raises(SnapshotFailed, match="disk full"):
        answers.check_finished(Snapshot.from_wire(failed))


def test_network_failures_name_the_endpoint_that_failed() -> None:
    token_request = httpx.Request("POST", "http://auth.test/oauth2/token?x=secret")
    error = httpx.ConnectError("connection refused", request=token_request)
    unavailable = answers.unreachable("http://api.test/insights/snapshots", error)
    assert "http://auth.test/oauth2/token" in unavailable.message
    assert "secret" not in unavailable.message
    assert unavailable.exit_code == 9

"""Webhooks: endpoints per organisation, signed events, retries, and no leaks between tenants.

A receiver on loopback (http.server in a thread) records what pond sends and
verifies the Standard Webhooks signature with its own code, independent of pond's.
Webhooks reach only public addresses by default; the server of these tests
allows its loopback receivers as an operator would, with
`POND_WEBHOOK_ALLOW_CIDRS` (what stays refused: `test_webhook_addresses.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from pond.events import seeding
from pond.webhooks import events
from tests.conftest import RunningServer
from tests.integration.helpers import bearer, schedule, wait_done

# The receivers' range, opened as an operator opens their own network.
RECEIVERS = "127.0.0.1/32"

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


@dataclass
class Receiver:
    """Records every POST; answers 500 to the first `fail_first[path]` requests on a path."""

    base_url: str = ""
    fail_first: dict[str, int] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 40) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.on(path)) >= count:
                return self.on(path)
            time.sleep(0.05)
        raise AssertionError(f"{path} got {len(self.on(path))} requests, expected {count}")


@pytest.fixture
def pond_server(start_server: Callable[..., RunningServer]) -> RunningServer:
    """A real pond server whose webhooks may reach the loopback receivers."""
    return start_server(webhook_allow_cidrs=RECEIVERS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                seen = sum(1 for r in state.requests if r.path == self.path)
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
            status = 500 if seen < state.fail_first.get(self.path, 0) else 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def verify(secret: str, received: Received, tolerance: int = 300) -> None:
    """Standard Webhooks verification, written from the specification."""
    msg_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) < tolerance, "stale or future timestamp"
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + received.body, hashlib.sha256).digest()
    ).decode()
    offered = [s.split(",", 1)[1] for s in received.headers["webhook-signature"].split(" ")]
    assert any(hmac.compare_digest(expected, s) for s in offered), "bad signature"


def register(base: str, token: str, url: str) -> dict[str, Any]:
    answer = httpx.post(f"{base}/insights/webhooks", headers=bearer(token), json={"url": url})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_register_list_and_remove_are_per_organisation(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    base = pond_server.base_url
    acme, globex = get_token(*client_credentials("acme")), get_token(*client_credentials("globex"))

    made = register(base, acme, "https://hooks.example.com/pond")
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"][6:])) >= 24
    assert made["events"] == ["snapshot.completed", "snapshot.failed"]
    form = httpx.post(
        f"{base}/insights/webhooks",
        headers=bearer(acme),
        data={"url": "https://hooks.example.com/other", "events": "snapshot.failed"},
    )
    assert form.status_code == 201, form.text
    assert form.json()["events"] == ["snapshot.failed"]

    listed = httpx.get(f"{base}/insights/webhooks", headers=bearer(acme)).json()["items"]
    assert [w["id"] for w in listed] == [made["id"], form.json()["id"]]
    assert all("secret" not in w for w in listed)
    assert httpx.get(f"{base}/insights/webhooks", headers=bearer(globex)).json() == {"items": []}

    theirs = httpx.delete(f"{base}/insights/webhooks/{made['id']}", headers=bearer(globex))
    assert theirs.status_code == 404
    assert theirs.json()["error"] == "webhook_not_found"
    ours = httpx.delete(f"{base}/insights/webhooks/{made['id']}", headers=bearer(acme))
    assert ours.status_code == 204
    again = httpx.delete(f"{base}/insights/webhooks/{made['id']}", headers=bearer(acme))
    assert again.status_code == 404
    junk = httpx.delete(f"{base}/insights/webhooks/not-an-id", headers=bearer(acme))
    assert junk.status_code == 404
    listed = httpx.get(f"{base}/insights/webhooks", headers=bearer(acme)).json()["items"]
    assert [w["id"] for w in listed] == [form.json()["id"]]

    assert httpx.get(f"{base}/insights/webhooks").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://hooks.example.com/pond"},
        {"url": "ftp://hooks.example.com/pond"},
        {"url": "not a url"},
        {"url": "https://user:pw@hooks.example.com/"},
        {"url": "https://hooks.example.com:99999/"},
        {},
        {"url": "https://hooks.example.com/", "events": ["snapshot.exploded"]},
    ],
    ids=["http", "ftp", "junk", "credentials", "port", "missing", "event"],
)
def test_bad_registrations_are_400_and_store_nothing(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token, body: dict[str, Any]
) -> None:
    token = get_token(*client_credentials("acme"))
    answer = httpx.post(
        f"{pond_server.base_url}/insights/webhooks", headers=bearer(token), json=body
    )
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"error", "error_description"}
    listed = httpx.get(f"{pond_server.base_url}/insights/webhooks", headers=bearer(token))
    assert listed.json() == {"items": []}


def test_an_organisation_at_its_cap_gets_409_until_it_removes_one(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    token = get_token(*client_credentials("acme"))
    base = pond_server.base_url
    made = [register(base, token, f"https://hooks.example.com/{n}") for n in range(10)]
    full = httpx.post(
        f"{base}/insights/webhooks", headers=bearer(token), json={"url": "https://x.example/"}
    )
    assert full.status_code == 409, full.text
    assert full.json()["error"] == "too_many_webhooks"
    assert "remove one" in full.json()["error_description"]
    httpx.delete(f"{base}/insights/webhooks/{made[0]['id']}", headers=bearer(token))
    register(base, token, "https://x.example/")


def test_no_content_type_is_400(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    token = get_token(*client_credentials("acme"))
    answer = httpx.post(
        f"{pond_server.base_url}/insights/webhooks",
        headers=bearer(token),
        content=b"url=https://hooks.example.com/",
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "missing_content_type"


def test_completed_event_is_signed_retried_and_reaches_only_its_organisation(
    pond_server: RunningServer,
    client_credentials: Creds,
    get_token: Token,
    receiver: Receiver,
) -> None:
    base = pond_server.base_url
    acme, globex = get_token(*client_credentials("acme")), get_token(*client_credentials("globex"))
    start, end = datetime(2019, 3, 13, 18, tzinfo=UTC), datetime(2019, 3, 28, 18, tzinfo=UTC)
    seeding.seed(pond_server.conninfo, org="acme", start=start, end=end, count=250)
    seeding.seed(pond_server.conninfo, org="globex", start=start, end=end, count=40)
    receiver.fail_first["/acme"] = 1
    acme_hook = register(base, acme, f"{receiver.base_url}/acme")
    globex_hook = register(base, globex, f"{receiver.base_url}/globex")

    acme_href = schedule(base, acme).json()["snapshot"]["href"]
    globex_href = schedule(base, globex).json()["snapshot"]["href"]
    wait_done(acme_href, acme)
    wait_done(globex_href, globex)
    acme_id, globex_id = acme_href.rsplit("/", 1)[1], globex_href.rsplit("/", 1)[1]

    first, second = receiver.wait_for("/acme", 2)
    (theirs,) = receiver.wait_for("/globex", 1)
    for attempt in (first, second):
        verify(acme_hook["secret"], attempt)
        assert attempt.headers["content-type"] == "application/json"
    verify(globex_hook["secret"], theirs)
    with pytest.raises(AssertionError, match="bad signature"):
        verify(globex_hook["secret"], first)
    # A retry is the same message: same id and body, signed again.
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body

    event = second.json()
    assert set(event) == {"type", "timestamp", "data"}
    assert event["type"] == "snapshot.completed"
    datetime.fromisoformat(event["timestamp"])
    data = event["data"]
    assert data["id"] == acme_id
    assert data["state"] == "complete"
    assert "href" not in data  # no POND_PUBLIC_URL: the receiver knows its server
    assert data["items"]
    assert all(set(i) == {"name", "size", "count"} for i in data["items"])
    assert sum(i["count"] for i in data["items"]) == 250
    assert theirs.json()["data"]["id"] == globex_id
    assert sum(i["count"] for i in theirs.json()["data"]["items"]) == 40

    # Nothing else arrives: one event per organisation, each only at its own endpoint.
    time.sleep(1)
    assert len(receiver.on("/acme")) == 2
    assert len(receiver.on("/globex")) == 1
    with psycopg.connect(pond_server.conninfo) as conn:
        rows = conn.execute(
            "SELECT d.snapshot_id, d.status, d.attempts, d.last_status FROM webhook_deliveries d"
            " WHERE d.endpoint_id = %s",
            (uuid.UUID(acme_hook["id"]),),
        ).fetchall()
        # Emitting never made an export job fail or run again.
        jobs = conn.execute(
            "SELECT status, attempts FROM procrastinate_jobs"
            " WHERE task_name = 'pond.export_snapshot'"
        ).fetchall()
    assert rows == [(uuid.UUID(acme_id), "delivered", 2, 200)]
    assert jobs == [("succeeded", 1), ("succeeded", 1)]  # one run each


def test_failed_event_carries_the_reason_and_is_sent_once(
    pond_server: RunningServer,
    client_credentials: Creds,
    get_token: Token,
    receiver: Receiver,
) -> None:
    client_id, secret = client_credentials("acme")
    token = get_token(client_id, secret)
    hook = register(pond_server.base_url, token, f"{receiver.base_url}/failed")
    removed = register(pond_server.base_url, token, f"{receiver.base_url}/removed")
    httpx.delete(f"{pond_server.base_url}/insights/webhooks/{removed['id']}", headers=bearer(token))
    sid = uuid.uuid4()
    with psycopg.connect(pond_server.conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from,"
            " created_at_to, state, reason, expires_at)"
            " SELECT %s, org_id, client_id, 'event', '2019-03-13', '2019-03-14', 'failed',"
            " 'export failed after 3 attempts: boom', now() + interval '1 day'"
            " FROM oauth_clients WHERE client_id = %s",
            (sid, client_id),
        )
    public = "https://pond.example.com"
    assert events.emit(pond_server.conninfo, sid, events.COMPLETED, public_url=public) == 0
    assert events.emit(pond_server.conninfo, sid, events.FAILED, public_url=public) == 1
    assert events.emit(pond_server.conninfo, sid, events.FAILED, public_url=public) == 0

    (received,) = receiver.wait_for("/failed", 1)
    verify(hook["secret"], received)
    event = received.json()
    assert event["type"] == "snapshot.failed"
    assert event["data"] == {
        "id": str(sid),
        "state": "failed",
        "href": f"{public}/insights/snapshots/{sid}",
        "items": [],
        "reason": "export failed after 3 attempts: boom",
    }
    time.sleep(0.5)
    assert receiver.on("/removed") == []


def test_operator_commands_add_list_and_remove(conninfo: str, tmp_path: Path) -> None:
    env = {**os.environ, "POND_DATABASE_URL": conninfo, "POND_DATA_DIR": str(tmp_path / "d")}
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO organisations (slug) VALUES ('acme')")

    def pond(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pond", "webhooks", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    added = pond("add", "--org", "acme", "--url", "https://hooks.example.com/x", "--json")
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert made["secret"].startswith("whsec_")
    assert made["org"] == "acme"

    listed = pond("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(w["id"], w["org"]) for w in json.loads(listed.stdout)] == [(made["id"], "acme")]
    assert "whsec_" not in listed.stdout

    bad = pond("add", "--org", "acme", "--url", "http://hooks.example.com/x")
    assert bad.returncode == 2
    assert "https" in bad.stderr
    unknown = pond("add", "--org", "nobody", "--url", "https://hooks.example.com/x")
    assert unknown.returncode == 2
    assert "nobody" in unknown.stderr

    assert pond("remove", made["id"]).returncode == 0
    assert json.loads(pond("list", "--json").stdout) == []
    gone = pond("remove", made["id"])
    assert gone.returncode == 4, gone.stderr

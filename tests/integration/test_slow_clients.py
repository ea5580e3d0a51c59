"""Slow clients are bounded: a late request head or body is answered 408 and let go,
while everyone else keeps being served. Real sockets on loopback, short deadlines."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from pond.api.app import create_app
from pond.api.serving import server_config
from pond.settings import Settings
from tests.conftest import RunningServer, free_port
from tests.integration.helpers import bearer

Creds = Callable[[str], tuple[str, str]]
HEAD_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
# How late an answer may come past its deadline on a busy machine; generous on purpose.
SLACK = 4.0
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def guarded(make_settings: Callable[..., Settings], conninfo: str) -> Iterator[RunningServer]:
    """pond as `pond serve` configures uvicorn, with one-second deadlines, in a thread."""
    settings = make_settings(header_timeout=HEAD_TIMEOUT, body_timeout=BODY_TIMEOUT)
    app = create_app(settings, conninfo, run_worker=False)
    port = free_port()
    config = server_config(app, settings, host="127.0.0.1", port=port, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield RunningServer(f"http://127.0.0.1:{port}", settings, conninfo, app)
    server.should_exit = True
    thread.join(30)


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def token_of(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received, time.monotonic() - started
        received += chunk


def error_of(answer: bytes) -> dict[str, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    error: dict[str, Any] = json.loads(body)
    return error


def assert_408(answer: bytes) -> None:
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in answer.lower().partition(b"\r\n\r\n")[0]
    error = error_of(answer)
    assert set(error) == {"error", "error_description"}
    assert error["error"] == "request_timeout"


def test_slowloris_heads_get_408_and_are_closed_while_others_are_served(
    guarded: RunningServer,
) -> None:
    """100 connections send their head a byte every 0.2 s; a normal client keeps polling."""
    port = port_of(guarded)
    head = b"GET /healthz HTTP/1.1\r\nHost: pond\r\nX-Padding: " + b"a" * 1000

    async def slow() -> tuple[bytes, float]:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for byte in head:
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(), 0.2)
                except TimeoutError:
                    continue
                except ConnectionError:
                    break
                return answer, time.monotonic() - started
            raise AssertionError("a slow head was never answered")
        finally:
            writer.close()

    async def normal(stop: asyncio.Event) -> list[tuple[int, float]]:
        answers = []
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                started = time.monotonic()
                answer = await client.get(f"{guarded.base_url}/healthz", timeout=10)
                answers.append((answer.status_code, time.monotonic() - started))
                await asyncio.sleep(0.05)
        return answers

    async def scenario() -> tuple[list[tuple[bytes, float]], list[tuple[int, float]]]:
        stop = asyncio.Event()
        polling = asyncio.create_task(normal(stop))
        slow_ones = await asyncio.gather(*(slow() for _ in range(100)))
        stop.set()
        return slow_ones, await polling

    slow_ones, normal_ones = asyncio.run(scenario())
    for answer, elapsed in slow_ones:
        assert_408(answer)
        assert HEAD_TIMEOUT * 0.9 <= elapsed < HEAD_TIMEOUT + SLACK
    # Meanwhile every normal request was answered, each well before a slow one was let go.
    assert len(normal_ones) >= 5
    assert all(status == 200 for status, _ in normal_ones)
    assert max(elapsed for _, elapsed in normal_ones) < HEAD_TIMEOUT


def test_a_connection_that_sends_nothing_is_closed(guarded: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", port_of(guarded))) as sock:
        answer, elapsed = read_until_closed(sock, HEAD_TIMEOUT + SLACK)
    assert answer == b""
    assert elapsed < HEAD_TIMEOUT + SLACK


def test_a_slow_second_request_on_a_kept_alive_connection_gets_408(
    guarded: RunningServer,
) -> None:
    with socket.create_connection(("127.0.0.1", port_of(guarded))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: pond\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        answer, elapsed = read_until_closed(sock, HEAD_TIMEOUT + SLACK)
    assert_408(answer)
    assert elapsed < HEAD_TIMEOUT + SLACK


def stalled_post(server: RunningServer, path: str, content_type: str, token: str = "") -> bytes:
    """POST a body that declares 1,000 bytes and stops after a few; what comes back."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: pond\r\n{auth}Content-Type: {content_type}\r\n"
        "Content-Length: 1000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port_of(server))) as sock:
        sock.sendall(head + b"grant_type=")
        answer, elapsed = read_until_closed(sock, BODY_TIMEOUT + SLACK)
    assert elapsed < BODY_TIMEOUT + SLACK
    return answer


def test_a_stalled_token_request_body_gets_408(guarded: RunningServer) -> None:
    answer = stalled_post(guarded, "/oauth2/token", FORM)
    assert_408(answer)
    assert "did not arrive within 1 s" in error_of(answer)["error_description"]


def test_stalled_bodies_get_408_on_every_route_that_reads_one(
    guarded: RunningServer, client_credentials: Creds
) -> None:
    token = token_of(guarded, client_credentials("acme"))
    assert_408(stalled_post(guarded, "/insights/snapshots", FORM, token))
    assert_408(stalled_post(guarded, "/insights/events", "text/csv", token))


def test_a_body_left_unread_cannot_keep_its_connection(guarded: RunningServer) -> None:
    """Answered (401) without reading the body: a trickle of the rest does not hold the socket."""
    head = (
        "POST /insights/snapshots HTTP/1.1\r\nHost: pond\r\n"
        f"Content-Type: {FORM}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port_of(guarded))) as sock:
        sock.sendall(head)
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 401 ")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < BODY_TIMEOUT + SLACK:
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed = True
                break
    assert closed


def test_bodies_in_time_are_read_as_before(
    guarded: RunningServer, client_credentials: Creds
) -> None:
    client_id, secret = client_credentials("acme")
    form = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"

    def slowly() -> Iterator[bytes]:
        middle = len(form) // 2
        yield form[:middle].encode()
        time.sleep(BODY_TIMEOUT / 3)  # late, but within the deadline
        yield form[middle:].encode()

    answer = httpx.post(guarded.token_url, content=slowly(), headers={"Content-Type": FORM})
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    # A long-poll holds its connection well past both deadlines: nothing cuts it.
    created = httpx.post(
        f"{guarded.base_url}/insights/snapshots",
        headers=bearer(token),
        data={"created_at_from": "2019-03-13T18:00:00Z", "created_at_to": "2019-03-14T18:00:00Z"},
    )
    assert created.status_code == 202, created.text
    started = time.monotonic()
    polled = httpx.get(
        created.json()["snapshot"]["href"],
        params={"wait": "3"},
        headers=bearer(token),
        timeout=10,
    )
    assert polled.status_code == 200
    assert time.monotonic() - started >= 2.5  # the worker is off: it waited it out

"""Requests too big or too odd are bounded and answered in the API's own error shapes."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from pond.auth.router import MAX_BODY
from tests.conftest import RunningServer
from tests.integration.test_downloads import completed_links

Creds = Callable[[str], tuple[str, str]]
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def raw_exchange(base_url: str, head: bytes, timeout: float = 5) -> bytes:
    """Send `head` (request line and headers, no body) and read what comes back."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head)
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_a_declared_oversized_body_is_413_before_it_is_sent(pond_server: RunningServer) -> None:
    host = urlsplit(pond_server.base_url).netloc
    head = (
        f"POST /oauth2/token HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {1 << 30}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = raw_exchange(pond_server.base_url, head)
    # Answered without waiting for the gigabyte that never comes.
    assert time.monotonic() - started < 3
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error":"request_too_large"' in answer


def test_a_streamed_oversized_body_is_413(pond_server: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"grant_type=client_credentials&padding="
        for _ in range(64):
            yield b"x" * 4096

    answer = httpx.post(pond_server.token_url, content=chunks(), headers=FORM_TYPE)
    assert answer.status_code == 413
    assert answer.json()["error"] == "request_too_large"
    assert str(MAX_BODY) in answer.json()["error_description"]


def test_a_body_just_under_the_limit_is_read(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    client_id, secret = client_credentials("acme")
    body = "grant_type=client_credentials&pad=" + "x" * (MAX_BODY - 100)
    answer = httpx.post(
        pond_server.token_url, content=body, headers=FORM_TYPE, auth=(client_id, secret)
    )
    assert answer.status_code == 200, answer.text


def test_thousands_of_form_fields_within_the_size_limit_are_read(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    # The body's size bounds how many fields it holds; fields pond does not read are
    # ignored, as the OpenAPI description says (its bodies are open objects).
    client_id, secret = client_credentials("acme")
    body = "grant_type=client_credentials&" + "&".join(f"f{n}=1" for n in range(5000))
    answer = httpx.post(
        pond_server.token_url, content=body, headers=FORM_TYPE, auth=(client_id, secret)
    )
    assert answer.status_code == 200, answer.text


def test_snapshot_bodies_of_another_type_are_415_and_too_large_ones_413(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    client_id, secret = client_credentials("acme")
    form = {"grant_type": "client_credentials"}
    token = httpx.post(pond_server.token_url, auth=(client_id, secret), data=form).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for path in ("/insights/snapshots", "/insights/webhooks"):
        url = f"{pond_server.base_url}{path}"
        other = httpx.post(url, headers={**headers, "Content-Type": "text/plain"}, content=b"x")
        assert other.status_code == 415, other.text
        assert other.json()["error"] == "unsupported_media_type"
        assert "application/json" in other.json()["error_description"]
        big = httpx.post(url, headers=headers, json={"pad": "x" * (MAX_BODY + 1)})
        assert big.status_code == 413, big.text
        assert big.json()["error"] == "request_too_large"


def test_bad_ranges_are_refused_like_s3(
    pond_server: RunningServer, client_credentials: Creds
) -> None:
    link = completed_links(pond_server, client_credentials, rows=50)[0]
    size = int(httpx.head(link).headers["content-length"])

    huge = "bytes=" + ",".join(f"{n}-{n}" for n in range(0, 4000, 2))
    answer = httpx.get(link, headers={"Range": huge})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/xml")
    assert b"<Code>InvalidArgument</Code>" in answer.content

    for malformed in ("bytes", "pages=0-1", "bytes=5-1", "bytes=x-y"):
        answer = httpx.get(link, headers={"Range": malformed})
        assert answer.status_code == 400, malformed
        assert b"<Code>InvalidArgument</Code>" in answer.content, malformed

    answer = httpx.get(link, headers={"Range": f"bytes={size + 10}-"})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{size}"
    assert b"<Code>InvalidRange</Code>" in answer.content

    # What was fine stays fine: one range, a few ranges, a Range an old If-Range voids.
    assert httpx.get(link, headers={"Range": "bytes=0-9"}).status_code == 206
    assert httpx.get(link, headers={"Range": "bytes=0-1,5-6"}).status_code == 206
    stale = httpx.get(link, headers={"Range": "bytes=5-1", "If-Range": '"old"'})
    assert stale.status_code == 200


def test_client_ids_that_cannot_exist_are_invalid_client_not_500(
    pond_server: RunningServer,
) -> None:
    # Found by the fuzzer: a NUL byte reached PostgreSQL, which refuses it in text.
    form = {"grant_type": "client_credentials"}
    for client_id in ("abc\x00def", "x" * 5000):
        answers = [
            httpx.post(pond_server.token_url, auth=(client_id, "secret"), data=form),
            httpx.post(
                pond_server.token_url,
                data={**form, "client_id": client_id, "client_secret": "secret"},
            ),
        ]
        for answer in answers:
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "invalid_client"

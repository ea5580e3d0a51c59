"""`PartTransport`: part bodies over `http.client`, behind httpx's own API, on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pond.client.wire import BLOCK, PartTransport, blocks

BODY = bytes(range(256)) * 12_000  # about 3 MB: several blocks


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    behaviour: Callable[[BaseHTTPRequestHandler], None]

    def do_GET(self) -> None:
        type(self).behaviour(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _whole_or_range(handler: BaseHTTPRequestHandler) -> None:
    """The body, or the rest of it from a `Range: bytes=N-` header."""
    asked = handler.headers.get("Range")
    start = int(asked.removeprefix("bytes=").rstrip("-")) if asked else 0
    handler.send_response(206 if asked else 200)
    handler.send_header("Content-Length", str(len(BODY) - start))
    handler.send_header("X-Seen-Agent", handler.headers.get("User-Agent", ""))
    handler.end_headers()
    handler.wfile.write(BODY[start:])


def _cut_short(handler: BaseHTTPRequestHandler) -> None:
    """Promises the whole body, sends a third of it, and closes the connection."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(BODY)))
    handler.end_headers()
    handler.wfile.write(BODY[: len(BODY) // 3])
    handler.wfile.flush()
    handler.close_connection = True


def _chunked(handler: BaseHTTPRequestHandler) -> None:
    """The body in chunked transfer coding, no length said: in pieces of 100,000 bytes."""
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for start in range(0, len(BODY), 100_000):
        piece = BODY[start : start + 100_000]
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    handler.wfile.write(b"0\r\n\r\n")


def _redirect(handler: BaseHTTPRequestHandler) -> None:
    if handler.path == "/moved":
        handler.send_response(302)
        handler.send_header("Location", "/object")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    _whole_or_range(handler)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(behaviour: Callable[[BaseHTTPRequestHandler], None]) -> str:
        handler = type("Handler", (_Handler,), {"behaviour": staticmethod(behaviour)})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _client(timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(transport=PartTransport(), timeout=timeout, headers={"User-Agent": "t"})


def test_a_body_arrives_whole_in_blocks_with_the_clients_headers(serve: Callable[..., str]) -> None:
    base = serve(_whole_or_range)
    with _client() as http, http.stream("GET", f"{base}/object") as response:
        blocks = list(response.iter_raw())
        assert response.status_code == 200
        assert response.headers["x-seen-agent"] == "t"
    assert b"".join(blocks) == BODY
    assert max(map(len, blocks)) <= BLOCK


def test_a_range_request_gets_the_rest(serve: Callable[..., str]) -> None:
    base = serve(_whole_or_range)
    with _client() as http:
        response = http.get(f"{base}/object", headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.content == BODY[1000:]


def test_redirects_are_followed_by_httpx_above_it(serve: Callable[..., str]) -> None:
    base = serve(_redirect)
    with _client() as http:
        response = http.get(f"{base}/moved", follow_redirects=True)
    assert response.status_code == 200
    assert response.content == BODY


def test_a_cut_body_keeps_what_came_and_raises_a_transport_error(
    serve: Callable[..., str],
) -> None:
    base = serve(_cut_short)
    received = bytearray()

    def read(response: httpx.Response) -> None:
        for block in response.iter_raw():
            received.extend(block)

    with (
        _client() as http,
        http.stream("GET", f"{base}/object") as response,
        pytest.raises(httpx.RemoteProtocolError, match="bytes missing"),
    ):
        read(response)
    assert bytes(received) == BODY[: len(BODY) // 3]


def _received(response: httpx.Response) -> tuple[bytes, list[bytes | memoryview]]:
    """The body as `blocks` gives it: its bytes (each block copied in time), and the blocks."""
    body = bytearray()
    given: list[bytes | memoryview] = []
    for block in blocks(response):
        body.extend(block)
        given.append(block)
    return bytes(body), given


def test_blocks_are_received_into_one_buffer_reused_from_block_to_block(
    serve: Callable[..., str],
) -> None:
    base = serve(_whole_or_range)
    with _client() as http, http.stream("GET", f"{base}/object") as response:
        body, given = _received(response)
    assert body == BODY
    assert len(given) >= 3
    assert all(isinstance(block, memoryview) for block in given)
    buffers = {id(block.obj) for block in given if isinstance(block, memoryview)}
    assert len(buffers) == 1  # no new allocation per receive
    assert max(map(len, given)) <= BLOCK


def test_blocks_of_a_range_answer_and_of_a_chunked_body_arrive_whole(
    serve: Callable[..., str],
) -> None:
    ranged, chunked = serve(_whole_or_range), serve(_chunked)
    with _client() as http:
        with http.stream("GET", f"{ranged}/object", headers={"Range": "bytes=5000-"}) as part:
            assert part.status_code == 206
            assert _received(part)[0] == BODY[5000:]
        with http.stream("GET", f"{chunked}/object") as whole:
            assert "content-length" not in whole.headers
            assert _received(whole)[0] == BODY


def test_blocks_of_a_cut_body_keep_what_came_and_raise_a_transport_error(
    serve: Callable[..., str],
) -> None:
    base = serve(_cut_short)
    received = bytearray()

    def read(response: httpx.Response) -> None:
        for block in blocks(response):
            received.extend(block)

    with (
        _client() as http,
        http.stream("GET", f"{base}/object") as response,
        pytest.raises(httpx.RemoteProtocolError, match="bytes missing"),
    ):
        read(response)
    assert bytes(received) == BODY[: len(BODY) // 3]


def test_blocks_through_any_other_transport_are_httpx_chunks(serve: Callable[..., str]) -> None:
    base = serve(_whole_or_range)
    with httpx.Client() as http, http.stream("GET", f"{base}/object") as response:
        body, given = _received(response)
    assert body == BODY
    assert all(isinstance(block, bytes) for block in given)


def test_no_server_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: refused
        with _client() as http, pytest.raises(httpx.ConnectError):
            http.get(f"http://127.0.0.1:{port}/object")


def test_a_silent_server_is_a_read_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]  # accepts (in the backlog), never answers
        with _client(timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
            http.get(f"http://127.0.0.1:{port}/object")


def test_requests_with_a_body_are_refused() -> None:
    with _client() as http, pytest.raises(httpx.UnsupportedProtocol):
        http.post("http://127.0.0.1:9/object", content=b"data")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def https_base(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https server of `_whole_or_range` on loopback, and its certificate file."""
    cert_file, key_file = _self_signed(tmp_path)
    handler = type("Handler", (_Handler,), {"behaviour": staticmethod(_whole_or_range)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_file
    server.shutdown()
    server.server_close()


def test_https_bodies_arrive_from_a_server_the_client_trusts(
    https_base: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cert_file = https_base
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trusted as httpx trusts CAs
    with _client() as http:
        response = http.get(f"{base}/object")
    assert response.status_code == 200
    assert response.content == BODY


def test_https_bodies_arrive_in_blocks_too(
    https_base: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cert_file = https_base
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    with _client() as http, http.stream("GET", f"{base}/object") as response:
        body, given = _received(response)
    assert body == BODY
    assert all(isinstance(block, memoryview) for block in given)


def test_https_to_a_server_the_client_does_not_trust_is_refused(
    https_base: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = https_base
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with _client() as http, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        http.get(f"{base}/object")

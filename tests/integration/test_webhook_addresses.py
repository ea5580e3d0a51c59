"""A tenant's webhook must not reach inside the network (server-side request forgery).

On default settings every internal form of a URL is refused at registration
(API and `pond webhooks add`), and a delivery to one (an endpoint stored before
the check existed, or a name that resolves to an internal address only when the
event is sent) is recorded as failed with the reason while nothing is contacted:
a TCP listener on loopback counts every connection. DNS cannot be run here, so
the tests that need a name to resolve give the delivery a resolver of their own;
everything else is real: the database, the delivery job, HTTP and TLS on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pond.errors import WebhookDeliveryFailed
from pond.webhooks import delivery, events, service
from pond.webhooks.addresses import AddressPolicy, IPAddress, parse_networks
from pond.webhooks.egress import Egress
from tests.conftest import RunningServer
from tests.integration.helpers import bearer

Creds = Callable[[str], tuple[str, str]]
Token = Callable[[str, str], str]

# Every form the issue found accepted, and more spellings of the same addresses.
INTERNAL_URLS = [
    "http://127.0.0.1:5432/x",
    "http://localhost:8000/console",
    "https://localhost/x",
    "https://api.localhost/x",
    "https://127.1/x",
    "https://2130706433/x",
    "https://0x7f.1/x",
    "https://0177.0.0.1/x",
    "https://0.0.0.0/x",
    "https://[::1]:8443/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://10.0.0.5/hook",
    "https://172.16.3.4/hook",
    "https://192.168.1.10/hook",
    "https://100.64.0.1/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://[fd00::1]/hook",
    "https://[fe80::1]/hook",
    "https://224.0.0.1/hook",
    "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
]


@dataclass
class Listener:
    """A TCP port on loopback (IPv4, and IPv6 where there is one) that counts connections."""

    port: int = 0
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def listener() -> Iterator[Listener]:
    state = Listener()
    sockets = [socket.create_server(("127.0.0.1", 0))]
    state.port = sockets[0].getsockname()[1]
    with contextlib.suppress(OSError):  # no IPv6 on this machine: IPv4 only
        sockets.append(
            socket.create_server(("::1", state.port), family=socket.AF_INET6, dualstack_ipv6=False)
        )
    stop = threading.Event()

    def accept(server: socket.socket) -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with state.lock:
                state.connections += 1
            conn.close()

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in sockets]
    for thread in threads:
        thread.start()
    yield state
    stop.set()
    for thread in threads:
        thread.join(5)
    for server in sockets:
        server.close()


def at_port(url: str, port: int) -> str:
    """`url` with its loopback-reaching host sent to `port`, so a connection would be counted."""
    for host in ("127.0.0.1", "localhost", "127.1", "2130706433", "0x7f.1", "0177.0.0.1"):
        for scheme in ("http", "https"):
            prefix = f"{scheme}://{host}"
            if url.startswith(prefix + "/") or url.startswith(prefix + ":"):
                return f"{prefix}:{port}/x"
    unspecified = "0.0.0.0"  # noqa: S104 -- a URL's host pond must refuse; nothing binds to it
    for host in (unspecified, "[::1]", "[::ffff:127.0.0.1]"):
        if url.startswith(f"https://{host}"):
            return f"https://{host}:{port}/x"
    return url


def test_every_internal_form_is_refused_at_registration(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    base, token = pond_server.base_url, get_token(*client_credentials("acme"))
    accepted = {}
    for url in INTERNAL_URLS:
        answer = httpx.post(f"{base}/insights/webhooks", headers=bearer(token), json={"url": url})
        body = answer.json()
        if answer.status_code != 400 or body["error"] != "invalid_webhook_url":
            accepted[url] = answer.text
        elif "is refused" not in body["error_description"]:
            accepted[url] = f"no reason given: {body['error_description']}"
    assert accepted == {}
    listed = httpx.get(f"{base}/insights/webhooks", headers=bearer(token))
    assert listed.json() == {"items": []}


def test_the_refusal_says_why_and_what_an_operator_can_do(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    token = get_token(*client_credentials("acme"))
    answer = httpx.post(
        f"{pond_server.base_url}/insights/webhooks",
        headers=bearer(token),
        data={"url": "https://0x7f.1/x"},
    )
    assert answer.status_code == 400
    text = answer.json()["error_description"]
    assert "0x7f.1 is 127.0.0.1, a loopback address" in text
    assert "POND_WEBHOOK_ALLOW_CIDRS" in text


def test_public_https_urls_are_still_accepted(
    pond_server: RunningServer, client_credentials: Creds, get_token: Token
) -> None:
    base, token = pond_server.base_url, get_token(*client_credentials("acme"))
    public = [
        "https://hooks.example.com/pond",
        "https://93.184.215.14/hook",
        "https://[2606:4700:4700::1111]:8443/hook",
    ]
    for url in public:
        answer = httpx.post(f"{base}/insights/webhooks", headers=bearer(token), json={"url": url})
        assert answer.status_code == 201, answer.text
    listed = httpx.get(f"{base}/insights/webhooks", headers=bearer(token)).json()["items"]
    assert [w["url"] for w in listed] == public


def test_pond_webhooks_add_refuses_them_unless_the_operator_allows_a_range(
    conninfo: str, tmp_path: Path
) -> None:
    env = {**os.environ, "POND_DATABASE_URL": conninfo, "POND_DATA_DIR": str(tmp_path / "d")}
    env.pop("POND_WEBHOOK_ALLOW_CIDRS", None)
    with psycopg.connect(conninfo) as conn:
        conn.execute("INSERT INTO organisations (slug) VALUES ('acme')")

    def add(url: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pond", "webhooks", "add", "--org", "acme", "--url", url],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    metadata = add("https://169.254.169.254/latest/meta-data")
    assert metadata.returncode == 2, metadata.stderr
    assert "link-local" in metadata.stderr
    assert "POND_WEBHOOK_ALLOW_CIDRS" in metadata.stderr
    mapped = add("https://[::ffff:127.0.0.1]/x")
    assert mapped.returncode == 2, mapped.stderr
    assert "loopback" in mapped.stderr

    opened = add("http://127.0.0.1:9/x", POND_WEBHOOK_ALLOW_CIDRS="127.0.0.0/8")
    assert opened.returncode == 0, opened.stderr
    by_name = add("http://localhost:9/x", POND_WEBHOOK_ALLOW_CIDRS="127.0.0.0/8")
    assert by_name.returncode == 2, by_name.stderr  # names of this machine stay refused
    bad_setting = add("http://127.0.0.1:9/x", POND_WEBHOOK_ALLOW_CIDRS="127.0.0.1/8")
    assert bad_setting.returncode == 8, bad_setting.stderr
    assert "POND_WEBHOOK_ALLOW_CIDRS" in bad_setting.stderr

    listed = subprocess.run(
        [sys.executable, "-m", "pond", "webhooks", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert [w["url"] for w in json.loads(listed.stdout)] == ["http://127.0.0.1:9/x"]


def _failed_snapshot(conninfo: str, client_id: str) -> uuid.UUID:
    """A snapshot of the client's organisation that failed: its event goes to every endpoint."""
    sid = uuid.uuid4()
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from,"
            " created_at_to, state, reason, expires_at)"
            " SELECT %s, org_id, client_id, 'event', '2019-03-13', '2019-03-14', 'failed',"
            " 'boom', now() + interval '1 day' FROM oauth_clients WHERE client_id = %s",
            (sid, client_id),
        )
    return sid


def _store_endpoints(conninfo: str, client_id: str, urls: Sequence[str]) -> None:
    """Endpoints written straight to the database, as a release without the check stored them."""
    with psycopg.connect(conninfo) as conn:
        for url in urls:
            conn.execute(
                "INSERT INTO webhook_endpoints (id, org_id, url, secret, events)"
                " SELECT %s, org_id, %s, 'whsec_c2VjcmV0', %s FROM oauth_clients"
                " WHERE client_id = %s",
                (uuid.uuid4(), url, list(service.EVENT_TYPES), client_id),
            )


def _deliveries(conninfo: str) -> dict[str, tuple[str, int, int | None, str | None]]:
    """Each delivery by its endpoint's URL: status, attempts, HTTP status, error."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT e.url, d.status, d.attempts, d.last_status, d.last_error"
            " FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id"
        ).fetchall()
    return {url: (status, attempts, code, error) for url, status, attempts, code, error in rows}


def test_internal_endpoints_stored_earlier_are_refused_at_delivery_and_never_contacted(
    pond_server: RunningServer, client_credentials: Creds, listener: Listener
) -> None:
    client_id, _ = client_credentials("acme")
    urls = [at_port(url, listener.port) for url in INTERNAL_URLS]
    _store_endpoints(pond_server.conninfo, client_id, urls)
    sid = _failed_snapshot(pond_server.conninfo, client_id)
    assert events.emit(pond_server.conninfo, sid, events.FAILED) == len(urls)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = _deliveries(pond_server.conninfo)
        if all(status != "pending" for status, *_ in done.values()):
            break
        time.sleep(0.1)
    unrefused = {
        url: row
        for url, row in done.items()
        if row[:3] != ("failed", 0, None) or not (row[3] or "").startswith("refused: url ")
    }
    assert unrefused == {}
    assert set(done) == set(urls)
    assert "0x7f.1 is 127.0.0.1, a loopback address" in str(
        done[f"https://0x7f.1:{listener.port}/x"]
    )
    assert "cloud metadata service" in str(
        done["https://metadata.google.internal/computeMetadata/v1/"]
    )
    time.sleep(0.5)
    assert listener.connections == 0


class FlippingResolver:
    """DNS for names that do not exist: answers as `answers` says at the moment of asking."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"{host}: Name or service not known")
        return [ipaddress.ip_address(a) for a in self.answers[host]]


def _register(conninfo: str, client_id: str, url: str, egress: Egress) -> None:
    """Register `url` for the client's organisation as the API and `pond webhooks add` do."""

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            row = await (
                await conn.execute(
                    "SELECT org_id FROM oauth_clients WHERE client_id = %s", (client_id,)
                )
            ).fetchone()
            assert row is not None
            new = await service.validate({"url": url}, egress)
            await service.register(conn, int(row[0]), new)

    asyncio.run(go())


def _deliver_all(conninfo: str, egress: Egress) -> list[BaseException | None]:
    """Run every queued delivery once, as the delivery job does."""
    with psycopg.connect(conninfo) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM webhook_deliveries ORDER BY id")]

    async def one(delivery_id: int) -> BaseException | None:
        try:
            await delivery.deliver(conninfo, delivery_id, final=False, egress=egress)
        except WebhookDeliveryFailed as exc:
            return exc
        return None

    return [asyncio.run(one(i)) for i in ids]


def test_a_name_that_resolves_to_loopback_only_at_delivery_is_refused(
    conninfo: str, client_credentials: Creds, listener: Listener
) -> None:
    client_id, _ = client_credentials("acme")
    resolver = FlippingResolver({"hooks.rebind.test": ["93.184.215.14"]})
    egress = Egress(resolver=resolver)
    url = f"https://hooks.rebind.test:{listener.port}/hook"
    _register(conninfo, client_id, url, egress)  # public when registered: accepted
    resolver.answers["hooks.rebind.test"] = ["127.0.0.1"]  # then the name turns inward
    assert events.emit(conninfo, _failed_snapshot(conninfo, client_id), events.FAILED) == 1

    assert _deliver_all(conninfo, egress) == [None]  # refused for good: no retry is asked for
    assert _deliveries(conninfo)[url] == (
        "failed",
        0,
        None,
        f"refused: url {url!r} is refused: hooks.rebind.test resolves to 127.0.0.1,"
        " a loopback address",
    )
    assert resolver.asked == ["hooks.rebind.test", "hooks.rebind.test"]
    time.sleep(0.3)
    assert listener.connections == 0


def test_a_name_with_one_internal_address_among_public_ones_is_refused(
    conninfo: str, client_credentials: Creds, listener: Listener
) -> None:
    client_id, _ = client_credentials("acme")
    url = f"https://hooks.mixed.test:{listener.port}/hook"
    _store_endpoints(conninfo, client_id, [url])
    resolver = FlippingResolver({"hooks.mixed.test": ["93.184.215.14", "::1"]})
    assert events.emit(conninfo, _failed_snapshot(conninfo, client_id), events.FAILED) == 1
    assert _deliver_all(conninfo, Egress(resolver=resolver)) == [None]
    status, attempts, _, error = _deliveries(conninfo)[url]
    assert (status, attempts) == ("failed", 0)
    assert error is not None
    assert "resolves to ::1, a loopback address" in error
    assert listener.connections == 0


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for the DNS name `name` that signs itself, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
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


@dataclass
class Seen:
    """What a receiver saw: TLS server names, and each request's path and Host header."""

    server_names: list[str | None] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)


def _receiver(
    answer: Callable[[BaseHTTPRequestHandler], None], context: ssl.SSLContext | None = None
) -> tuple[ThreadingHTTPServer, Seen]:
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen.requests.append((self.path, self.headers.get("host", "")))
            answer(self)

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if context is not None:
        context.sni_callback = lambda _sock, name, _ctx: seen.server_names.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def _ok(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(204)
    handler.end_headers()


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Seen]]:
    """An https receiver on 127.0.0.1 whose certificate names hooks.pinned.test, trusted."""
    cert_file, key_file = _certificate(tmp_path, "hooks.pinned.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trusted as a private CA would be
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server, seen = _receiver(_ok, context)
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_a_delivery_connects_to_the_checked_address_and_keeps_the_name_for_host_and_tls(
    conninfo: str, client_credentials: Creds, tls_receiver: tuple[int, Seen]
) -> None:
    port, seen = tls_receiver
    client_id, _ = client_credentials("acme")
    # The operator's own network: here, loopback. The names exist only in this resolver,
    # so a request that arrives went to the address it gave, not to a second look-up.
    policy = AddressPolicy(parse_networks(["127.0.0.0/8"]))
    resolver = FlippingResolver(
        {"hooks.pinned.test": ["127.0.0.1"], "other.pinned.test": ["127.0.0.1"]}
    )
    egress = Egress(policy, resolver)
    good = f"https://hooks.pinned.test:{port}/in?k=1"
    wrong_name = f"https://other.pinned.test:{port}/in"
    _register(conninfo, client_id, good, egress)
    _register(conninfo, client_id, wrong_name, egress)
    assert events.emit(conninfo, _failed_snapshot(conninfo, client_id), events.FAILED) == 2

    outcomes = _deliver_all(conninfo, egress)
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "WebhookDeliveryFailed"]
    rows = _deliveries(conninfo)
    assert rows[good] == ("delivered", 1, 204, None)
    status, attempts, _, error = rows[wrong_name]
    assert (status, attempts) == ("retrying", 1)
    assert error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in error  # checked against other.pinned.test
    assert seen.requests == [("/in?k=1", f"hooks.pinned.test:{port}")]
    assert sorted(n or "" for n in seen.server_names) == ["hooks.pinned.test", "other.pinned.test"]


def test_redirects_are_not_followed(
    conninfo: str, client_credentials: Creds, listener: Listener
) -> None:
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(307)
        handler.send_header("location", f"http://127.0.0.1:{listener.port}/elsewhere")
        handler.send_header("content-length", "0")
        handler.end_headers()

    server, seen = _receiver(redirect)
    try:
        client_id, _ = client_credentials("acme")
        egress = Egress(AddressPolicy(parse_networks(["127.0.0.1/32"])))
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        _register(conninfo, client_id, url, egress)
        assert events.emit(conninfo, _failed_snapshot(conninfo, client_id), events.FAILED) == 1
        (outcome,) = _deliver_all(conninfo, egress)
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(outcome, WebhookDeliveryFailed)
    status, attempts, code, _ = _deliveries(conninfo)[url]
    assert (status, attempts, code) == ("retrying", 1, 307)
    assert len(seen.requests) == 1
    assert listener.connections == 0

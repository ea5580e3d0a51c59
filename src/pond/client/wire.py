"""The sync client's transports: how its requests reach the network.

`TlsOnDemand` carries the API's requests and loads certificates only for
https. Part bodies go through `PartTransport`, which reads them with the
standard library (`PartsHttp` says when). `pond.client.async_wire` holds the
async client's counterparts, under the same names.

Why part bodies bypass httpx's reading: httpx reads a body 64 KiB at a time
and passes each piece through h11's buffer, copying it twice while holding the
interpreter lock; four parts downloaded in parallel then take turns on one
core. `PartTransport` sends the GET with `http.client` and takes the body from
the socket as it comes, up to `BLOCK` bytes at a time, with the lock released
while it waits: parallel parts really are parallel, and a gigabyte takes about
half the CPU (docs/benchmarks.md, case 7).

Everything above the transport stays httpx's: redirects, status handling,
timeouts as the client sets them. Errors become httpx's own (`ConnectError`,
`ReadTimeout`, `RemoteProtocolError`, ...), so callers retry them as before.
Only bodiless requests are supported: signed part links are GETs. A new
connection serves each request; a part is large enough not to miss reuse.

A reader that handles each block before asking for the next can skip even the
allocation of a new block: `blocks(response)` receives the body into one buffer,
reused from block to block. A fresh block per receive costs the kernel a fresh
mapping, and zeroing and faulting in its pages: more CPU than the copy itself.

A block is 256 KiB: small enough to stay in a core's cache from the receive to the
hash to the write, so that each byte comes from memory once. In repeated runs of
1 GB in four parts at once, it took up to a third less CPU than 1 MiB blocks.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.request import getproxies

import httpx

BLOCK = 256 << 10  # the most bytes taken from the socket at once
BODY = "pond.body"  # the response extension that holds a `Body`


@contextmanager
def _receiving() -> Iterator[None]:
    """Turn what `http.client` raises while a body arrives into httpx's errors."""
    try:
        yield
    except TimeoutError as error:
        raise httpx.ReadTimeout(f"the body stopped arriving: {error}") from error
    except (OSError, http.client.HTTPException) as error:
        raise httpx.ReadError(f"the body could not be read: {error}") from error


class Body(httpx.SyncByteStream):
    """A response body read in `BLOCK`s; closing it closes the connection."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._connection = connection
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        with _receiving():
            # At most one receive each: a cut connection loses none of the bytes that came.
            while block := response.read1(BLOCK):
                yield block
        self._check_whole()

    def readinto(self, buffer: memoryview) -> int:
        """Receive the next bytes of the body into `buffer`: how many came, 0 at its end.

        At most one receive, as `__iter__`. Raises httpx's `ReadTimeout`,
        `ReadError`, or `RemoteProtocolError` when the body ends short.
        """
        response = self._response
        with _receiving():
            if response.chunked or response.length is None or response.fp is None:
                block = response.read1(len(buffer))
                count = len(block)
                buffer[:count] = block
            elif response.length:
                # What `read1` does, into the caller's buffer instead of a new bytes object.
                count = response.fp.readinto1(buffer[: response.length])
                response.length -= count
            else:
                count = 0
        if not count:
            self._check_whole()
        return count

    def _check_whole(self) -> None:
        # http.client ends quietly when the peer closes early: say what httpx would.
        if self._response.length:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
                f" ({self._response.length} bytes missing)"
            )

    def close(self) -> None:
        self._response.close()
        self._connection.close()


def blocks(response: httpx.Response) -> Iterator[bytes | memoryview]:
    """The body of a streamed `response`, block by block, as it arrives.

    A body that came through `PartTransport` is received into one buffer: each
    block is a view of it, valid only until the next one is asked for. Any other
    body comes as httpx's own chunks. Raises httpx's transport errors.
    """
    body = response.extensions.get(BODY)
    if not isinstance(body, Body):
        yield from response.iter_raw()
        return
    buffer = memoryview(bytearray(BLOCK))
    while count := body.readinto(buffer):
        yield buffer[:count]


class PartTransport(httpx.BaseTransport):
    """Bodiless requests over `http.client`, one connection each; thread-safe."""

    def __init__(self) -> None:
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def _tls_context(self) -> ssl.SSLContext:
        with self._lock:  # loading certificates takes tens of ms: only for https, once
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            return self._tls

    def _connect(self, url: httpx.URL, timeout: float | None) -> http.client.HTTPConnection:
        if url.scheme == "https":
            secure = http.client.HTTPSConnection(
                url.host, url.port, timeout=timeout, context=self._tls_context()
            )
            connection: http.client.HTTPConnection = secure
        elif url.scheme == "http":
            connection = http.client.HTTPConnection(url.host, url.port, timeout=timeout)
        else:
            raise httpx.UnsupportedProtocol(f"cannot download from a {url.scheme}:// link")
        try:
            connection.connect()
        except TimeoutError as error:
            raise httpx.ConnectTimeout(f"no connection to {url.host} in time") from error
        except OSError as error:
            raise httpx.ConnectError(f"cannot connect to {url.host}: {error}") from error
        return connection

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in ("GET", "HEAD") or request.headers.get("content-length"):
            raise httpx.UnsupportedProtocol("this transport only sends requests without a body")
        timeouts = request.extensions.get("timeout", {})
        connection = self._connect(request.url, timeouts.get("connect"))
        try:
            if connection.sock is not None:
                connection.sock.settimeout(timeouts.get("read"))
            target = request.url.raw_path.decode("ascii")
            connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                connection.putheader(name.decode("latin-1"), value.decode("latin-1"))
            connection.endheaders()
            response = connection.getresponse()
        except TimeoutError as error:
            connection.close()
            raise httpx.ReadTimeout(f"no answer from {request.url.host} in time") from error
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise httpx.RemoteProtocolError(
                f"no answer from {request.url.host}: {error}"
            ) from error
        body = Body(connection, response)
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            stream=body,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
                BODY: body,
            },
        )


class PartsHttp:
    """The HTTP client that fetches part bodies from their signed links.

    One over `PartTransport`, made at the first download; but `http`, the API's
    client, itself when its owner chose the transport (`chosen`) or the
    environment names proxies (httpx's own transport knows them).
    """

    def __init__(self, http: httpx.Client, *, chosen: bool) -> None:
        self._http = http
        self._own = not chosen and not getproxies()
        self._parts: httpx.Client | None = None
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        if not self._own:
            return self._http
        with self._lock:
            if self._parts is None:
                self._parts = httpx.Client(
                    timeout=self._http.timeout,
                    headers={"User-Agent": self._http.headers["User-Agent"]},
                    transport=PartTransport(),
                )
            return self._parts

    def close(self) -> None:
        """Close the client made for parts, if one was (`http` is its owner's to close)."""
        if self._parts is not None:
            self._parts.close()


class TlsOnDemand(httpx.BaseTransport):
    """httpx's own transport, whose certificates are loaded at the first https request.

    Loading them takes tens of milliseconds, which a command talking to an
    http:// server (a `pond serve` nearby) never needs to spend.
    """

    def __init__(self) -> None:
        self._plain = httpx.HTTPTransport(verify=False)  # for http:// URLs only: no TLS
        self._secure: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _for(self, request: httpx.Request) -> httpx.HTTPTransport:
        if request.url.scheme != "https":
            return self._plain
        with self._lock:
            if self._secure is None:
                self._secure = httpx.HTTPTransport()
            return self._secure

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._for(request).handle_request(request)

    def close(self) -> None:
        self._plain.close()
        if self._secure is not None:
            self._secure.close()


def default_transport() -> httpx.BaseTransport | None:
    """`TlsOnDemand`, unless the environment names proxies (httpx then sets them up itself)."""
    return None if getproxies() else TlsOnDemand()

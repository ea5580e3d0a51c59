"""An httpx transport for part downloads that reads bodies with the standard library.

httpx reads a body 64 KiB at a time and passes each piece through h11's
buffer, copying it twice while holding the interpreter lock; four parts
downloaded in parallel then take turns on one core. `PartTransport` sends the
GET with `http.client` and takes the body from the socket as it comes, up to
1 MiB at a time, with the lock released while it waits: parallel parts really are
parallel, and a gigabyte takes about half the CPU (docs/benchmarks.md, case 7).

Everything above the transport stays httpx's: redirects, status handling,
timeouts as the client sets them. Errors become httpx's own (`ConnectError`,
`ReadTimeout`, `RemoteProtocolError`, ...), so callers retry them as before.
Only bodiless requests are supported: signed part links are GETs. A new
connection serves each request; a part is large enough not to miss reuse.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator

import httpx

BLOCK = 1 << 20  # the most bytes taken from the socket at once


class _Body(httpx.SyncByteStream):
    """A response body read in `BLOCK`s; closing it closes the connection."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._connection = connection
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        try:
            # At most one receive each: a cut connection loses none of the bytes that came.
            while block := response.read1(BLOCK):
                yield block
        except TimeoutError as error:
            raise httpx.ReadTimeout(f"the body stopped arriving: {error}") from error
        except (OSError, http.client.HTTPException) as error:
            raise httpx.ReadError(f"the body could not be read: {error}") from error
        # http.client ends quietly when the peer closes early: say what httpx would.
        if response.length:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
                f" ({response.length} bytes missing)"
            )

    def close(self) -> None:
        self._response.close()
        self._connection.close()


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
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            stream=_Body(connection, response),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
            },
        )

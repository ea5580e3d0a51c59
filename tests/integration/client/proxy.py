"""A small fault-injecting TCP proxy on loopback, for the client's resilience tests.

It relays bytes between the client and a real server and can, for download
connections (`GET /objects/...`), cut the connection after some bytes of the
answer, or slow the answer down. It records the request heads and answer
status lines it sees, so a test can tell what went over the wire.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"^(GET|HEAD|POST|DELETE|PUT) (\S+) HTTP/1\.[01]\r\n", re.M)
_RANGE = re.compile(rb"^range: *(bytes=\d+-\d*)\r$", re.I | re.M)
_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


@dataclass
class Seen:
    """What went through: request lines with their Range, and answer statuses."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def downloads(self) -> list[tuple[str, str | None]]:
        return [(path, rng) for method, path, rng in self.requests if path.startswith("/objects/")]


class FaultyProxy:
    """Relays 127.0.0.1:<port> to `target_port`; faults apply to download connections.

    The port is known at once, so a server can be started with the proxy as its
    public URL before `target_port` is set to that server's port.
    """

    def __init__(self, target_port: int = 0) -> None:
        self.target_port = target_port
        self.cut_after: int | None = None  # answer bytes before a cut
        self.cuts_left = 0
        self.delay_per_chunk = 0.0  # seconds slept per relayed chunk of a download answer
        self.chunk = 16 * 1024
        self.seen = Seen()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take_cut(self) -> bool:
        with self._lock:
            if self.cut_after is not None and self.cuts_left > 0:
                self.cuts_left -= 1
                return True
            return False

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:  # the server is down: the client sees its connection closed
            _shut(client)
            return
        state = {"download": False, "cut": False, "sent": 0}

        def upstream() -> None:
            try:
                while data := client.recv(65536):
                    for match in _REQUEST_LINE.finditer(data):
                        path = match.group(2).decode()
                        head = data[match.start() :].split(b"\r\n\r\n", 1)[0] + b"\r\n"
                        found = _RANGE.search(head)
                        rng = found.group(1).decode() if found else None
                        with self._lock:
                            self.seen.requests.append((match.group(1).decode(), path, rng))
                        if path.startswith("/objects/"):
                            state["download"] = True
                            state["cut"] = self._take_cut()
                            state["sent"] = 0
                    server.sendall(data)
            except OSError:
                pass
            finally:
                _shut(server)

        threading.Thread(target=upstream, daemon=True).start()
        try:
            while data := server.recv(self.chunk):
                for match in _STATUS.finditer(data[:64]):
                    with self._lock:
                        self.seen.statuses.append(int(match.group(1)))
                if state["download"] and self.delay_per_chunk:
                    time.sleep(self.delay_per_chunk)
                if state["cut"] and self.cut_after is not None:
                    room = self.cut_after - int(state["sent"])
                    if len(data) >= room:
                        client.sendall(data[: max(0, room)])
                        _reset(client)
                        _shut(server)
                        return
                state["sent"] = int(state["sent"]) + len(data)
                client.sendall(data)
        except OSError:
            pass
        finally:
            _shut(client)
            _shut(server)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a dropped connection looks to the client."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)  # wakes the other thread's recv without sending a FIN
    sock.close()

"""Load generators for cases 8 and 15: `wrk` when it is on PATH, a lean asyncio client otherwise.

Both keep a number of keep-alive connections busy for a number of seconds, each
sending its next request (a GET, or a POST of a fixed body) as soon as the last
answer is in (a closed loop), and both fail loudly on any answer other than 200
or any socket error. A generator written in Python costs a core at the rates one
`pond serve` answers, and on a small machine that core is taken from the server:
its latency then is the generator's.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.measure import percentile

# One thread keeps the connections busy at several times the rate one `pond serve`
# process answers, on a small part of one core; a second thread would only take
# CPU from the server and PostgreSQL on a machine with few cores.
WRK_THREADS = 1

# wrk's Lua hooks: count answers other than 200 in each thread (wrk's own count
# misses 3xx), then print the run's figures, latency in microseconds, as one JSON line.
WRK_REPORT = """\
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  unexpected = 0
end

function response(status, headers, body)
  if status ~= 200 then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local unexpected = 0
  for _, thread in ipairs(threads) do
    unexpected = unexpected + thread:get("unexpected")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "microseconds": %d, "p99_microseconds": %d,'
      .. ' "socket_errors": %d, "unexpected": %d}\\n',
    summary.requests, summary.duration, latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout, unexpected))
end
"""


@dataclass(frozen=True)
class Load:
    """One run: how many requests were answered, over how many seconds, and their p99 (s)."""

    requests: int
    seconds: float
    p99: float

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds


@dataclass(frozen=True)
class Wrk:
    """`wrk` with `clients` connections on `WRK_THREADS` threads, its figures from `WRK_REPORT`."""

    executable: str
    clients: int

    @property
    def description(self) -> str:
        return f"wrk, {WRK_THREADS} thread, {self.clients} keep-alive connections"

    def __call__(
        self, url: str, headers: Mapping[str, str], seconds: int, body: bytes | None = None
    ) -> Load:
        """GET `url` (POST `body` if given) for `seconds` (whole seconds: wrk takes no less)."""
        with tempfile.TemporaryDirectory(prefix="pond-wrk-") as tmp:
            script = Path(tmp) / "report.lua"
            request = "" if body is None else f'wrk.method = "POST"\nwrk.body = {_lua(body)}\n'
            script.write_text(request + WRK_REPORT)
            argv = [self.executable, f"-t{WRK_THREADS}", f"-c{self.clients}", f"-d{seconds}s"]
            for name, value in headers.items():
                argv += ["-H", f"{name}: {value}"]
            done = subprocess.run(  # noqa: S603 - wrk from PATH, arguments of our own
                [*argv, "-s", str(script), url],
                capture_output=True,
                text=True,
                check=True,
                timeout=seconds + 60,
            )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if figures["unexpected"] or figures["socket_errors"]:
            method = "GET" if body is None else "POST"
            raise RuntimeError(
                f"wrk {method} {url}: {figures['unexpected']} answer(s) other than 200,"
                f" {figures['socket_errors']} socket error(s) or timeout(s)"
            )
        return Load(
            requests=figures["requests"],
            seconds=figures["microseconds"] / 1e6,
            p99=figures["p99_microseconds"] / 1e6,
        )


@dataclass(frozen=True)
class AsyncioClients:
    """`clients` raw HTTP/1.1 connections on one asyncio loop, in a fresh process of their own.

    No HTTP library: each request is the same prebuilt bytes, each answer is read
    up to the end of its head and then its content-length, which costs a fraction
    of what httpx does. The process is spawned, not forked, so no state of the
    benchmark's (a large heap for the garbage collector to walk) comes along.
    """

    clients: int

    @property
    def description(self) -> str:
        return (
            "wrk is not on PATH, so raw HTTP/1.1 on asyncio in a process of its own,"
            f" {self.clients} keep-alive connections"
        )

    def __call__(
        self, url: str, headers: Mapping[str, str], seconds: int, body: bytes | None = None
    ) -> Load:
        """GET `url` (POST `body` if given) for `seconds`."""
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            return pool.submit(
                _asyncio_load, url, dict(headers), self.clients, seconds, body
            ).result()


def generator(clients: int) -> Wrk | AsyncioClients:
    """`wrk` when it is on PATH, else the asyncio clients."""
    executable = shutil.which("wrk")
    return Wrk(executable, clients) if executable else AsyncioClients(clients)


def _lua(raw: bytes) -> str:
    """`raw` as a Lua string literal (every byte escaped: no quoting rules to get wrong)."""
    return '"' + "".join(f"\\{byte}" for byte in raw) + '"'


def _asyncio_load(
    url: str, headers: dict[str, str], clients: int, seconds: float, body: bytes | None = None
) -> Load:
    try:
        return asyncio.run(_closed_loop(url, headers, clients, seconds, body))
    except RuntimeError as error:
        raise RuntimeError(f"{'GET' if body is None else 'POST'} {url}: {error}") from error


async def _closed_loop(
    url: str, headers: dict[str, str], clients: int, seconds: float, body: bytes | None
) -> Load:
    """Open `clients` connections, then send the request on each, back to back, for `seconds`."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    method = "GET" if body is None else "POST"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    connections = [
        await asyncio.open_connection(parts.hostname, parts.port or 80) for _ in range(clients)
    ]
    latencies: list[float] = []
    started = time.perf_counter()
    try:
        await asyncio.gather(
            *(
                _client(reader, writer, request, started + seconds, latencies)
                for reader, writer in connections
            )
        )
    finally:
        for _, writer in connections:
            writer.close()
    return Load(len(latencies), time.perf_counter() - started, percentile(latencies, 0.99))


async def _client(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    deadline: float,
    latencies: list[float],
) -> None:
    """Send `request` and read its answer until `deadline`, appending each latency."""
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        # No drain: one small request at a time never fills the write buffer.
        writer.write(request)
        await _read_answer(reader)
        latencies.append(time.perf_counter() - began)


async def _read_answer(reader: asyncio.StreamReader) -> None:
    """Read one answer off `reader`; RuntimeError unless it is a 200 with a content-length."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status, *fields = head.split("\r\n")
    if status.split(" ", 2)[1] != "200":
        raise RuntimeError(f"the server answered {status!r}")
    lengths = [
        int(value)
        for name, _, value in (field.partition(":") for field in fields)
        if name.strip().lower() == "content-length"
    ]
    if not lengths:
        raise RuntimeError("an answer without a content-length (chunked?) is not supported")
    await reader.readexactly(lengths[0])

"""Case 20's clients, each in a process of its own: many long-polls, and the other requests.

`Waiters` keeps N connections each in a `GET <href>?wait=S` long-poll, asking again
as soon as an answer comes, until the snapshot is complete or it is told to stop.
Raw HTTP/1.1 on asyncio, as in `benchmarks.load`: a thousand connections cost
its process little. `Others` sends the other requests a user makes (a token, a
snapshot GET, a snapshot POST, `/healthz`) at a fixed pace, so their share of the
database's work is the same whatever the number of waiters, and records each one's
start and latency.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any
from urllib.parse import urlsplit

import httpx

_SPAWN = multiprocessing.get_context("spawn")
KINDS = ("token", "GET", "POST", "healthz")


@dataclass
class Waiting:
    """What the waiters saw: answers by state, and when the last of them saw `complete`."""

    answers: dict[str, int] = field(default_factory=dict)
    last_complete: float | None = None  # time.monotonic() of the process
    errors: list[str] = field(default_factory=list)


def _request(href: str, token: str, wait: float) -> bytes:
    parts = urlsplit(href)
    lines = [
        f"GET {parts.path}?wait={wait:g} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Authorization: Bearer {token}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status, *fields = head.split("\r\n")
    length = next(
        int(value)
        for name, _, value in (line.partition(":") for line in fields)
        if name.strip().lower() == "content-length"
    )
    return int(status.split(" ", 2)[1]), await reader.readexactly(length)


async def _wait_many(
    hrefs: list[str], token: str, count: int, wait: float, ready: Event, stop: Event
) -> Waiting:
    seen = Waiting()
    host = urlsplit(hrefs[0])
    connections = [await asyncio.open_connection(host.hostname, host.port) for _ in range(count)]

    async def one(number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = _request(hrefs[number % len(hrefs)], token, wait)
        while True:
            writer.write(request)
            status, body = await _answer(reader)
            if status != 200:
                seen.errors.append(f"{status} {body[:200]!r}")
                return
            state = str(json.loads(body)["items"][0]["state"])
            seen.answers[state] = seen.answers.get(state, 0) + 1
            if state != "pending" and state != "running":
                seen.last_complete = time.monotonic()
                return

    tasks = [asyncio.create_task(one(n, *pair)) for n, pair in enumerate(connections)]
    await asyncio.sleep(0)  # every request is written
    ready.set()
    # A multiprocessing Event cannot be awaited: look at it now and then.
    while not stop.is_set() and not all(task.done() for task in tasks):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for _, writer in connections:
        writer.close()
    return seen


def _waiters_main(
    hrefs: list[str], token: str, count: int, wait: float, ready: Event, stop: Event, out: Any
) -> None:
    out.put(asyncio.run(_wait_many(hrefs, token, count, wait, ready, stop)))


class Waiters:
    """`count` long-polls on `hrefs` (spread evenly), in a process of their own, until `finish`."""

    def __init__(self, hrefs: list[str], token: str, count: int, wait: float) -> None:
        self._ready, self._stop = _SPAWN.Event(), _SPAWN.Event()
        self._out: Any = _SPAWN.Queue()
        self._process = _SPAWN.Process(
            target=_waiters_main,
            args=(hrefs, token, count, wait, self._ready, self._stop, self._out),
            daemon=True,
        )

    def start(self) -> None:
        """Start, and return once every long-poll is sent."""
        self._process.start()
        if not self._ready.wait(120):
            raise RuntimeError("the long-polls could not all be sent in 120 s")

    def finish(self, timeout: float = 60) -> Waiting:
        """What they saw, once every one has its snapshot complete or `timeout` has passed."""
        try:
            seen: Waiting = self._out.get(timeout=timeout)
        finally:
            self._stop.set()
        self._process.join(30)
        return seen

    def stop(self) -> Waiting:
        """Hang up every long-poll now; what they saw."""
        self._stop.set()
        return self.finish()


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # time.monotonic()
    seconds: float


async def _paced(
    kind: str, send: Any, every: float, stop: Event, samples: list[Sample], errors: list[str]
) -> None:
    next_at = time.monotonic()
    while not stop.is_set():
        started = time.monotonic()
        answer: httpx.Response = await send()
        samples.append(Sample(kind, started, time.monotonic() - started))
        if answer.status_code >= 300:
            errors.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
        next_at += every
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def _others(
    base: str,
    credentials: tuple[str, str],
    get_href: str,
    post: dict[str, str],
    rate: float,
    stop: Event,
) -> tuple[list[Sample], list[str]]:
    samples: list[Sample] = []
    errors: list[str] = []
    async with httpx.AsyncClient(timeout=60) as http:
        token = (
            await http.post(
                f"{base}/oauth2/token",
                auth=credentials,
                data={"grant_type": "client_credentials"},
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        sends = {
            "token": lambda: http.post(
                f"{base}/oauth2/token", auth=credentials, data={"grant_type": "client_credentials"}
            ),
            "GET": lambda: http.get(get_href, headers=headers),
            "POST": lambda: http.post(f"{base}/insights/snapshots", headers=headers, data=post),
            "healthz": lambda: http.get(f"{base}/healthz"),
        }
        await asyncio.gather(
            *(_paced(kind, sends[kind], 1 / rate, stop, samples, errors) for kind in KINDS)
        )
    return samples, errors


def _others_main(
    base: str,
    credentials: tuple[str, str],
    get_href: str,
    post: dict[str, str],
    rate: float,
    stop: Event,
    out: Any,
) -> None:
    out.put(asyncio.run(_others(base, credentials, get_href, post, rate, stop)))


class Others:
    """Each of `KINDS`, `rate` times a second, in a process of its own, until `stop`."""

    def __init__(
        self,
        base: str,
        credentials: tuple[str, str],
        get_href: str,
        post: dict[str, str],
        rate: float,
    ) -> None:
        self._stop = _SPAWN.Event()
        self._out: Any = _SPAWN.Queue()
        self._process = _SPAWN.Process(
            target=_others_main,
            args=(base, credentials, get_href, post, rate, self._stop, self._out),
            daemon=True,
        )

    def start(self) -> None:
        self._process.start()

    def stop(self) -> list[Sample]:
        """Every request's sample; RuntimeError if any was answered other than 2xx."""
        self._stop.set()
        samples, errors = self._out.get(timeout=120)
        self._process.join(30)
        if errors:
            raise RuntimeError(f"{len(errors)} other request(s) failed, first: {errors[0]}")
        return list(samples)

"""Case 6: a signed-link download of one large part against `python -m http.server`.

Both servers run in their own process on loopback, so neither shares a GIL with
the client; the client is the same httpx streaming loop for both.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from benchmarks.environment import END, START, Bench
from benchmarks.measure import Comparison, Series, alternate, timed

_CHUNK = 1 << 20
_SCOPE = "pond/insights.snapshots"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            httpx.head(url, timeout=2)
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server for {url} did not start in {seconds:.0f} s")


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path, probe: str) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter running pond or http.server
            argv, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(probe, process)
            yield
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _snapshot_link(base: str, bench: Bench) -> tuple[str, float]:
    """Schedule a snapshot of the whole range, wait for it; its one link and POST-to-complete s."""
    token = httpx.post(
        f"{base}/oauth2/token",
        auth=(bench.client_id, bench.client_secret),
        data={"grant_type": "client_credentials", "scope": _SCOPE},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    answer = httpx.post(
        f"{base}/insights/snapshots",
        headers=headers,
        data={"created_at_from": START.isoformat(), "created_at_to": END.isoformat()},
    )
    answer.raise_for_status()
    href = answer.json()["snapshot"]["href"]
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        items = httpx.get(href, headers=headers, timeout=30).json()["items"]
        states = {item["state"] for item in items}
        if states == {"complete"}:
            if len(items) != 1:
                raise RuntimeError(f"expected one part, got {len(items)}")
            return str(items[0]["href"]), time.perf_counter() - started
        if "failed" in states:
            raise RuntimeError(f"the benchmark snapshot failed: {items}")
        time.sleep(0.05)
    raise RuntimeError("the benchmark snapshot did not complete")


def download(url: str) -> int:
    """Stream `url` to nowhere; return the bytes received."""
    received = 0
    with httpx.Client(timeout=60) as client, client.stream("GET", url) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_raw(_CHUNK):
            received += len(chunk)
    return received


def compare(bench: Bench) -> list[Comparison]:
    serve_dir = bench.work_dir / "serve"
    serve_dir.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        POND_DATABASE_URL=bench.conninfo,
        POND_DATA_DIR=str(serve_dir),
        POND_PART_MAX_ROWS=str(bench.rows + 1),
        POND_LOG_FORMAT="json",
    )
    pond_port, static_port = free_port(), free_port()
    pond_base = f"http://127.0.0.1:{pond_port}"
    pond_argv = [sys.executable, "-m", "pond", "serve", "--port", str(pond_port)]
    with _process(pond_argv, env, bench.work_dir / "serve.log", f"{pond_base}/healthz"):
        link, post_to_complete = _snapshot_link(pond_base, bench)
        key = urlsplit(link).path.removeprefix("/objects/")
        part = serve_dir / "objects" / key
        size = part.stat().st_size
        static_argv = [sys.executable, "-m", "http.server", str(static_port)]
        static_argv += ["--bind", "127.0.0.1", "--directory", str(serve_dir / "objects")]
        static_url = f"http://127.0.0.1:{static_port}/{key}"
        with _process(static_argv, env, bench.work_dir / "http-server.log", static_url):

            def fetch(url: str) -> float:
                got = 0

                def go() -> None:
                    nonlocal got
                    got = download(url)

                seconds = timed(go)
                if got != size:
                    raise RuntimeError(f"{url} gave {got} bytes, the part has {size}")
                return seconds

            pond = Series("pond signed link (uvicorn + Starlette FileResponse)")
            static = Series("python -m http.server")
            alternate(
                bench.repeat, (pond, lambda _: fetch(link)), (static, lambda _: fetch(static_url))
            )
    megabytes = size / 1e6
    return [
        Comparison(
            case="6",
            title="Download of one part: pond signed link vs python -m http.server",
            pond=pond,
            reference=static,
            target=0.9,
            higher_is_better=True,
            ratio_meaning="pond throughput / http.server throughput",
            notes=[
                f"one part of {bench.rows:,} rows, {megabytes:,.1f} MB, streamed by httpx;"
                " one untimed warm-up download from each server first",
                f"throughput (median): pond {megabytes / pond.median:,.0f} MB/s,"
                f" http.server {megabytes / static.median:,.0f} MB/s",
                f"that snapshot took {post_to_complete:.2f} s from POST to complete",
            ],
        )
    ]

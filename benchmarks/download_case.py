"""Case 6: a signed-link download of one large part against `python -m http.server`.

Both servers run in their own process on loopback, so neither shares a GIL with
the client; the client is the same httpx streaming loop for both.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlsplit

import httpx

from benchmarks.environment import Bench
from benchmarks.measure import Comparison, Series, alternate, timed
from benchmarks.serving import free_port, process, serve

_CHUNK = 1 << 20


def download(url: str) -> int:
    """Stream `url` to nowhere; return the bytes received."""
    received = 0
    with httpx.Client(timeout=60) as client, client.stream("GET", url) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_raw(_CHUNK):
            received += len(chunk)
    return received


def compare(bench: Bench) -> list[Comparison]:
    # One part of every row: one export stream (a snapshot this large is split over the
    # streams otherwise), and a limit far above the rows (a snapshot near the limit is
    # planned as a small first part and the rest).
    one_part = {"POND_EXPORT_STREAMS": "1"}
    with serve(bench, "serve", part_max_rows=2 * bench.rows, settings=one_part) as api:
        started = time.perf_counter()
        items = api.wait(api.create())
        post_to_complete = time.perf_counter() - started
        if len(items) != 1:
            raise RuntimeError(f"expected one part, got {len(items)}")
        link = str(items[0]["href"])
        key = urlsplit(link).path.removeprefix("/objects/")
        objects = api.data_dir / "objects"
        size = (objects / key).stat().st_size
        static_port = free_port()
        static_argv = [sys.executable, "-m", "http.server", str(static_port)]
        static_argv += ["--bind", "127.0.0.1", "--directory", str(objects)]
        static_url = f"http://127.0.0.1:{static_port}/{key}"
        with process(static_argv, dict(os.environ), bench.work_dir / "http-server.log", static_url):

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
                bench.repeat,
                (pond, lambda _: fetch(link)),
                (static, lambda _: fetch(static_url)),
                warm_up=True,
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

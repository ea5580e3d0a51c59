"""Case 7: `pond snapshot download` (the real command) against curl fetching the same links.

One server process, its part size set so the snapshot has at least four parts.
pond runs as a user runs it: a fresh `pond` process with credentials in the
environment, which gets a token, reads the snapshot, downloads its parts in
parallel and checks each one. curl gets the same signed links and runs one
process per part, all started together.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.environment import Bench
from benchmarks.measure import Comparison, Series, alternate, timed
from benchmarks.serving import Api, serve

PARTS = 4


def _digests(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.glob("*.csv"))
    }


def _pond_env(bench: Bench, api: Api, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env.update(
        POND_API_URL=api.base,
        POND_TOKEN_URL=f"{api.base}/oauth2/token",
        POND_CLIENT_ID=bench.client_id,
        POND_CLIENT_SECRET=bench.client_secret,
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    return env


def _pond_command(env: dict[str, str], *args: str) -> float:
    """Seconds for one `pond` command in a fresh process (its output kept only for errors)."""
    argv = [sys.executable, "-m", "pond", *args]
    done: subprocess.CompletedProcess[str] | None = None

    def go() -> None:
        nonlocal done
        done = subprocess.run(argv, env=env, capture_output=True, text=True)  # noqa: S603 - our interpreter running pond

    seconds = timed(go)
    assert done is not None
    if done.returncode != 0:
        raise RuntimeError(f"pond {' '.join(args)} exited with {done.returncode}: {done.stderr}")
    return seconds


def _curl_all(links: dict[str, str], out: Path) -> float:
    """Seconds for one curl per link, all started together, until the last one ends."""
    started = time.perf_counter()
    running = [
        subprocess.Popen(["curl", "-s", "-f", "-o", str(out / f"{name}.csv"), link])  # noqa: S603, S607 - curl on our links
        for name, link in links.items()
    ]
    codes = [child.wait() for child in running]
    seconds = time.perf_counter() - started
    if any(codes):
        raise RuntimeError(f"curl failed: exit codes {codes}")
    return seconds


def compare(bench: Bench) -> list[Comparison]:
    part_rows = max(1, math.ceil(bench.rows / PARTS))
    work = bench.work_dir / "client-case"
    with serve(bench, "serve-parts", part_max_rows=part_rows) as api:
        href = api.create()
        items = api.wait(href)
        sid = href.rstrip("/").rsplit("/", 1)[-1]
        links = {f"event_{n:03d}": str(item["href"]) for n, item in enumerate(items)}
        size = sum(int(str(item["size"])) for item in items)
        env = _pond_env(bench, api, work)
        digests: dict[str, dict[str, str]] = {}

        def run(tool: str) -> float:
            out = work / tool
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            if tool == "pond":
                seconds = _pond_command(env, "snapshot", "download", sid, "--out", str(out))
            else:
                seconds = _curl_all(links, out)
            digests[tool] = _digests(out)
            return seconds

        pond = Series("pond snapshot download ID --out DIR (a fresh process)")
        curl = Series(f"curl -s -o, one process per part, {len(links)} at once")
        alternate(
            bench.repeat, (pond, lambda _: run("pond")), (curl, lambda _: run("curl")), warm_up=True
        )
        startup = Series("pond snapshot show ID")
        for _ in range(bench.repeat):
            startup.values.append(_pond_command(env, "snapshot", "show", sid, "--json"))
    if digests["pond"] != digests["curl"] or len(digests["pond"]) != len(links):
        raise RuntimeError(f"pond and curl downloaded different files: {digests}")
    shutil.rmtree(work, ignore_errors=True)
    megabytes = size / 1e6
    return [
        Comparison(
            case="7",
            title="Download of all parts: pond snapshot download vs curl in parallel",
            pond=pond,
            reference=curl,
            target=1.0,
            higher_is_better=True,
            ratio_meaning="pond throughput / curl throughput",
            notes=[
                f"{len(links)} parts of at most {part_rows:,} rows, {megabytes:,.1f} MB in all;"
                " both wrote the same files (SHA-256 of every part compared)",
                f"throughput (median): pond {megabytes / pond.median:,.0f} MB/s,"
                f" curl {megabytes / curl.median:,.0f} MB/s",
                "pond's time is the whole command: interpreter start, imports, token, GET of the"
                " snapshot, parallel download (4 at once), size and row checks of every part;"
                f" `pond snapshot show` alone (start, token, one GET) takes {startup.median:.3f} s"
                " (median)",
            ],
        )
    ]

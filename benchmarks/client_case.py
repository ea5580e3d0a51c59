"""Case 7: `pond snapshot download` (the real command) against curl fetching the same links.

One server process, its part size set so the snapshot has at least four parts.
pond runs as a user runs it: a fresh `pond` process with credentials in the
environment, which takes its cached token, reads the snapshot, downloads its
parts in parallel and checks each one (size and SHA-256; rows where no digest is given).

The reference does the same work with curl: a shell script that reads the
snapshot with a token it already holds (`curl`, `grep`, `sed`), then downloads every part
with its own curl and checks its SHA-256 (`openssl dgst`, faster than
`sha256sum`), all parts at once.
curl on the bare links alone (given before the clock starts: no snapshot read,
no check) is timed too, and reported beside.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.environment import Bench
from benchmarks.measure import Comparison, Series, alternate, busy_cpu, children_cpu, timed
from benchmarks.serving import Api, serve

PARTS = 4
PARALLEL = 4  # `pond snapshot download --parallel`'s default

# Read the snapshot, then fetch and check every part at once: what pond does, in shell.
CURL_SCRIPT = r"""
set -eu
# openssl's SHA-256 where there is one (several times faster here), else coreutils'.
if command -v openssl >/dev/null; then
  digest() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
else
  digest() { sha256sum "$1" | cut -d' ' -f1; }
fi
curl -sf -H "Authorization: $AUTH" -o "$SCRATCH/snapshot.json" "$HREF?details=true"
# Each item's link and digest, in order (the server's JSON is compact; no jq needed).
grep -o '"href":"[^"]*"\|"sha256":"[^"]*"' "$SCRATCH/snapshot.json" \
  | grep -v '/insights/snapshots/' | sed 's/^"[a-z0-9]*":"\(.*\)"$/\1/' \
  | paste -d' ' - - > "$SCRATCH/links"
pids=""
while read -r link sum; do
  path=${link%%\?*}
  file="$OUT/${path##*/}.csv"
  (curl -sf -o "$file" "$link" && [ "$(digest "$file")" = "$sum" ]) &
  pids="$pids $!"
done < "$SCRATCH/links"
for pid in $pids; do wait "$pid"; done
"""


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


def _curl_script(href: str, authorization: str, out: Path, scratch: Path) -> float:
    """Seconds for `CURL_SCRIPT`: read the snapshot, fetch and check every part at once."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = {**os.environ, "HREF": href, "AUTH": authorization}
    env.update(OUT=str(out), SCRATCH=str(scratch))
    done: subprocess.CompletedProcess[str] | None = None

    def go() -> None:
        nonlocal done
        done = subprocess.run(["sh", "-c", CURL_SCRIPT], env=env, capture_output=True, text=True)  # noqa: S603, S607 - our script

    seconds = timed(go)
    assert done is not None
    if done.returncode != 0:
        raise RuntimeError(f"the curl script exited with {done.returncode}: {done.stderr}")
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

        cpu: dict[str, list[float]] = {}
        own_cpu: dict[str, list[float]] = {}  # the client's processes alone

        def run(tool: str) -> float:
            out = work / tool
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            before, own_before = busy_cpu(), children_cpu()
            if tool == "pond":
                seconds = _pond_command(env, "snapshot", "download", sid, "--out", str(out))
            elif tool == "curl-script":
                authorization = api.headers["Authorization"]
                seconds = _curl_script(href, authorization, out, work / "scratch")
            else:
                seconds = _curl_all(links, out)
            cpu.setdefault(tool, []).append(busy_cpu() - before)
            own_cpu.setdefault(tool, []).append(children_cpu() - own_before)
            digests[tool] = _digests(out)
            return seconds

        pond = Series("pond snapshot download ID --out DIR (a fresh process)")
        script = Series(
            "sh: curl and grep read the snapshot, then curl and openssl dgst"
            f" fetch and check {len(links)} parts at once"
        )
        alternate(
            bench.repeat,
            (pond, lambda _: run("pond")),
            (script, lambda _: run("curl-script")),
            warm_up=True,
        )
        synced = Series("pond snapshot download ID --out DIR --fsync")
        for _ in range(bench.repeat):
            out = work / "pond-fsync"
            shutil.rmtree(out, ignore_errors=True)
            synced.values.append(
                _pond_command(env, "snapshot", "download", sid, "--out", str(out), "--fsync")
            )
        curl = Series(f"curl -s -o, one process per part, {len(links)} at once")
        run("curl")  # warm-up
        for _ in range(bench.repeat):
            curl.values.append(run("curl"))
        startup = Series("pond snapshot show ID")
        for _ in range(bench.repeat):
            startup.values.append(_pond_command(env, "snapshot", "show", sid, "--json"))
    same = digests["pond"] == digests["curl"] == digests["curl-script"]
    if not same or len(digests["pond"]) != len(links):
        raise RuntimeError(f"pond and curl downloaded different files: {digests}")
    shutil.rmtree(work, ignore_errors=True)
    megabytes = size / 1e6
    return [
        Comparison(
            case="7",
            title="Download of all parts: pond snapshot download vs curl in parallel",
            pond=pond,
            reference=script,
            target=1.0,
            higher_is_better=True,
            ratio_meaning="pond throughput / curl script throughput",
            notes=[
                f"{len(links)} parts of at most {part_rows:,} rows, {megabytes:,.1f} MB in all;"
                " all three wrote the same files (SHA-256 of every part compared)",
                f"throughput (median): pond {megabytes / pond.median:,.0f} MB/s,"
                f" curl script {megabytes / script.median:,.0f} MB/s",
                "both do the same work: read the snapshot with a token already held (pond's"
                " cached one; the script's given), download every part (pond"
                f" {min(PARALLEL, len(links))} at a time, its default `--parallel`; the script all"
                f" {len(links)} at once), check its"
                " SHA-256 (pond also its size); pond's time adds interpreter start and"
                " imports;"
                f" `pond snapshot show` alone (start, cached token, one GET) takes"
                f" {startup.median:.3f} s (median)",
                f"curl on the bare links alone (given before the clock starts, no check):"
                f" {curl.median:.3f} s (median of {len(curl.values)}),"
                f" {megabytes / curl.median:,.0f} MB/s; pond / that:"
                f" {curl.median / pond.median:.2f}×",
                f"the whole machine's busy CPU time per run (the server included), medians:"
                f" pond {statistics.median(cpu['pond']):.2f} s, curl script"
                f" {statistics.median(cpu['curl-script']):.2f} s; spread perfectly over the"
                f" {os.cpu_count()} cores, pond's work cannot take less than"
                f" {statistics.median(cpu['pond']) / (os.cpu_count() or 1):.2f} s, and its start"
                " (interpreter, imports, argument parsing) runs on one core before any byte moves",
                f"CPU time of the client's own processes per run, medians: pond"
                f" {statistics.median(own_cpu['pond']):.2f} s (one process), curl script"
                f" {statistics.median(own_cpu['curl-script']):.2f} s (sh, grep, sed, curl and"
                " openssl processes), the server's work not included",
                f"without its start (pond's time less `pond snapshot show`'s), pond moves"
                f" {megabytes / max(pond.median - startup.median, 1e-9):,.0f} MB/s in one"
                f" process ({min(PARALLEL, len(links))} threads reading with the interpreter lock"
                " released),"
                f" against {len(links)} curl processes",
                "neither syncs the files to disk; with `--fsync` (each part synced before it is"
                f" renamed into place) pond takes {synced.median:.3f} s (median of"
                f" {len(synced.values)}), {megabytes / synced.median:,.0f} MB/s: the disk's pace",
            ],
        )
    ]

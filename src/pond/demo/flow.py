"""The seed document's flow, run for real and printed the way the document shows it.

A temporary data directory, an embedded PostgreSQL, a `pond serve` process on
a free loopback port; then token, schedule, poll, download, verify, summary.
Everything is removed afterwards unless `keep` is set.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.json import JSON
from rich.table import Table

from pond.db import embedded

FROM = "2019-03-13T18:00:00.000Z"
TO = "2019-03-28T18:00:00.000Z"
ORG = "acme"
DEMO_PART_ROWS = 10_000


@dataclass
class Timings:
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, since: float) -> None:
        self.marks[name] = time.perf_counter() - since


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _short(token: str) -> str:
    return f"{token[:28]}...{token[-24:]}" if len(token) > 60 else token


def _show_answer(console: Console, response: httpx.Response) -> None:
    console.print(f"[dim]HTTP {response.status_code}[/]")
    try:
        data = response.json()
    except ValueError:
        console.print(response.text)
        return
    if isinstance(data, dict) and "access_token" in data:
        data = {**data, "access_token": _short(data["access_token"])}
    console.print(JSON(json.dumps(data)))


def _count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the demo server exited during start-up")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the demo server did not become ready in time")


def run_demo(console: Console, *, keep: bool = False, count: int = 26990) -> int:
    """Run the demo; return the exit code (0 when every check passed)."""
    from pond.clients import service as clients
    from pond.db.migrate import upgrade
    from pond.events import seeding
    from pond.snapshots.dates import parse_instant

    data_dir = Path(tempfile.mkdtemp(prefix="pond-demo-"))
    timings = Timings()
    server: subprocess.Popen[bytes] | None = None
    database: Any = None
    try:
        console.rule("[bold]pond demo")
        console.print(
            f"data directory: {data_dir} (removed at the end)"
            if not keep
            else f"data directory: {data_dir}"
        )
        started = time.perf_counter()
        conninfo, database = embedded.start(data_dir)
        upgrade(conninfo)
        timings.mark("embedded PostgreSQL up and migrated", started)

        import asyncio

        import psycopg

        async def make_client() -> clients.NewCredentials:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                return await clients.create(conn, name="demo", org=ORG)

        creds = asyncio.run(make_client())
        console.print(f"created OAuth client [bold]{creds.client_id}[/] for organisation {ORG}")

        started = time.perf_counter()
        lower, upper = parse_instant("from", FROM), parse_instant("to", TO)
        seeding.seed(conninfo, org=ORG, start=lower, end=upper, count=count)
        seeding.seed(conninfo, org="globex", start=lower, end=upper, count=1000, seed=1)
        timings.mark(f"seeded {count:,} events (+1,000 of another organisation)", started)

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "POND_DATA_DIR": str(data_dir),
            "POND_PART_MAX_ROWS": str(DEMO_PART_ROWS),
            "POND_LOG_FORMAT": "json",
        }
        env.pop("POND_DATABASE_URL", None)
        env.pop("POND_PUBLIC_URL", None)
        started = time.perf_counter()
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "pond", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_ready(base, server)
        timings.mark("pond serve ready", started)
        console.print(
            f"pond serve listening on {base} (parts of at most {DEMO_PART_ROWS:,} rows)\n"
        )
        return _walk(console, base, creds.client_id, creds.client_secret, count, data_dir, timings)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        if database is not None:
            embedded.stop(database)
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def _walk(
    console: Console,
    base: str,
    client_id: str,
    secret: str,
    expected_rows: int,
    data_dir: Path,
    timings: Timings,
) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    with httpx.Client(timeout=30) as http:
        console.rule("1. Authorization")
        console.print(
            f"$ curl -X POST {base}/oauth2/token \\\n"
            f"    -H 'Authorization: Basic {basic[:24]}...' \\\n"
            "    -H 'Content-type: application/x-www-form-urlencoded' \\\n"
            "    -d 'grant_type=client_credentials&scope=pond/insights.snapshots'"
        )
        started = time.perf_counter()
        answer = http.post(
            f"{base}/oauth2/token",
            headers={"Authorization": f"Basic {basic}"},
            data={"grant_type": "client_credentials", "scope": "pond/insights.snapshots"},
        )
        answer.raise_for_status()
        timings.mark("token", started)
        _show_answer(console, answer)
        token = answer.json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}

        console.rule("2. Schedule a snapshot")
        console.print(
            f"$ curl -X POST {base}/insights/snapshots \\\n"
            f"    -H 'Authorization: Bearer {_short(token)}' \\\n"
            f"    -d 'created_at_from={FROM}&created_at_to={TO}' \\\n"
            "    -H 'Content-type: application/x-www-form-urlencoded'"
        )
        started = time.perf_counter()
        answer = http.post(
            f"{base}/insights/snapshots",
            headers=bearer,
            data={"created_at_from": FROM, "created_at_to": TO},
        )
        answer.raise_for_status()
        _show_answer(console, answer)
        href = answer.json()["snapshot"]["href"]

        console.rule("3. Poll until complete")
        console.print(f"$ curl {href} \\\n    -H 'Authorization: Bearer {_short(token)}'")
        last_state = None
        deadline = time.monotonic() + 300
        while True:
            answer = http.get(href, headers=bearer)
            answer.raise_for_status()
            snapshot = answer.json()
            state = snapshot["items"][0]["state"]
            if state != last_state:
                console.print(f"[dim]{datetime.now(UTC):%H:%M:%S.%f}[/] state: [bold]{state}[/]")
                last_state = state
            if state in ("complete", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        timings.mark("schedule to complete", started)
        _show_answer(console, answer)
        if state != "complete":
            console.print(f"[red]the snapshot ended {state}[/]")
            return 1

        console.rule("4. Download the CSV through the signed links (no token)")
        out = data_dir / "downloads"
        out.mkdir()
        started = time.perf_counter()
        table = Table("part", "bytes", "rows", "size ok", "count ok")
        all_ok = True
        total_rows = 0
        for item in snapshot["items"]:
            name = httpx.URL(item["href"]).path.rsplit("/", 1)[-1]
            target = out / f"{name}.csv"
            console.print(f"$ curl -o {target.name} '{item['href'][:90]}...'")
            with http.stream("GET", item["href"]) as stream:
                stream.raise_for_status()
                with target.open("wb") as handle:
                    for chunk in stream.iter_bytes():
                        handle.write(chunk)
            size, rows = target.stat().st_size, _count_rows(target)
            total_rows += rows
            size_ok, count_ok = size == item["size"], rows == item["count"]
            all_ok = all_ok and size_ok and count_ok
            table.add_row(name, f"{size:,}", f"{rows:,}", _tick(size_ok), _tick(count_ok))
        timings.mark("download", started)
        console.print(table)

    console.rule("Summary")
    summary = Table("step", "seconds")
    for name, seconds in timings.marks.items():
        summary.add_row(name, f"{seconds:.3f}")
    console.print(summary)
    rows_ok = total_rows == expected_rows
    console.print(
        f"rows exported: {total_rows:,} of {expected_rows:,} expected {_tick(rows_ok)}"
        f" (the other organisation's rows are not among them)"
    )
    if all_ok and rows_ok:
        console.print("[bold green]demo passed:[/] every part matched its size and row count")
        return 0
    console.print("[bold red]demo failed:[/] see the table above")
    return 1


def _tick(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]NO[/]"

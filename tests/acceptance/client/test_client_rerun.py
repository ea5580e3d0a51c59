"""`pond export` while the whole service dies: `kill -9` of `pond serve` with some parts of
the export already listed, some downloaded and one being downloaded. The export runs
again, with other part boundaries, and the client ends holding exactly the final run's
parts, never a mix."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pond.events import seeding
from tests.conftest import free_port
from tests.integration.client.fixtures import END, POND, START
from tests.integration.client.proxy import FaultyProxy
from tests.integration.processes import kill_group, service_env, start_pond, stop, wait_ready

ROWS = 6000
FIRST_RUN_PARTS = 4  # run 1 (parts of 1000 rows) publishes these, then stalls until killed
# Run 1 stops before writing a planned range from FIRST_RUN_PARTS on: it is killed there.
GATED_SERVE = textwrap.dedent(
    """
    import re, sys, time
    from pond.storage.local import LocalStore

    stage = LocalStore.stage

    def gated(store, key):
        planned = re.search(r"/event_p1_(\\d+)_", key)
        if planned and int(planned.group(1)) >= {first_gated}:
            time.sleep(3600)
        return stage(store, key)

    LocalStore.stage = gated
    from pond.cli.main import main
    sys.argv = ["pond", "serve", "--port", "{port}"]
    main()
    """
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ids_in(files: list[Path]) -> list[int]:
    ids: list[int] = []
    for path in files:
        with path.open(newline="") as stream:
            ids.extend(int(row["id"]) for row in csv.DictReader(stream))
    return ids


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    stop(started)


@pytest.fixture
def proxy() -> Iterator[FaultyProxy]:
    """Between the client and the service (which it outlives), slowing part downloads."""
    relay = FaultyProxy()
    yield relay
    relay.close()


@pytest.mark.slow
@pytest.mark.timeout(240)  # the rerun waits ~10 s for the dead worker's heartbeat
def test_an_export_killed_with_parts_downloaded_ends_with_the_final_runs_parts_only(
    conninfo: str,
    client_credentials: Callable[[str], tuple[str, str]],
    processes: list[subprocess.Popen[bytes]],
    proxy: FaultyProxy,
    tmp_path: Path,
) -> None:
    client_id, secret = client_credentials("acme")
    seeding.seed(conninfo, org="acme", start=START, end=END, count=ROWS)
    port = free_port()
    proxy.target_port = port
    proxy.delay_per_chunk = 0.2  # about 3 s a part: one is still arriving at the kill
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    data = tmp_path / "data"
    first = service_env(conninfo, data, POND_PART_MAX_ROWS="1000", POND_PUBLIC_URL=proxy.url)
    with log.open("ab") as stderr:
        gated = subprocess.Popen(
            [sys.executable, "-c", GATED_SERVE.format(first_gated=FIRST_RUN_PARTS, port=port)],
            env=first,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    processes.append(gated)
    wait_ready(base_url, gated)
    token = httpx.post(
        f"{base_url}/oauth2/token",
        auth=(client_id, secret),
        data={"grant_type": "client_credentials"},
    ).json()["access_token"]

    out = tmp_path / "out"
    client_env = {
        **{k: v for k, v in first.items() if not k.startswith("POND_")},
        "POND_CLIENT_ID": client_id,
        "POND_CLIENT_SECRET": secret,
        "POND_API_URL": proxy.url,
        "POND_TOKEN_URL": f"{proxy.url}/oauth2/token",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    range_ = ("--from", "2019-03-13T18:00:00Z", "--to", "2019-03-28T18:00:00Z")
    with (tmp_path / "export.err").open("wb") as errors:
        export = subprocess.Popen(
            [POND, "export", *range_, "--out", str(out), "--json", "--parallel", "1"],
            env=client_env,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    processes.append(export)

    def check(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Wait for `condition`; fail with what the client said if it ends or never gets there."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert export.poll() is None, f"pond export ended: {errors_said()}"
            assert time.monotonic() < deadline, f"{what}; pond export said: {errors_said()}"
            time.sleep(0.05)

    def errors_said() -> str:
        return (tmp_path / "export.err").read_text()

    def first_run() -> list[dict[str, Any]]:
        try:
            href = json.loads((out / ".pond-export.json").read_text()).get("href")
        except (OSError, ValueError):
            return []
        if not href:
            return []
        details = httpx.get(href, params={"details": "true"}, headers=bearer(token))
        return list(details.json()["items"])

    def in_flight() -> bool:
        """Two of run 1's parts on disk, and a third arriving."""
        done = [name for name in old if (out / name).exists()]
        arriving = [p for p in out.glob("*.part") if p.exists() and p.stat().st_size]
        return len(done) >= 2 and bool(arriving)

    # Run 1 lists its first parts while it runs; the client downloads them one at a time.
    check(
        lambda: sum(i["state"] == "complete" for i in first_run()) == FIRST_RUN_PARTS,
        "run 1 never listed its first parts",
    )
    listed = first_run()
    assert listed[-1]["state"] == "running"
    assert {item["run"] for item in listed} == {1}
    old = {f"event_{n:03d}.csv": item["sha256"] for n, item in enumerate(listed[:-1])}
    check(in_flight, "the client never fetched run 1's parts")
    done = [name for name in old if (out / name).exists()]
    assert {name: sha256(out / name) for name in done} == {name: old[name] for name in done}

    # The whole service dies; it comes back with larger parts, so the rerun cuts them elsewhere.
    kill_group(gated)
    again = start_pond(
        ["serve", "--port", str(port)],
        service_env(conninfo, data, POND_PART_MAX_ROWS="5000", POND_PUBLIC_URL=proxy.url),
        log,
        own_group=True,
    )
    processes.append(again)
    wait_ready(base_url, again)
    proxy.delay_per_chunk = 0
    stdout, _ = export.communicate(timeout=180)
    assert export.returncode == 0, (tmp_path / "export.err").read_text()

    said = (tmp_path / "export.err").read_text()
    assert "the export started over on the server (run 2)" in said
    result = json.loads(stdout)
    final = httpx.get(result["snapshot"], params={"details": "true"}, headers=bearer(token)).json()
    items = final["items"]
    assert [item["state"] for item in items] == ["complete", "complete"]
    assert {item["run"] for item in items} == {2}
    names = [f"event_{n:03d}.csv" for n in range(len(items))]
    assert [Path(f).name for f in result["files"]] == names
    # Exactly the final run's parts: the same bytes, nothing of run 1 left beside them.
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == names
    assert [sha256(out / name) for name in names] == [item["sha256"] for item in items]
    assert sha256(out / "event_000.csv") != old["event_000.csv"]
    assert result["rows"] == sum(item["count"] for item in items) == ROWS
    assert sorted(ids_in([out / name for name in names])) == list(range(1, ROWS + 1))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

"""The client commands as a user runs them: the real `pond` in a subprocess, a real server."""

from __future__ import annotations

import csv
import itertools
import json
import os
import pty
import select
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.client.fixtures import POND, START, Setup, run_pond
from tests.integration.client.proxy import FaultyProxy

Proxied = Callable[..., tuple[Setup, FaultyProxy]]
RANGE = ("--from", "2019-03-13T18:00:00Z", "--to", "2019-03-28T18:00:00Z")


def ids_in(files: list[Path]) -> list[int]:
    ids: list[int] = []
    for path in files:
        with path.open(newline="") as stream:
            ids.extend(int(row["id"]) for row in csv.DictReader(stream))
    return ids


def kill_when(args: tuple[str, ...], env: dict[str, str], ready: Callable[[], bool]) -> None:
    """Run `args`, and SIGKILL it as soon as `ready()` (the way a crash or power cut ends it)."""
    with subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as process:
        deadline = time.monotonic() + 60
        while not ready():
            assert process.poll() is None, "the command ended before it could be killed"
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)


def test_export_prints_json_and_a_rerun_fetches_nothing(acme: Setup, tmp_path: Path) -> None:
    acme.seed(2500)
    env = acme.env(tmp_path)
    out = tmp_path / "out"
    done = run_pond("export", *RANGE, "--out", str(out), "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows"] == 2500
    assert [Path(f).name for f in result["files"]] == [
        "event_000.csv",
        "event_001.csv",
        "event_002.csv",
    ]
    assert sorted(ids_in([Path(f) for f in result["files"]])) == list(range(1, 2501))
    again = run_pond("export", *RANGE, "--out", str(out), "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["snapshot"] == result["snapshot"]
    assert "already complete" in again.stderr


def test_a_killed_export_resumes_the_same_snapshot(behind_proxy: Proxied, tmp_path: Path) -> None:
    setup, proxy = behind_proxy(part_max_rows=1000)
    setup.seed(3000)
    env = setup.env(tmp_path, api_url=proxy.url)
    out = tmp_path / "out"
    proxy.delay_per_chunk = 0.1  # about 2 s per part: time enough to kill it mid-part
    args = (POND, "export", *RANGE, "--out", str(out), "--parallel", "1")
    kill_when(args, env, lambda: any(p.stat().st_size for p in out.glob("*.part")))
    state = json.loads((out / ".pond-export.json").read_text())
    assert state["href"]
    proxy.delay_per_chunk = 0
    done = run_pond("export", *RANGE, "--out", str(out), "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert f"resuming snapshot {state['href']}" in done.stderr
    assert json.loads(done.stdout)["snapshot"] == state["href"]
    assert sum(1 for method, _, _ in proxy.seen.requests if method == "POST") == 1
    resumed = [rng for _, rng in proxy.seen.downloads() if rng]
    assert resumed, "the interrupted part should continue with Range"
    files = sorted(out.glob("event_*.csv"))
    assert sorted(ids_in(files)) == list(range(1, 3001))
    assert not list(out.glob("*.part"))


def test_download_with_merge_writes_one_header(acme: Setup, tmp_path: Path) -> None:
    acme.seed(2500)
    env = acme.env(tmp_path)
    created = run_pond("snapshot", "create", *RANGE, "--wait", "--json", env=env)
    assert created.returncode == 0, created.stderr
    snapshot = json.loads(created.stdout)
    assert len(snapshot["items"]) == 3
    snapshot_id = snapshot["href"].rsplit("/", 1)[1]
    merged = tmp_path / "all.csv"
    args = ("snapshot", "download", snapshot_id, "--out", str(tmp_path / "parts"))
    done = run_pond(*args, "--merge", str(merged), env=env)
    assert done.returncode == 0, done.stderr
    assert str(merged) in done.stdout.splitlines()
    lines = merged.read_text().splitlines()
    assert sum(1 for line in lines if line.startswith("id,created_at,")) == 1
    assert sorted(ids_in([merged])) == list(range(1, 2501))


def test_download_with_fsync_gives_the_same_verified_files(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1200)
    env = acme.env(tmp_path)
    created = run_pond("snapshot", "create", *RANGE, "--wait", "--json", env=env)
    assert created.returncode == 0, created.stderr
    snapshot_id = json.loads(created.stdout)["href"].rsplit("/", 1)[1]
    plain, synced = tmp_path / "plain", tmp_path / "synced"
    for out, extra in ((plain, ()), (synced, ("--fsync",))):
        done = run_pond("snapshot", "download", snapshot_id, "--out", str(out), *extra, env=env)
        assert done.returncode == 0, done.stderr
    files = sorted(path.name for path in plain.glob("*.csv"))
    assert files
    assert files == sorted(path.name for path in synced.glob("*.csv"))
    for name in files:
        assert (synced / name).read_bytes() == (plain / name).read_bytes()
    assert sorted(ids_in(sorted(synced.glob("*.csv")))) == list(range(1, 1201))


def test_sync_fetches_every_row_exactly_once_over_several_runs(
    behind_proxy: Proxied, tmp_path: Path
) -> None:
    setup, proxy = behind_proxy(part_max_rows=400)
    setup.seed(3000, START, START.replace(day=19))  # six days of events
    env = setup.env(tmp_path, api_url=proxy.url)
    out = tmp_path / "sync"
    since = ("--since", "2019-03-13T18:00:00Z")

    first = run_pond("sync", "--out", str(out), *since, "--until", "2019-03-15T06:00Z", env=env)
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.splitlines()) == 2  # a full day, then half a day

    # the next run is killed in the middle of a download...
    proxy.delay_per_chunk = 0.1
    args = (POND, "sync", "--out", str(out), "--until", "2019-03-17T18:00Z", "--parallel", "1")
    kill_when(args, env, lambda: any(p.stat().st_size for p in out.glob("*/*.part")))
    proxy.delay_per_chunk = 0

    # ...and the runs after it pick up where it stopped
    second = run_pond("sync", "--out", str(out), "--until", "2019-03-17T18:00Z", env=env)
    assert second.returncode == 0, second.stderr
    third = run_pond(
        "sync", "--out", str(out), *since, "--until", "2019-03-19T18:00Z", "--json", env=env
    )
    assert third.returncode == 0, third.stderr
    assert "--since ignored" in third.stderr
    windows = json.loads(third.stdout)["windows"]
    assert windows[-1]["created_at_to"] == "2019-03-19T18:00:00.000Z"
    nothing = run_pond("sync", "--out", str(out), "--until", "2019-03-19T18:00Z", env=env)
    assert nothing.returncode == 0
    assert "nothing new" in nothing.stderr

    folders = sorted(p for p in out.iterdir() if p.is_dir())
    bounds = [folder.name.split("_") for folder in folders]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))  # no gap
    assert bounds[0][0] == "20190313T180000Z"
    assert bounds[-1][1] == "20190319T180000Z"
    ids = ids_in(sorted(out.glob("*/event_*.csv")))
    assert len(ids) == len(set(ids)) == 3000


def read_pty(process: subprocess.Popen[bytes], master: int) -> bytes:
    output = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            output += data
        elif process.poll() is not None:
            break
    return output


def test_progress_bars_on_a_terminal(acme: Setup, tmp_path: Path) -> None:
    acme.seed(2500)
    master, slave = pty.openpty()
    args = (POND, "export", *RANGE, "--out", str(tmp_path / "out"))
    results = tmp_path / "stdout.txt"
    with (
        results.open("wb") as sink,
        subprocess.Popen(args, env=acme.env(tmp_path), stdout=sink, stderr=slave) as process,
    ):
        os.close(slave)
        shown = read_pty(process, master).decode(errors="replace")
        assert process.wait(60) == 0
    os.close(master)
    assert "total (3 parts)" in shown  # the download bars
    assert "━" in shown
    assert "\x1b[" in shown  # drawn with terminal control sequences
    assert "verified" in shown
    assert len(results.read_text().splitlines()) == 3  # results stay plain on stdout


def test_plain_lines_when_not_on_a_terminal(acme: Setup, tmp_path: Path) -> None:
    acme.seed(1500)
    done = run_pond("export", *RANGE, "--out", str(tmp_path / "out"), env=acme.env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr
    assert "scheduled snapshot" in done.stderr
    assert "event_000: " in done.stderr
    assert "verified" in done.stderr


def test_times_without_an_offset_are_said_never_silently_utc(acme: Setup, tmp_path: Path) -> None:
    env = {**acme.env(tmp_path), "TZ": "America/Los_Angeles"}
    args = ("snapshot", "create", "--from", "2019-03-13T11:00", "--to", "2019-03-28", "--json")
    done = run_pond(*args, env=env)
    assert done.returncode == 0, done.stderr
    assert "read in America/Los_Angeles" in done.stderr
    query = json.loads(done.stdout)["items"][0]["query"]
    assert query["created_at"] == ["2019-03-13T18:00:00.000Z", "2019-03-28T07:00:00.000Z"]
    in_utc = run_pond(*args, "--tz", "UTC", env=env)
    assert json.loads(in_utc.stdout)["items"][0]["query"]["created_at"][0] == (
        "2019-03-13T11:00:00.000Z"
    )


def test_token_and_configure(acme: Setup, tmp_path: Path) -> None:
    env = acme.env(tmp_path)
    plain = run_pond("token", env=env)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count(".") == 2  # a JWT
    as_json = json.loads(run_pond("token", "--json", env=env).stdout)
    assert set(as_json) == {"access_token", "token_type", "expires_in", "expires_at"}
    assert as_json["access_token"] == plain.stdout.strip()  # cached between runs

    no_env = {k: v for k, v in env.items() if not k.startswith("POND_CLIENT")}
    configured = run_pond(
        "configure",
        "--profile",
        "local",
        "--client-id",
        acme.client_id,
        "--client-secret",
        acme.client_secret,
        "--api-url",
        acme.server.base_url,
        env=no_env,
    )
    assert configured.returncode == 0, configured.stderr
    assert acme.client_secret not in configured.stdout + configured.stderr
    path = tmp_path / "config" / "pond" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    without_profile = run_pond("snapshot", "create", *RANGE, env=no_env)
    assert without_profile.returncode == 8
    assert "pond configure" in without_profile.stderr
    with_profile = run_pond("snapshot", "create", *RANGE, "--profile", "local", env=no_env)
    assert with_profile.returncode == 0, with_profile.stderr


def test_exit_codes_and_messages(make_setup: Callable[..., Setup], tmp_path: Path) -> None:
    setup = make_setup(run_worker=False)
    env = setup.env(tmp_path)

    bad_time = run_pond("snapshot", "create", "--from", "soon", "--to", "later", env=env)
    assert bad_time.returncode == 2
    assert "ISO 8601" in bad_time.stderr

    wrong = run_pond("snapshot", "create", *RANGE, env={**env, "POND_CLIENT_SECRET": "nope"})
    assert wrong.returncode == 3
    assert "nope" not in wrong.stderr

    missing = run_pond("snapshot", "show", "00000000-0000-0000-0000-000000000000", env=env)
    assert missing.returncode == 4
    assert "no such snapshot" in missing.stderr

    created = run_pond("snapshot", "create", *RANGE, env=env)
    assert created.returncode == 0, created.stderr
    href = created.stdout.strip()
    listed = run_pond("snapshot", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert href in listed.stdout

    waited = run_pond("snapshot", "wait", href, "--timeout", "2s", env=env)
    assert waited.returncode == 7
    assert "still pending" in waited.stderr

    deleted = run_pond("snapshot", "delete", href, env=env)
    assert deleted.returncode == 0, deleted.stderr
    gone = run_pond("snapshot", "show", href, env=env)
    assert gone.returncode == 4

    unreachable = run_pond("token", env={**env, "POND_TOKEN_URL": "http://127.0.0.1:1/t"})
    assert unreachable.returncode == 9
    assert "cannot reach" in unreachable.stderr


def test_list_with_filters_and_delete(make_setup: Callable[..., Setup], tmp_path: Path) -> None:
    setup = make_setup(run_worker=False)
    env = setup.env(tmp_path)
    hrefs = []
    for _ in range(3):
        created = run_pond("snapshot", "create", *RANGE, env=env)
        assert created.returncode == 0, created.stderr
        hrefs.append(created.stdout.strip())

    listed = run_pond("snapshot", "list", "--state", "pending", "--limit", "2", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [s["href"] for s in json.loads(listed.stdout)] == hrefs[::-1][:2]  # newest first
    plain = run_pond("snapshot", "list", "--since", "2000-01-01", "--tz", "UTC", env=env)
    assert plain.returncode == 0, plain.stderr
    assert len(plain.stdout.splitlines()) == 3
    assert "pending" in plain.stdout
    none = run_pond(
        "snapshot", "list", "--state", "complete", "--until", "2030-01-01T00:00Z", env=env
    )
    assert none.returncode == 0, none.stderr
    assert none.stdout == ""
    bad = run_pond("snapshot", "list", "--state", "finished", env=env)
    assert bad.returncode == 2
    assert "state" in bad.stderr

    deleted = run_pond("snapshot", "delete", hrefs[0], env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted {hrefs[0]}" in deleted.stdout
    again = run_pond("snapshot", "delete", hrefs[0], env=env)
    assert again.returncode == 4
    assert "no such snapshot" in again.stderr


def test_connection_options_on_the_command_line_win_over_the_environment(
    make_setup: Callable[..., Setup], tmp_path: Path
) -> None:
    setup = make_setup(run_worker=False)
    nowhere = "http://127.0.0.1:1"  # refused: only the URLs given as options reach the server
    env = {**setup.env(tmp_path, api_url=nowhere), "POND_TOKEN_URL": f"{nowhere}/oauth2/token"}
    given = ("--api-url", setup.server.base_url, "--token-url", setup.server.token_url, "--json")

    created = run_pond("snapshot", "create", *RANGE, *given, env=env)
    assert created.returncode == 0, created.stderr
    href = json.loads(created.stdout)["href"]
    shown = run_pond("snapshot", "show", href, *given, env=env)  # read without typer
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["href"] == href
    deleted = run_pond("snapshot", "delete", href, *given, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"deleted": href}

    unreachable = run_pond("snapshot", "show", href, env=env)
    assert unreachable.returncode == 9
    assert "cannot reach" in unreachable.stderr

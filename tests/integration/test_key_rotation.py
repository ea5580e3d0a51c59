"""Key rotation: two API processes keep answering while `pond keys rotate` runs, old
tokens and links keep working until their key is retired, and keys retire themselves
once nothing they signed can still be valid."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import psycopg
import pytest

from pond.auth import keys, rotation
from pond.auth.watcher import RELOAD_SECONDS
from pond.downloads.signing import LinkSigner
from pond.events import seeding
from pond.jobs import tasks
from pond.jobs.runtime import JobRuntime
from pond.settings import Settings
from pond.snapshots.dates import parse_instant
from pond.storage.local import LocalStore
from tests.conftest import RunningServer
from tests.integration.helpers import FROM, TO, bearer, schedule, wait_done

GRANT = {"grant_type": "client_credentials"}
# Long enough for every process to look at the keys a few times (each looks every 2 s).
PICK_UP_SECONDS = 15


def pond_cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `pond` command on the servers' database, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env.update(
        POND_DATABASE_URL=server.conninfo,
        POND_DATA_DIR=str(server.settings.data_dir),
        POND_LOG_FORMAT="json",
    )
    return subprocess.run(
        [sys.executable, "-m", "pond", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def link_kid(link: str) -> str:
    return parse_qs(urlsplit(link).query)["KeyId"][0]


def token_kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def on(server: RunningServer, link: str) -> str:
    """`link` sent to `server` instead of the process that signed it."""
    return server.base_url + link[link.index("/objects/") :]


@dataclass
class Traffic:
    """Tokens, snapshot GETs and downloads in a loop, each checked by another process."""

    servers: list[RunningServer]
    creds: tuple[str, str]
    path: str
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    # (server number, kid) of every token issued and every link signed.
    token_kids: set[tuple[int, str]] = field(default_factory=set)
    link_kids: set[tuple[int, str]] = field(default_factory=set)

    def _count(self, answer: httpx.Response, what: str) -> bool:
        with self.lock:
            self.requests += 1
            if answer.status_code != 200:
                self.failures.append(f"{what}: {answer.status_code} {answer.text[:200]}")
                return False
        return True

    def loop(self) -> None:
        turn = 0
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                first, second = turn % 2, (turn + 1) % 2
                turn += 1
                issuer, reader = self.servers[first], self.servers[second]
                answer = http.post(issuer.token_url, auth=self.creds, data=GRANT)
                if not self._count(answer, f"token from {first}"):
                    continue
                token = answer.json()["access_token"]
                answer = http.get(reader.base_url + self.path, headers=bearer(token))
                if not self._count(answer, f"GET on {second} of a token from {first}"):
                    continue
                link = answer.json()["items"][0]["href"]
                answer = http.get(on(issuer, link))
                self._count(answer, f"download on {first} of a link from {second}")
                with self.lock:
                    self.token_kids.add((first, token_kid(token)))
                    self.link_kids.add((second, link_kid(link)))

    def saw(self, token: str, link: str) -> bool:
        """Whether both servers issued tokens of kid `token` and signed links of kid `link`."""
        with self.lock:
            return {(0, token), (1, token)} <= self.token_kids and {
                (0, link),
                (1, link),
            } <= self.link_kids


def complete_snapshot(server: RunningServer, creds: tuple[str, str]) -> tuple[str, str, str]:
    """A token, a complete snapshot's href and its first link, all signed by `server`."""
    token = httpx.post(server.token_url, auth=creds, data=GRANT).json()["access_token"]
    seeding.seed(
        server.conninfo,
        org="acme",
        start=parse_instant("f", FROM),
        end=parse_instant("t", TO),
        count=300,
    )
    href = schedule(server.base_url, token).json()["snapshot"]["href"]
    body = wait_done(href, token)
    return token, href, body["items"][0]["href"]


def until(check: Callable[[], bool], seconds: float = PICK_UP_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


@pytest.mark.slow
def test_rotation_under_load_fails_no_request_and_retirement_ends_old_tokens_and_links(
    start_server: Callable[..., RunningServer],
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    servers = [start_server(), start_server(run_worker=False)]
    creds = client_credentials("acme")
    old_token, href, old_link = complete_snapshot(servers[0], creds)
    old_token_kid, old_link_kid = token_kid(old_token), link_kid(old_link)
    traffic = Traffic(servers, creds, urlsplit(href).path)
    loops = [threading.Thread(target=traffic.loop) for _ in range(2)]
    for loop in loops:
        loop.start()
    try:
        assert until(lambda: traffic.requests >= 30), "the traffic did not get going"
        rotated = pond_cli(servers[0], "keys", "rotate", "--json")
        assert rotated.returncode == 0, rotated.stderr
        new = {r["purpose"]: r for r in json.loads(rotated.stdout)}
        assert new["token"]["old_kid"] == old_token_kid
        assert new["link"]["old_kid"] == old_link_kid
        new_token_kid, new_link_kid = new["token"]["new_kid"], new["link"]["new_kid"]
        # Every process signs with the new keys within seconds, with no restart.
        assert until(lambda: traffic.saw(new_token_kid, new_link_kid)), (
            traffic.token_kids,
            traffic.link_kids,
        )
        before = traffic.requests
        assert until(lambda: traffic.requests >= before + 30)
    finally:
        traffic.stop.set()
        for loop in loops:
            loop.join(60)
    assert traffic.failures == [], f"{len(traffic.failures)} of {traffic.requests} failed"

    # Until it is retired, the old key keeps verifying what it signed, everywhere.
    for server in servers:
        assert httpx.get(
            server.base_url + urlsplit(href).path, headers=bearer(old_token)
        ).is_success
        assert httpx.get(on(server, old_link)).status_code == 200
        published = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
        assert [k["kid"] for k in published["keys"]] == [new_token_kid, old_token_kid]

    for kid in (old_token_kid, old_link_kid):
        retired = pond_cli(servers[0], "keys", "retire", kid)
        assert retired.returncode == 0, retired.stderr

    def refused_everywhere() -> bool:
        return all(
            httpx.get(server.base_url + urlsplit(href).path, headers=bearer(old_token)).status_code
            == 401
            and httpx.get(on(server, old_link)).status_code == 403
            for server in servers
        )

    assert until(refused_everywhere), "the retired keys still verify somewhere"
    for server in servers:
        answer = httpx.get(server.base_url + urlsplit(href).path, headers=bearer(old_token))
        assert answer.json()["error"] == "invalid_token"
        assert "retired" in answer.json()["error_description"]
        assert "<Code>AccessDenied</Code>" in httpx.get(on(server, old_link)).text
        published = httpx.get(f"{server.base_url}/.well-known/jwks.json").json()
        assert [k["kid"] for k in published["keys"]] == [new_token_kid]
        # What the new keys signed works on either process.
        token = httpx.post(server.token_url, auth=creds, data=GRANT).json()["access_token"]
        body = httpx.get(server.base_url + urlsplit(href).path, headers=bearer(token)).json()
        link = body["items"][0]["href"]
        assert link_kid(link) == new_link_kid
        for other in servers:
            assert httpx.get(on(other, link)).status_code == 200


def test_a_key_rotated_in_by_another_process_verifies_at_once(
    start_server: Callable[..., RunningServer],
    client_credentials: Callable[[str], tuple[str, str]],
) -> None:
    first, second = start_server(), start_server(run_worker=False)
    creds = client_credentials("acme")
    _, href, _ = complete_snapshot(first, creds)
    path = urlsplit(href).path
    # The second process stops looking on its own (after the look it may be sleeping
    # towards): only a token or link of a key it does not know can make it look again.
    second.app.state.pond.watcher.interval = 3600
    time.sleep(RELOAD_SECONDS + 0.5)

    def token_from_first(kid: str) -> str | None:
        token = str(httpx.post(first.token_url, auth=creds, data=GRANT).json()["access_token"])
        return token if token_kid(token) == kid else None

    def rotate(*flags: str) -> dict[str, str]:
        rotated = pond_cli(first, "keys", "rotate", *flags, "--json")
        assert rotated.returncode == 0, rotated.stderr
        return {r["purpose"]: r["new_kid"] for r in json.loads(rotated.stdout)}

    new = rotate("--token", "--link")
    # Only the first process is waited for: the second has not looked since.
    assert until(lambda: token_from_first(new["token"]) is not None)
    token = token_from_first(new["token"])
    assert token is not None
    link = httpx.get(first.base_url + path, headers=bearer(token)).json()["items"][0]["href"]
    assert link_kid(link) == new["link"]

    assert httpx.get(on(second, link)).status_code == 200
    assert second.app.state.pond.keys.link_kid == new["link"]

    newer = rotate("--token")
    assert until(lambda: token_from_first(newer["token"]) is not None)
    token = token_from_first(newer["token"])
    assert token is not None

    answer = httpx.get(second.base_url + path, headers=bearer(token))

    assert answer.status_code == 200, answer.text
    assert second.app.state.pond.keys.jwt_kid == newer["token"]


def run(conninfo: str, action: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await action(conn)

    return asyncio.run(go())


def test_keys_retire_themselves_once_nothing_they_signed_is_valid(
    conninfo: str, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # Links end with the snapshot: 0.01 day (864 s) of retention caps the hour of a link.
    settings = make_settings(token_ttl=600, link_ttl=3600, retention_days=0.01)
    first = run(conninfo, lambda c: rotation.rotate(c, settings, ["token", "link"]))
    second = run(conninfo, lambda c: rotation.rotate(c, settings, ["token", "link"]))
    old = {r.purpose: r.old_kid for r in first}  # superseded by the first rotation
    recent = {r.purpose: r.old_kid for r in second}  # superseded just now
    grace = rotation.GRACE_SECONDS
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for kid, ago in [
            (old["token"], 600 + grace + 5),
            (old["link"], 864 + grace + 5),
            (recent["token"], 600 + grace - 30),
            (recent["link"], 864 + grace - 30),
        ]:
            conn.execute(
                "UPDATE signing_keys SET superseded_at = now() - %s WHERE kid = %s",
                (timedelta(seconds=ago), kid),
            )
    store = LocalStore(tmp_path, LinkSigner("k", b"s" * 32))
    runtime = JobRuntime(settings=settings, conninfo=conninfo, store=store)

    retired = asyncio.run(tasks.retire_expired_keys(runtime))

    assert sorted(retired) == sorted([old["token"], old["link"]])
    states = {k.kid: k for k in run(conninfo, lambda c: rotation.list_keys(c, settings))}
    assert states[old["token"]].state == states[old["link"]].state == "retired"
    assert states[recent["token"]].state == states[recent["link"]].state == "verifying"
    assert states[second[0].new_kid].state == "signing"
    ring = run(conninfo, keys.read_keyring)
    assert old["token"] not in ring.verifying_keys
    assert recent["token"] in ring.verifying_keys
    assert set(ring.link_secrets) == {recent["link"], second[1].new_kid}
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM signing_keys WHERE retired_at IS NOT NULL AND length(secret) > 0"
        ).fetchone()
    assert row == (0,), "a retired key's secret must be erased"

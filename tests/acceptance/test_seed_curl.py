"""The seed document's curl commands, run with the real curl against a real pond server.

Each command below is the seed's (`pond-snapshots-api.txt`) as written, with
only the host names and the example credentials replaced. Options that only
choose where curl writes what it received (`--silent`, `--dump-header`,
`--output`) are added in front; they do not change the request.
"""

from __future__ import annotations

import base64
import csv
import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pond.entities import EVENT
from pond.events import seeding
from tests.conftest import RunningServer

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed; these tests run the real curl"
)

TOKEN_HOST = "https://sgipond.auth.us-west-2.amazoncognito.com"
API_HOST = "https://api.sgipond.com"

TOKEN_COMMAND = """\
curl -X POST \\
https://sgipond.auth.us-west-2.amazoncognito.com/oauth2/token \\
-H 'Authorization: Basic {basic}' \\
-H 'Content-type: application/x-www-form-urlencoded' \\
-d 'grant_type=client_credentials&scope=pond/insights.snapshots'"""

SCHEDULE_COMMAND = """\
curl -X POST \\
https://api.sgipond.com/insights/snapshots \\
-H 'Authorization: Bearer {token}' \\
-d 'created_at_from=2019-03-13T18:00:00.000Z&created_at_to=2019-03-28T18:00:00.000Z' \\
-H 'Content-type: application/x-www-form-urlencoded'"""

POLL_COMMAND = """\
curl \\
{href} \\
-H 'Authorization: Bearer {token}'"""

FROM = datetime(2019, 3, 13, 18, tzinfo=UTC)
TO = datetime(2019, 3, 28, 18, tzinfo=UTC)
DOCUMENTED_QUERY = {
    "entity": "event",
    "created_at": ["2019-03-13T18:00:00.000Z", "2019-03-28T18:00:00.000Z"],
}


@dataclass
class Answer:
    """What curl received: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ordered(self) -> list[tuple[str, Any]]:
        """The JSON body with every object as a list of (key, value) pairs, in wire order."""
        pairs: list[tuple[str, Any]] = json.loads(self.body, object_pairs_hook=list)
        return pairs


def run_curl(args: list[str], workdir: Path) -> Answer:
    """Run `curl ARGS`, keeping the response's headers and body apart."""
    body_file = workdir / f"body-{time.monotonic_ns()}"
    received = ["--silent", "--show-error", "--dump-header", "-", "--output", str(body_file)]
    done = subprocess.run(
        ["curl", *received, *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    # The last header block is the final response (an interim 100 Continue may precede it).
    block = done.stdout.decode("iso-8859-1").strip().split("\r\n\r\n")[-1]
    status_line, *lines = block.split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = body_file.read_bytes()
    body_file.unlink()
    return Answer(int(status_line.split()[1]), headers, body)


def documented(command: str, base_url: str, **values: str) -> list[str]:
    """The arguments of a seed command, with our hosts and real credentials put in."""
    text = command.format(**values)
    text = text.replace(TOKEN_HOST, base_url).replace(API_HOST, base_url)
    argv = shlex.split(text.replace("\\\n", " "))
    assert argv[0] == "curl"
    return argv[1:]


def openssl_basic(client_id: str, secret: str) -> str:
    """`echo -n 'id:secret' | openssl base64`, as the seed shows, joined onto one line."""
    joined = f"{client_id}:{secret}".encode()
    if shutil.which("openssl") is None:  # the same encoding, for machines without openssl
        return base64.b64encode(joined).decode()
    done = subprocess.run(
        ["openssl", "base64"], input=joined, capture_output=True, timeout=30, check=True
    )
    # openssl wraps at 64 characters; the seed shows the value on one line.
    return "".join(done.stdout.decode().split())


def keys(pairs: list[tuple[str, Any]]) -> list[str]:
    return [key for key, _ in pairs]


def field(pairs: list[tuple[str, Any]], name: str) -> Any:
    return dict(pairs)[name]


def count_snapshots(conninfo: str) -> tuple[int, int]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM procrastinate_jobs)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.fixture
def token(
    pond_server: RunningServer,
    client_credentials: Callable[[str], tuple[str, str]],
    tmp_path: Path,
) -> str:
    """An access token for an `acme` client, obtained with the seed's token command."""
    client_id, secret = client_credentials("acme")
    args = documented(TOKEN_COMMAND, pond_server.base_url, basic=openssl_basic(client_id, secret))
    answer = run_curl(args, tmp_path)
    assert answer.status == 200, answer.body
    return str(answer.json()["access_token"])


def test_the_token_request_gets_the_documented_answer(
    pond_server: RunningServer,
    client_credentials: Callable[[str], tuple[str, str]],
    tmp_path: Path,
) -> None:
    client_id, secret = client_credentials("acme")
    basic = openssl_basic(client_id, secret)

    answer = run_curl(documented(TOKEN_COMMAND, pond_server.base_url, basic=basic), tmp_path)

    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    assert "no-store" in answer.headers["cache-control"]
    body = answer.json()
    assert sorted(body) == ["access_token", "expires_in", "token_type"]
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    # A JWT, like the seed's eyJ... example.
    assert body["access_token"].startswith("eyJ")
    assert body["access_token"].count(".") == 2


def test_schedule_poll_and_download_as_documented(
    pond_server: RunningServer, token: str, tmp_path: Path
) -> None:
    seeding.seed(pond_server.conninfo, org="acme", start=FROM, end=TO, count=2690)
    # Rows the snapshot must leave out: before the range, and another organisation's.
    seeding.seed(
        pond_server.conninfo, org="acme", start=FROM - timedelta(days=3), end=FROM, count=100
    )
    seeding.seed(pond_server.conninfo, org="globex", start=FROM, end=TO, count=300, seed=1)
    base = pond_server.base_url

    scheduled = run_curl(documented(SCHEDULE_COMMAND, base, token=token), tmp_path)

    assert scheduled.status == 202, scheduled.body
    answer = scheduled.ordered()
    assert keys(answer) == ["result", "snapshot"]
    assert field(answer, "result") == "OK"
    snapshot = field(answer, "snapshot")
    assert keys(snapshot) == ["href", "items"]
    href = field(snapshot, "href")
    assert href.startswith(f"{base}/insights/snapshots/")
    [item] = field(snapshot, "items")
    assert keys(item) == ["href", "size", "count", "state", "query"]
    assert field(item, "href") is None
    assert field(item, "size") is None
    assert field(item, "count") is None
    assert field(item, "state") in ("pending", "running")
    query = field(item, "query")
    assert keys(query) == ["entity", "created_at"]
    assert dict(query) == DOCUMENTED_QUERY

    deadline = time.monotonic() + 30
    while True:
        polled = run_curl(documented(POLL_COMMAND, base, href=href, token=token), tmp_path)
        assert polled.status == 200, polled.body
        state = polled.json()["items"][0]["state"]
        if state not in ("pending", "running"):
            break
        assert time.monotonic() < deadline, f"the snapshot stayed {state}"
        time.sleep(0.1)

    done = polled.ordered()
    assert keys(done) == ["href", "items"]
    assert field(done, "href") == href
    [item] = field(done, "items")
    assert keys(item) == ["href", "size", "count", "state", "query"]
    assert field(item, "state") == "complete"
    assert field(item, "count") == 2690
    assert dict(field(item, "query")) == DOCUMENTED_QUERY
    link = field(item, "href")
    assert link.startswith(("http://", "https://"))

    # "simply calling the url with a plain HTTP GET will initiate the download"
    target = tmp_path / "event_000.csv"
    download = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--write-out",
            "%{http_code}",
            "-o",
            str(target),
            link,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert download.returncode == 0, download.stderr
    assert download.stdout == "200"
    assert target.stat().st_size == field(item, "size")
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(EVENT.columns)
    assert len(rows) - 1 == 2690


def test_a_body_without_content_type_is_refused_and_creates_nothing(
    pond_server: RunningServer, token: str, tmp_path: Path
) -> None:
    before = count_snapshots(pond_server.conninfo)
    args = documented(SCHEDULE_COMMAND, pond_server.base_url, token=token)
    # Drop the seed's Content-type header, and have curl send none at all ("Content-Type:").
    content_type = args.index("Content-type: application/x-www-form-urlencoded")
    del args[content_type - 1 : content_type + 1]
    args += ["-H", "Content-Type:"]

    answer = run_curl(args, tmp_path)

    assert answer.status == 400, answer.body
    body = answer.json()
    assert sorted(body) == ["error", "error_description"]
    assert "content-type" in body["error_description"].lower()
    assert count_snapshots(pond_server.conninfo) == before

"""The running API against its own OpenAPI description, fuzzed by schemathesis' command line.

`st run` reads `/openapi.json` and runs all its phases (the document's examples,
the coverage of every bound, random fuzzing, and stateful sequences that follow
the document's links: a created snapshot or webhook is fetched and deleted) with
all its checks: no 5xx, every status, content type, header and body as
documented, valid requests accepted, invalid ones refused, 405 with `Allow`,
authentication not ignored, a deleted resource gone, and (its object-level
authorization check, which needs two users) one organisation's objects read
as the other's client. It runs in a subprocess, over loopback, as two
organisations' clients.

`POND_FUZZ_EXAMPLES` sets the examples per operation (default: about a minute
here); `POND_FUZZ_SEED` the seed (default fixed, so a run can be repeated).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer

EXAMPLES = int(os.environ.get("POND_FUZZ_EXAMPLES", "40"))
SEED = os.environ.get("POND_FUZZ_SEED", "20240501")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
HERE = Path(__file__).parent
# Longer than the longest long-poll the document allows (`wait` up to 30 s).
REQUEST_TIMEOUT = 40
# The default examples take about a minute here; more take longer, in proportion.
RUN_TIMEOUT = max(300, 10 * EXAMPLES)

Creds = Callable[[str], tuple[str, str]]


def token(server: RunningServer, creds: tuple[str, str]) -> str:
    answer = httpx.post(server.token_url, auth=creds, data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def config_file(directory: Path, tokens: dict[str, str]) -> Path:
    """The checked-in settings, with a Web Fuzzing Commons file of one user per organisation."""
    users = [
        {"name": org, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {value}"}]}
        for org, value in tokens.items()
    ]
    auth = directory / "users.json"
    auth.write_text(json.dumps({"auth": users}))
    config = directory / "schemathesis.toml"
    peers = ", ".join(json.dumps(org) for org in tokens)
    config.write_text(
        (HERE / "schemathesis.toml").read_text()
        + f'\n[auth.wfc]\npath = "{auth}"\npeers = [{peers}]\n'
    )
    return config


def fuzz(base_url: str, config: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """`st run` with every check and phase; its cache and JSON report stay in `workdir`."""
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--checks=all",
        f"--phases={','.join(PHASES)}",
        "--mode=all",
        f"--max-examples={EXAMPLES}",
        f"--seed={SEED}",
        "--workers=1",
        f"--request-timeout={REQUEST_TIMEOUT}",
        "--report=json",
        f"--report-json-path={workdir / 'report.json'}",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HERE / "fuzz_hooks.py")}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_schemathesis_with_every_check_and_phase_finds_nothing(
    start_server: Callable[..., RunningServer], client_credentials: Creds, tmp_path: Path
) -> None:
    # No brute-force limit (after ten failures the token endpoint would answer only 429,
    # test_token_throttle.py has that) and no rate limit; a small cap on running snapshots
    # keeps the export queue short, so a long-poll on a new snapshot ends early. Webhooks
    # may reach 127.0.0.1 only, where the hooks send every URL the fuzzer registers.
    server = start_server(
        token_failure_limit=0,
        rate_limit_per_minute=0,
        max_active_snapshots=8,
        webhook_allow_cidrs="127.0.0.1/32",
    )
    tokens = {org: token(server, client_credentials(org)) for org in ("acme", "globex")}

    run = fuzz(server.base_url, config_file(tmp_path, tokens), tmp_path)

    print(run.stdout[-4000:])
    summary: dict[str, Any] = json.loads((tmp_path / "report.json").read_text())
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert summary["failures"] == []
    assert summary["errors"] == []
    assert {name: phase["status"] for name, phase in summary["phases"].items()} == dict.fromkeys(
        PHASES, "success"
    )
    operations = summary["operations"]
    assert operations["tested"] == operations["total"] >= 16, operations
    # Operations with few inputs (GET /healthz) run fewer cases than the examples asked for.
    assert summary["test_cases"]["generated"] >= 4 * EXAMPLES, summary["test_cases"]

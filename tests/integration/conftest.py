"""Fixtures shared by the integration test modules: S3-compatible servers, one per session."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.integration.s3_servers import S3Server, run_moto, run_s3rver, run_seaweedfs


def _in_own_directory(
    prefix: str, run: Callable[[Path], AbstractContextManager[S3Server]]
) -> Iterator[S3Server]:
    # Not under pytest's temporary tree: another pytest run on this machine prunes old
    # trees there, and must not take a server's data from under it.
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with run(root) as server:
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Server]:
    """moto on loopback: S3's HTTP, no signature or expiry checks."""
    with run_moto() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[S3Server]:
    """SeaweedFS on loopback: checks credentials, SigV4 signatures and link expiry."""
    yield from _in_own_directory("pond-test-seaweedfs-", run_seaweedfs)


@pytest.fixture(scope="session")
def s3rver() -> Iterator[S3Server]:
    """s3rver on loopback: checks link expiry; lacks ListMultipartUploads."""
    yield from _in_own_directory("pond-test-s3rver-", run_s3rver)

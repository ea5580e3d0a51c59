"""The SDK's public surface, and that it stays free of the server stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pond.client

SERVER_MODULES = ("starlette", "psycopg", "procrastinate", "jwt", "pydantic_settings", "uvicorn")


def test_public_names_are_exported() -> None:
    assert sorted(pond.client.__all__) == sorted(
        [
            "AsyncClient",
            "AuthenticationFailed",
            "Backoff",
            "Client",
            "ClientConfig",
            "ClientCredentialsAuth",
            "ClientError",
            "ConfigurationError",
            "Download",
            "IntegrityError",
            "Item",
            "LinkRefused",
            "NotOffered",
            "PartProgress",
            "Query",
            "RequestRejected",
            "Secret",
            "ServiceUnavailable",
            "Snapshot",
            "SnapshotExpired",
            "SnapshotFailed",
            "SnapshotNotFound",
            "SnapshotNotReady",
            "Token",
            "UsageError",
            "WaitTimeout",
            "iter_rows",
            "merge",
            "resolve",
        ]
    )
    for name in pond.client.__all__:
        assert getattr(pond.client, name).__module__.startswith("pond.client")


def test_importing_the_sdk_and_client_commands_loads_no_server_module() -> None:
    code = (
        "import sys, pond.client, pond.cli.client_commands\n"
        f"loaded = [m for m in sys.modules if m.split('.')[0] in {SERVER_MODULES!r}]\n"
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_pond_command_loads_neither_the_server_stack_nor_what_it_may_never_use() -> None:
    # `pond snapshot download` and friends start in a fresh process each time:
    # Rich, asyncio and httpx's own command line load only when a command needs them.
    never = (*SERVER_MODULES, "boto3", "botocore", "rich", "asyncio", "pygments", "anyio")
    code = (
        "import sys, pond.cli.main\n"
        f"loaded = [m for m in sys.modules if m.split('.')[0] in {never!r}]\n"
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_the_entry_point_loads_the_client_or_typer_only_once_it_knows_which() -> None:
    code = (
        "import sys, pond.cli.entry\n"
        "loaded = [m for m, module in sys.modules.items() if module is not None\n"
        "          and m.split('.')[0] in ('typer', 'httpx', 'pydantic')]\n"
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_tls_is_set_up_only_for_an_https_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from pond.client.wire import TlsOnDemand, default_transport

    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    transport = default_transport()
    assert isinstance(transport, TlsOnDemand)
    assert transport._for(httpx.Request("GET", "http://example.org/")) is transport._plain
    assert transport._secure is None
    secure = transport._for(httpx.Request("GET", "https://example.org/"))
    assert secure is transport._secure is not None
    transport.close()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert default_transport() is None  # httpx then reads the proxies itself


def test_every_client_error_has_a_documented_exit_code() -> None:
    from pond.client import errors

    codes = {
        name: getattr(errors, name).exit_code
        for name in dir(errors)
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), errors.ClientError)
    }
    assert set(codes.values()) <= set(range(1, 10))
    assert codes["UsageError"] == 2
    assert codes["AuthenticationFailed"] == 3
    assert codes["SnapshotNotFound"] == 4
    assert codes["SnapshotExpired"] == codes["SnapshotFailed"] == 5
    assert codes["IntegrityError"] == 6
    assert codes["WaitTimeout"] == 7
    assert codes["ConfigurationError"] == 8
    assert codes["ServiceUnavailable"] == 9

"""The POND Snapshots API client: schedule, wait for and download CSV snapshots.

Works against the hosted service (its documented hosts are the defaults) and
against a `pond serve`. Needs only httpx: nothing of the server is imported.

    from pond.client import Client

    with Client() as pond:  # POND_CLIENT_ID / POND_CLIENT_SECRET, or `pond configure`
        snapshot = pond.wait(pond.create("2019-03-13T18:00:00Z", "2019-03-28T18:00:00Z"))
        download = pond.download(snapshot, Path("export"))
        for row in download.iter_rows():
            ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pond.client.async_client import AsyncClient
    from pond.client.auth import ClientCredentialsAuth, Token
    from pond.client.backoff import Backoff
    from pond.client.client import Client
    from pond.client.config import ClientConfig, Secret, resolve
    from pond.client.errors import (
        AuthenticationFailed,
        ClientError,
        ConfigurationError,
        IntegrityError,
        LinkRefused,
        NotOffered,
        RequestRejected,
        ServiceUnavailable,
        SnapshotExpired,
        SnapshotFailed,
        SnapshotNotFound,
        SnapshotNotReady,
        UsageError,
        WaitTimeout,
    )
    from pond.client.models import Item, Query, Snapshot
    from pond.client.parts import PartProgress
    from pond.client.results import Download, iter_rows, merge

# Each name is imported from its module on first use, so that a program (or a
# command) loads only what it uses: the synchronous client never loads asyncio.
_HOMES = {
    "AsyncClient": "async_client",
    "ClientCredentialsAuth": "auth",
    "Token": "auth",
    "Backoff": "backoff",
    "Client": "client",
    "ClientConfig": "config",
    "Secret": "config",
    "resolve": "config",
    "AuthenticationFailed": "errors",
    "ClientError": "errors",
    "ConfigurationError": "errors",
    "IntegrityError": "errors",
    "LinkRefused": "errors",
    "NotOffered": "errors",
    "RequestRejected": "errors",
    "ServiceUnavailable": "errors",
    "SnapshotExpired": "errors",
    "SnapshotFailed": "errors",
    "SnapshotNotFound": "errors",
    "SnapshotNotReady": "errors",
    "UsageError": "errors",
    "WaitTimeout": "errors",
    "Item": "models",
    "Query": "models",
    "Snapshot": "models",
    "PartProgress": "parts",
    "Download": "results",
    "iter_rows": "results",
    "merge": "results",
}

__all__ = [
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

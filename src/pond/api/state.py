"""What every request handler can reach: settings, the pool, keys, storage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from pond.auth.keys import KeyRing
from pond.downloads.signing import LinkSigner
from pond.settings import Settings
from pond.storage.base import ObjectStore


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[Any]
    keys: KeyRing
    store: ObjectStore
    signer: LinkSigner


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.pond
    return state


def base_url(request: Request) -> str:
    """The public base URL for hrefs: `POND_PUBLIC_URL`, else the one the caller used."""
    configured = app_state(request).settings.public_url
    if configured:
        return configured
    return str(request.base_url).rstrip("/")

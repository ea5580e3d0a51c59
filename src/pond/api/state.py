"""What every request handler can reach: settings, the pool, keys, storage."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from pond.api.batching import Batcher
from pond.auth.keys import KeyRing
from pond.auth.throttle import FailureThrottle
from pond.auth.tokens import TokenClaims
from pond.auth.watcher import KeyWatcher
from pond.clients import repository as client_repository
from pond.clients.repository import ClientRecord
from pond.downloads.signing import LinkSigner
from pond.limits.rate import SharedRate
from pond.settings import Settings
from pond.snapshots import repository
from pond.snapshots.changes import SnapshotChanges
from pond.snapshots.records import Lookup, LookupKey
from pond.storage.base import ObjectStore


@dataclass
class AppState:
    settings: Settings
    pool: AsyncConnectionPool[Any]
    # The keys in use: replaced whole by `use_keys` when the database's change.
    keys: KeyRing
    store: ObjectStore
    # Shared with the local object store, which signs links with it.
    signer: LinkSigner
    # News of snapshots from the database, for requests that wait: see pond.snapshots.changes.
    changes: SnapshotChanges
    # Tokens whose signature this process verified, by (token, issuer): see pond.auth.bearer.
    verified_tokens: dict[tuple[str, str | None], TokenClaims] = field(default_factory=dict)
    # What snapshot GETs read, in batches of the requests that arrive together, each
    # request counted against its client's rate limit (when there is one).
    lookups: Batcher[LookupKey, Lookup] = field(init=False)
    # The same reads, counted against nothing: a long-poll reading its snapshot again.
    rereads: Batcher[LookupKey, Lookup] = field(init=False)
    # The clients that token requests name, read the same way.
    clients: Batcher[str, ClientRecord | None] = field(init=False)
    # The per-client rate, counted in the database: see pond.snapshots.limits.
    rate_limit: SharedRate = field(init=False)
    # Failed token requests, counted in the database: see pond.auth.throttle.
    token_throttle: FailureThrottle = field(init=False)
    # Follows the database's keys; `run()` it for as long as the app serves.
    watcher: KeyWatcher = field(init=False)

    def __post_init__(self) -> None:
        pool = self.pool
        settings = self.settings
        self.watcher = KeyWatcher(pool, self.keys, self.use_keys)

        async def load(keys: dict[LookupKey, int]) -> dict[LookupKey, Lookup]:
            async with autocommit(pool) as conn:
                return await repository.lookup_many(
                    conn, keys, per_minute=settings.rate_limit_per_minute
                )

        async def reread(keys: dict[LookupKey, int]) -> dict[LookupKey, Lookup]:
            async with autocommit(pool) as conn:
                return await repository.lookup_many(conn, keys)

        self.lookups = Batcher(load)
        self.rereads = Batcher(reread)
        self.rate_limit = SharedRate(lambda: autocommit(pool), settings.rate_limit_per_minute)
        self.token_throttle = FailureThrottle(
            lambda: autocommit(pool), settings.token_failure_limit, settings.token_failure_window
        )

        async def load_clients(client_ids: dict[str, int]) -> dict[str, ClientRecord | None]:
            async with autocommit(pool) as conn:
                return await client_repository.get_many(conn, list(client_ids))

        self.clients = Batcher(load_clients)

    def use_keys(self, ring: KeyRing) -> None:
        """Sign and verify with `ring` from now on."""
        self.keys = ring
        ring.use_links(self.signer)
        # A remembered verification may rest on a key just retired: verify afresh.
        self.verified_tokens.clear()


@contextlib.asynccontextmanager
async def autocommit(
    pool: AsyncConnectionPool[Any],
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A pool connection for statements that need no transaction: no BEGIN, no COMMIT.

    For single reads on hot paths: a lone statement is atomic by itself, and the
    two extra round trips of a transaction cost more than the read. The connection
    goes back to the pool in its usual mode; one whose mode cannot be set back (an
    interrupted statement, a broken connection) is closed, and the pool replaces it.
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            try:
                await conn.set_autocommit(False)
            except Exception:
                await conn.close()


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.pond
    return state


_BASE_URLS: dict[tuple[Any, ...], str] = {}  # by what Starlette builds it from; bounded
_BASE_URLS_KEPT = 256


def base_url(request: Request) -> str:
    """The public base URL for hrefs: `POND_PUBLIC_URL`, else the one the caller used.

    Starlette builds it anew for each request, from the scheme, the Host header, the
    server address and the root path; the result is remembered for those values.
    """
    configured = app_state(request).settings.public_url
    if configured:
        return configured
    scope = request.scope
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    root = scope.get("app_root_path", scope.get("root_path", ""))
    key = (scope.get("scheme"), host, scope.get("server"), root)
    url = _BASE_URLS.get(key)
    if url is None:
        url = str(request.base_url).rstrip("/")
        if len(_BASE_URLS) < _BASE_URLS_KEPT:  # a stream of made-up Host headers stays cheap
            _BASE_URLS[key] = url
    return url

"""OAuth2 client credentials as an httpx auth flow, for the sync and the async client.

The flow fetches a token from the token endpoint (HTTP Basic, form-encoded,
as the documentation shows), keeps it in memory and optionally on disk
(mode 0600, one file per token URL, client id and scope), sends it as
`Authorization: Bearer`, fetches a new one shortly before expiry, and once
more when the API answers 401. Token endpoint refusals raise
`AuthenticationFailed`; an unreachable endpoint raises `ServiceUnavailable`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from pond.client.backoff import retry_after
from pond.client.config import ClientConfig
from pond.client.errors import AuthenticationFailed, ServiceUnavailable

if TYPE_CHECKING:
    import asyncio

_REFRESH_MARGIN = 60.0  # seconds before expiry a token counts as stale...
_REFRESH_FRACTION = 0.1  # ...or this share of its lifetime, when that is shorter


@dataclass(frozen=True)
class Token:
    """A bearer token and the wall-clock time (epoch seconds) it expires at."""

    access_token: str
    expires_at: float
    token_type: str = "Bearer"  # noqa: S105 -- the OAuth2 token type name, not a secret
    lifetime: float = 3600.0

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at:.0f}, token_type={self.token_type!r})"

    def is_fresh(self, now: float) -> bool:
        """True while the token is safely usable: not within its refresh margin of expiry."""
        margin = min(_REFRESH_MARGIN, self.lifetime * _REFRESH_FRACTION)
        return now < self.expires_at - margin

    @property
    def expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/pond/tokens`, else `~/.cache/pond/tokens`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pond" / "tokens"


def cache_dir_for(token_cache: bool | Path) -> Path | None:
    """The token cache directory a `token_cache` option means: None (memory only) for False."""
    if token_cache is True:
        return default_cache_dir()
    return token_cache or None


class TokenStore:
    """The current token in memory, mirrored in a 0600 file when `directory` is given."""

    def __init__(self, config: ClientConfig, directory: Path | None) -> None:
        self._token: Token | None = None
        self._path: Path | None = None
        if directory is not None:
            key = "\n".join((config.token_url, config.client_id, config.scope))
            self._path = directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def load(self) -> Token | None:
        """The cached token, from memory or disk, whatever its freshness."""
        if self._token is None and self._path is not None:
            try:
                data = json.loads(self._path.read_text(encoding="utf-8"))
                self._token = Token(
                    access_token=str(data["access_token"]),
                    expires_at=float(data["expires_at"]),
                    token_type=str(data.get("token_type", "Bearer")),
                    lifetime=float(data.get("lifetime", 3600.0)),
                )
            except (OSError, ValueError, KeyError, TypeError):
                return None
        return self._token

    def save(self, token: Token) -> None:
        self._token = token
        if self._path is None:
            return
        data = {
            "access_token": token.access_token,
            "expires_at": token.expires_at,
            "token_type": token.token_type,
            "lifetime": token.lifetime,
        }
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = self._path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(temporary, self._path)
        except OSError:
            pass  # a cache that cannot be written only costs a token request next time

    def discard(self, token: Token) -> None:
        """Forget `token` if it is still the current one (the API refused it)."""
        if self._token == token:
            self._token = None
            if self._path is not None:
                self._path.unlink(missing_ok=True)


def _basic(config: ClientConfig) -> str:
    pair = f"{config.client_id}:{config.client_secret.reveal()}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def token_request(config: ClientConfig, timeout: dict[str, Any] | None = None) -> httpx.Request:
    """The token endpoint request of the documentation: HTTP Basic, form-encoded grant."""
    return httpx.Request(
        "POST",
        config.token_url,
        data={"grant_type": "client_credentials", "scope": config.scope},
        headers={"Authorization": _basic(config), "Accept": "application/json"},
        extensions={} if timeout is None else {"timeout": timeout},
    )


def parse_token(response: httpx.Response, now: float) -> Token:
    """The token in a token endpoint answer; `AuthenticationFailed` for a refusal."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        code = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        if response.status_code >= 500:
            raise ServiceUnavailable(
                f"the token endpoint answered {response.status_code}",
                hint="retry in a while",
                status=response.status_code,
            )
        reason = ": ".join(str(x) for x in (code, detail) if x) or f"HTTP {response.status_code}"
        if response.status_code == 429:
            wait = retry_after(response.headers)
            raise AuthenticationFailed(
                f"the token endpoint is refusing requests for now ({reason})",
                hint="check POND_CLIENT_ID / POND_CLIENT_SECRET, then retry"
                + (f" in {wait:g} s" if wait is not None else " later"),
                status=response.status_code,
            )
        raise AuthenticationFailed(
            f"the token endpoint refused the credentials ({reason})",
            hint="check POND_CLIENT_ID / POND_CLIENT_SECRET or run `pond configure`",
            status=response.status_code,
        )
    try:
        lifetime = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    return Token(
        access_token=str(body["access_token"]),
        expires_at=now + lifetime,
        token_type=str(body.get("token_type") or "Bearer"),
        lifetime=lifetime,
    )


class ClientCredentialsAuth(httpx.Auth):
    """Bearer tokens from the client-credentials grant, refreshed as needed.

    Safe to share between threads (sync) or tasks (async): one token request
    at a time, and a token refused with 401 is replaced once per request.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        cache_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._store = TokenStore(config, cache_dir)
        self._clock = clock
        self._thread_lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None

    @property
    def _task_lock(self) -> asyncio.Lock:
        # Made on first use, so that synchronous clients never import asyncio.
        if self._async_lock is None:
            import asyncio

            self._async_lock = asyncio.Lock()
        return self._async_lock

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(client_id={self._config.client_id!r})"

    def _usable(self) -> Token | None:
        token = self._store.load()
        return token if token is not None and token.is_fresh(self._clock()) else None

    def _accept(self, response: httpx.Response) -> Token:
        token = parse_token(response, self._clock())
        self._store.save(token)
        return token

    @staticmethod
    def _authorize(request: httpx.Request, token: Token) -> None:
        request.headers["Authorization"] = f"Bearer {token.access_token}"

    def sync_token_flow(
        self, request: httpx.Request, refused: Token | None = None
    ) -> Generator[httpx.Request, httpx.Response, Token]:
        """A usable token, fetched through the flow when needed; `refused` is never returned."""
        with self._thread_lock:
            if refused is not None:
                self._store.discard(refused)
            token = self._usable()
            if token is None:
                response = yield token_request(self._config, request.extensions.get("timeout"))
                response.read()
                token = self._accept(response)
            return token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self.sync_token_flow(request)
        self._authorize(request, token)
        response = yield request
        if response.status_code == 401:
            token = yield from self.sync_token_flow(request, refused=token)
            self._authorize(request, token)
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token: Token | None = None
        for attempt in range(2):
            async with self._task_lock:
                if token is not None:
                    self._store.discard(token)
                token = self._usable()
                if token is None:
                    token_response = yield token_request(
                        self._config, request.extensions.get("timeout")
                    )
                    await token_response.aread()
                    token = self._accept(token_response)
            self._authorize(request, token)
            response = yield request
            if response.status_code != 401 or attempt == 1:
                return

    def fetch(self, http: httpx.Client) -> Token:
        """A usable token, fetched with `http` when the cache has none (for `pond token`)."""
        with self._thread_lock:
            token = self._usable()
            if token is None:
                timeout = http.timeout.as_dict()
                token = self._accept(http.send(token_request(self._config, timeout)))
            return token

    async def afetch(self, http: httpx.AsyncClient) -> Token:
        """A usable token, fetched with `http` when the cache has none."""
        async with self._task_lock:
            token = self._usable()
            if token is None:
                timeout = http.timeout.as_dict()
                token = self._accept(await http.send(token_request(self._config, timeout)))
            return token

"""Keeping one API process's keys equal to the database's, with no restart.

The process looks at the live keys every `RELOAD_SECONDS`: a rotation starts
signing with the new key here, and a retired key stops verifying here, within
that time. A token or link that names a key this process does not know makes it
look at once (at most every `EAGER_GAP` seconds): another process may have
picked up a rotation first and signed with the new key already.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from pond.auth import keys, repository
from pond.auth.keys import KeyRing
from pond.errors import PondError

log = structlog.get_logger("pond.keys")

RELOAD_SECONDS = 2.0
# Unknown key ids are attacker-chosen: they may cost one extra read this often, no more.
EAGER_GAP = 0.25


class KeyWatcher:
    """Reads the live keys and hands a new `KeyRing` to `apply` whenever they changed."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], ring: KeyRing, apply: Callable[[KeyRing], None]
    ) -> None:
        self._pool = pool
        self.ring = ring
        self.interval = RELOAD_SECONDS
        self._apply = apply
        self._eager = asyncio.Lock()
        self._last_eager = float("-inf")

    async def reload(self) -> bool:
        """Read the live keys; apply them if they changed. Whether they had."""
        async with self._pool.connection() as conn:
            rows = await repository.live(conn)
        if frozenset(row.kid for row in rows) == self.ring.kids:
            return False
        ring = keys.build(rows)
        self.ring = ring
        self._apply(ring)
        log.info(
            "keys.reloaded",
            token_kid=ring.jwt_kid,
            link_kid=ring.link_kid,
            verifying=sorted(ring.verifying_keys),
            links=sorted(ring.link_secrets),
        )
        return True

    async def look_for(self, kid: str) -> None:
        """Reload now if key `kid` is unknown here and no such reload began lately.

        Never raises: if the database cannot be read, the key stays unknown.
        """
        if kid in self.ring.kids:
            return
        async with self._eager:
            if kid in self.ring.kids or time.monotonic() - self._last_eager < EAGER_GAP:
                return
            self._last_eager = time.monotonic()
            await self._reload_logged()

    async def run(self) -> None:
        """Reload every `interval` seconds (`RELOAD_SECONDS`) until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            await self._reload_logged()

    async def _reload_logged(self) -> None:
        try:
            await self.reload()
        except (psycopg.Error, PoolTimeout, PondError) as error:
            # The keys in hand keep working; the next look tries again.
            log.warning("keys.reload_failed", error=str(error))

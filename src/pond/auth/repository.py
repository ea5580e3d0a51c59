"""SQL for the server's keys (`signing_keys`): the token key pairs, link secrets, the hash key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.AsyncConnection[Any]

# Serialises key creation and rotation between processes.
_KEY_LOCK = 0x6B657973  # "keys"

_RECORD = "kid, purpose, created_at, superseded_at, retired_at"


@dataclass(frozen=True)
class KeyRecord:
    """A key as operators see it: never its secret."""

    kid: str
    purpose: str
    created_at: datetime
    superseded_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True)
class KeyRow(KeyRecord):
    """A key that is not retired, with what it signs and verifies with."""

    secret: bytes = field(repr=False)
    public_jwk: dict[str, Any] | None


async def lock(conn: Conn) -> None:
    """Hold the keys' lock until the current transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_KEY_LOCK,))


async def live(conn: Conn) -> list[KeyRow]:
    """Every key not retired, newest first."""
    async with conn.cursor(row_factory=class_row(KeyRow)) as cur:
        await cur.execute(
            f"SELECT {_RECORD}, secret, public_jwk FROM signing_keys"
            " WHERE retired_at IS NULL ORDER BY created_at DESC, kid"
        )
        return await cur.fetchall()


async def every(conn: Conn) -> list[KeyRecord]:
    """Every key, retired ones included, oldest first."""
    async with conn.cursor(row_factory=class_row(KeyRecord)) as cur:
        await cur.execute(f"SELECT {_RECORD} FROM signing_keys ORDER BY created_at, kid")
        return await cur.fetchall()


async def get(conn: Conn, kid: str) -> KeyRecord | None:
    """The key named `kid`, whatever its state; None if there is none."""
    async with conn.cursor(row_factory=class_row(KeyRecord)) as cur:
        await cur.execute(f"SELECT {_RECORD} FROM signing_keys WHERE kid = %s", (kid,))
        return await cur.fetchone()


async def insert(
    conn: Conn, *, kid: str, purpose: str, secret: bytes, public_jwk: dict[str, Any] | None
) -> None:
    """Store a new key of `purpose` (`public_jwk`: a token key's public half)."""
    await conn.execute(
        "INSERT INTO signing_keys (kid, purpose, secret, public_jwk) VALUES (%s, %s, %s, %s)",
        (kid, purpose, secret, None if public_jwk is None else json.dumps(public_jwk)),
    )


async def supersede(conn: Conn, purpose: str) -> str | None:
    """Mark the signing key of `purpose` as superseded from now; its kid, if there was one."""
    row = await (
        await conn.execute(
            "UPDATE signing_keys SET superseded_at = now()"
            " WHERE purpose = %s AND superseded_at IS NULL AND retired_at IS NULL RETURNING kid",
            (purpose,),
        )
    ).fetchone()
    return None if row is None else str(row[0])


# A retired key's secret is erased: nothing may verify with it again, and a backup
# taken from then on no longer holds it. The row stays, for `pond keys list`.
_RETIRE = "UPDATE signing_keys SET retired_at = now(), secret = ''::bytea"


async def retire(conn: Conn, kid: str) -> bool:
    """Retire key `kid` if it is live; whether it was."""
    cur = await conn.execute(_RETIRE + " WHERE kid = %s AND retired_at IS NULL", (kid,))
    return cur.rowcount == 1


async def retire_superseded_before(conn: Conn, purpose: str, seconds: float) -> list[str]:
    """Retire the keys of `purpose` superseded at least `seconds` ago; their kids."""
    rows = await (
        await conn.execute(
            _RETIRE + " WHERE purpose = %s AND retired_at IS NULL AND superseded_at IS NOT NULL"
            " AND superseded_at <= now() - make_interval(secs => %s) RETURNING kid",
            (purpose, seconds),
        )
    ).fetchall()
    return sorted(str(row[0]) for row in rows)

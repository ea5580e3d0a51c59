"""Operator actions on the server's keys: list, rotate, retire, and retirement once expired.

A rotation makes a new key the one that signs; the key it supersedes keeps
verifying what it signed. A superseded key is retired by hand (`retire`) or,
automatically, once nothing it signed can still be valid (`retire_expired`, run
by the maintenance task): an access token lives `POND_TOKEN_TTL` seconds, a
link `POND_LINK_TTL` seconds but never past its snapshot's retention. API
processes follow within `RELOAD_SECONDS` (`pond.auth.watcher`), which the
automatic retirement waits out too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from pond.auth import repository
from pond.auth.keys import HASH, LINK, TOKEN, add_key, load_keyring
from pond.auth.repository import Conn, KeyRecord
from pond.auth.watcher import RELOAD_SECONDS
from pond.errors import InputError, KeyNotFound
from pond.settings import Settings

log = structlog.get_logger("pond.keys")

# What operators call each purpose, and the database's name for it.
PURPOSES = {"token": TOKEN, "link": LINK, "hash": HASH}
_NAMES = {stored: name for name, stored in PURPOSES.items()}
# Beyond the longest life of what a key signed: a minute for clocks that differ
# between machines (token checks allow 5 s), and processes that signed with the key
# until their next reload.
GRACE_SECONDS = 60.0 + RELOAD_SECONDS


@dataclass(frozen=True)
class KeyState:
    """A key as `pond keys list` shows it.

    `state` is `signing` (the token key or link secret in use), `verifying`
    (superseded: still checks what it signed), `retired`, or `hashing` for the hash
    key of client secrets; `retires_at` is when a verifying key is retired
    automatically.
    """

    kid: str
    purpose: str
    state: str
    created_at: datetime
    superseded_at: datetime | None
    retired_at: datetime | None
    retires_at: datetime | None


@dataclass(frozen=True)
class Rotation:
    """One purpose's rotation: the key that signed until now, and the one that signs from now."""

    purpose: str
    old_kid: str | None
    new_kid: str
    old_retires_at: datetime | None


def valid_for(settings: Settings, purpose: str) -> float:
    """The longest time, in seconds, that a token or link signed by a key of `purpose` is valid."""
    if purpose == TOKEN:
        return float(settings.token_ttl)
    if purpose == LINK:
        return min(float(settings.link_ttl), settings.retention_days * 86400)
    raise ValueError(f"keys of purpose {purpose!r} are not rotated")


def _retires_at(settings: Settings, record: KeyRecord) -> datetime | None:
    if record.retired_at is not None or record.superseded_at is None:
        return None
    seconds = valid_for(settings, record.purpose) + GRACE_SECONDS
    return record.superseded_at + timedelta(seconds=seconds)


def _state(settings: Settings, record: KeyRecord) -> KeyState:
    if record.retired_at is not None:
        state = "retired"
    elif record.superseded_at is not None:
        state = "verifying"
    elif record.purpose == HASH:
        state = "hashing"
    else:
        state = "signing"
    return KeyState(
        kid=record.kid,
        purpose=_NAMES[record.purpose],
        state=state,
        created_at=record.created_at,
        superseded_at=record.superseded_at,
        retired_at=record.retired_at,
        retires_at=_retires_at(settings, record),
    )


async def list_keys(conn: Conn, settings: Settings) -> list[KeyState]:
    """Every key, retired ones included, oldest first (made first if there are none)."""
    await load_keyring(conn)
    return [_state(settings, record) for record in await repository.every(conn)]


async def rotate(conn: Conn, settings: Settings, purposes: list[str]) -> list[Rotation]:
    """Make a new signing key for each of `purposes` ("token", "link"), in one transaction."""
    unknown = [p for p in purposes if PURPOSES.get(p) not in (TOKEN, LINK)]
    if unknown or not purposes:
        raise InputError(
            f"cannot rotate {', '.join(unknown) or 'nothing'}",
            hint="rotate the token key, the link secret, or both",
        )
    await load_keyring(conn)  # on a fresh database, make the keys there are to supersede
    done = []
    async with conn.transaction():
        await repository.lock(conn)
        for name in purposes:
            purpose = PURPOSES[name]
            old = await repository.supersede(conn, purpose)
            new = await add_key(conn, purpose)
            old_record = None if old is None else await repository.get(conn, old)
            retires = None if old_record is None else _retires_at(settings, old_record)
            done.append(Rotation(name, old, new, retires))
    return done


async def retire(conn: Conn, settings: Settings, kid: str) -> KeyState | None:
    """Retire key `kid` now: whatever it signed stops working. None if it was retired already.

    `KeyNotFound` for an unknown kid; `InputError` for a key that signs (rotate
    first) or the hash key (it is never retired).
    """
    async with conn.transaction():
        await repository.lock(conn)
        record = await repository.get(conn, kid)
        if record is None:
            raise KeyNotFound(f"no key {kid!r}", hint="see `pond keys list`")
        if record.retired_at is not None:
            return None
        if record.purpose == HASH:
            raise InputError(
                f"key {kid!r} hashes client secrets and is never retired",
                hint="retire token keys and link secrets only",
            )
        if record.superseded_at is None:
            raise InputError(
                f"key {kid!r} is the {_NAMES[record.purpose]} key that signs now",
                hint=f"rotate it first: `pond keys rotate --{_NAMES[record.purpose]}`",
            )
        await repository.retire(conn, kid)
        retired = await repository.get(conn, kid)
    assert retired is not None
    return _state(settings, retired)


async def retire_expired(conn: Conn, settings: Settings) -> list[str]:
    """Retire every superseded key whose tokens or links have all expired; their kids."""
    retired: list[str] = []
    async with conn.transaction():
        await repository.lock(conn)
        for purpose in (TOKEN, LINK):
            after = valid_for(settings, purpose) + GRACE_SECONDS
            for kid in await repository.retire_superseded_before(conn, purpose, after):
                log.info("keys.retired", kid=kid, purpose=_NAMES[purpose], automatic=True)
                retired.append(kid)
    return retired

"""Operator actions on clients (create, list, revoke, rotate), and checking a client's secret.

A secret is returned once, by `create` and `rotate`, and stored only as a hash
(`pond.auth.credentials`), made with the server's hash key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import structlog

from pond.auth import credentials
from pond.auth.credentials import SecretHasher
from pond.auth.keys import load_keyring
from pond.clients import repository
from pond.clients.repository import ClientRecord, Conn
from pond.errors import ClientNotFound, InputError

_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
log = structlog.get_logger("pond.clients")


@dataclass(frozen=True)
class NewCredentials:
    """A client id with its secret, as shown once to the operator."""

    client_id: str
    client_secret: str = field(repr=False)
    org: str
    name: str


def check_org(org: str) -> str:
    """`org` if it is a valid organisation name, else `InputError` saying what is allowed."""
    if not _ORG.match(org):
        raise InputError(
            f"invalid organisation name {org!r}",
            hint="use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return org


async def create(conn: Conn, *, name: str, org: str) -> NewCredentials:
    check_org(org)
    if not name.strip():
        raise InputError("the client name is empty", hint="pass --name with a short description")
    hasher = (await load_keyring(conn)).hasher
    secret = credentials.new_client_secret()
    secret_hash = hasher.hash(secret)
    client_id = credentials.new_client_id()
    async with conn.transaction():
        org_id = await repository.ensure_org(conn, org)
        await repository.insert(
            conn, client_id=client_id, org_id=org_id, name=name.strip(), secret_hash=secret_hash
        )
    return NewCredentials(client_id=client_id, client_secret=secret, org=org, name=name.strip())


async def list_clients(conn: Conn) -> list[ClientRecord]:
    return await repository.list_all(conn)


async def revoke(conn: Conn, client_id: str) -> None:
    if not await repository.revoke(conn, client_id):
        raise ClientNotFound(f"no client {client_id!r}", hint="see `pond clients list`")


async def rotate(conn: Conn, client_id: str) -> NewCredentials:
    record = await repository.get(conn, client_id)
    if record is None:
        raise ClientNotFound(f"no client {client_id!r}", hint="see `pond clients list`")
    if not record.active:
        raise InputError(f"client {client_id!r} is revoked", hint="create a new client instead")
    hasher = (await load_keyring(conn)).hasher
    secret = credentials.new_client_secret()
    await repository.rotate(conn, client_id, hasher.hash(secret))
    return NewCredentials(
        client_id=client_id, client_secret=secret, org=record.org, name=record.name
    )


@dataclass(frozen=True)
class SecretCheck:
    """What a client id and secret are worth: the active client they name, if they match.

    `rehashed` is the secret's hash to store in place of one an earlier release made.
    """

    client: ClientRecord | None
    rehashed: str | None = field(default=None, repr=False)


async def check_secret(
    hasher: SecretHasher, client: ClientRecord | None, secret: str
) -> SecretCheck:
    """Whether `secret` is `client`'s (None: an unknown id, which costs the same work).

    A revoked client is refused like a wrong secret.
    """
    verdict = await hasher.verify(secret, client.secret_hash if client is not None else None)
    if client is None or not verdict.valid or not client.active:
        return SecretCheck(client=None)
    return SecretCheck(client=client, rehashed=verdict.rehashed)


async def store_rehashed(conn: Conn, check: SecretCheck) -> None:
    """Store the new hash a check found due, unless the secret changed meanwhile."""
    client = check.client
    if client is None or check.rehashed is None:
        return
    if await repository.replace_hash(conn, client.client_id, client.secret_hash, check.rehashed):
        log.info("client.secret_rehashed", client_id=client.client_id, scheme="hmac-sha256")


async def authenticate(
    conn: Conn, hasher: SecretHasher, client_id: str, secret: str
) -> ClientRecord | None:
    """The active client with this id and secret, or None (unknown, wrong secret, revoked).

    A secret still stored as an earlier release's scrypt hash is stored again as
    `hasher` makes it, once it matched.
    """
    check = await check_secret(hasher, await repository.get(conn, client_id), secret)
    await store_rehashed(conn, check)
    return check.client

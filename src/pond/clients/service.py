"""Operator actions on clients: create, list, revoke, rotate.

A secret is returned once, by `create` and `rotate`, and stored only as a hash.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from pond.auth import credentials
from pond.clients import repository
from pond.clients.repository import ClientRecord, Conn
from pond.errors import ClientNotFound, InputError

_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


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
    secret = credentials.new_client_secret()
    secret_hash = await asyncio.to_thread(credentials.hash_secret, secret)
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
    secret = credentials.new_client_secret()
    secret_hash = await asyncio.to_thread(credentials.hash_secret, secret)
    await repository.rotate(conn, client_id, secret_hash)
    return NewCredentials(
        client_id=client_id, client_secret=secret, org=record.org, name=record.name
    )

"""SQL for organisations and OAuth clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

Conn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    org_id: int
    org: str
    name: str
    secret_hash: str = field(repr=False)
    generation: int
    scopes: list[str]
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_SELECT = """
SELECT c.client_id, c.org_id, o.slug AS org, c.name, c.secret_hash, c.generation, c.scopes,
       c.created_at, c.rotated_at, c.revoked_at
FROM oauth_clients c JOIN organisations o ON o.id = c.org_id
"""


# The update changes nothing; it makes RETURNING give the id of an existing organisation.
ENSURE_ORG = (
    "INSERT INTO organisations (slug) VALUES (%s)"
    " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id"
)


async def ensure_org(conn: Conn, slug: str) -> int:
    """The id of organisation `slug`, created if new."""
    row = await (await conn.execute(ENSURE_ORG, (slug,))).fetchone()
    assert row is not None
    return int(row[0])


async def find_org(conn: Conn, slug: str) -> int | None:
    """The id of organisation `slug`; None if there is none."""
    row = await (
        await conn.execute("SELECT id FROM organisations WHERE slug = %s", (slug,))
    ).fetchone()
    return None if row is None else int(row[0])


async def insert(conn: Conn, *, client_id: str, org_id: int, name: str, secret_hash: str) -> None:
    """Store a new client of the organisation, active, generation 1."""
    await conn.execute(
        "INSERT INTO oauth_clients (client_id, org_id, name, secret_hash) VALUES (%s, %s, %s, %s)",
        (client_id, org_id, name, secret_hash),
    )


async def get(conn: Conn, client_id: str) -> ClientRecord | None:
    """The client, revoked or not; None for an unknown id."""
    async with conn.cursor(row_factory=class_row(ClientRecord)) as cur:
        await cur.execute(_SELECT + " WHERE c.client_id = %s", (client_id,))
        return await cur.fetchone()


async def get_many(conn: Conn, client_ids: list[str]) -> dict[str, ClientRecord | None]:
    """Each client by id (None for an unknown one), in one statement."""
    async with conn.cursor(row_factory=class_row(ClientRecord)) as cur:
        await cur.execute(_SELECT + " WHERE c.client_id = ANY(%s)", (client_ids,))
        found = {record.client_id: record for record in await cur.fetchall()}
    return {client_id: found.get(client_id) for client_id in client_ids}


async def list_all(conn: Conn) -> list[ClientRecord]:
    """Every client, revoked ones included, oldest first."""
    async with conn.cursor(row_factory=class_row(ClientRecord)) as cur:
        await cur.execute(_SELECT + " ORDER BY c.created_at, c.client_id")
        return await cur.fetchall()


async def revoke(conn: Conn, client_id: str) -> bool:
    """Revoke the client (at once; revoking again keeps the first time); False if unknown."""
    cur = await conn.execute(
        "UPDATE oauth_clients SET revoked_at = coalesce(revoked_at, now()) WHERE client_id = %s",
        (client_id,),
    )
    return cur.rowcount == 1


async def rotate(conn: Conn, client_id: str, secret_hash: str) -> bool:
    """Store a new secret hash and move to the next generation, ending the tokens of the
    last; False if the client is unknown or revoked."""
    cur = await conn.execute(
        "UPDATE oauth_clients SET secret_hash = %s, generation = generation + 1, rotated_at = now()"
        " WHERE client_id = %s AND revoked_at IS NULL",
        (secret_hash, client_id),
    )
    return cur.rowcount == 1


async def replace_hash(conn: Conn, client_id: str, old: str, new: str) -> bool:
    """Store `new` as the client's secret hash if it is still `old` (a rotation wins)."""
    cur = await conn.execute(
        "UPDATE oauth_clients SET secret_hash = %s WHERE client_id = %s AND secret_hash = %s",
        (new, client_id, old),
    )
    return cur.rowcount == 1

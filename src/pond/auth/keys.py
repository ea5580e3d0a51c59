"""The server's own keys: an RS256 pair for access tokens and an HMAC secret for links.

Both are made on first start and kept in the database, where every pond
process (API servers and workers alike) finds the same ones.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

# Serialises first-start key creation between processes.
_KEY_LOCK = 0x6B657973  # "keys"


@dataclass(frozen=True)
class KeyRing:
    """The keys in use: `jwt_kid`/`jwt_private_pem` sign tokens, `public_jwks` verify them."""

    jwt_kid: str
    jwt_private_pem: bytes = field(repr=False)
    public_jwks: dict[str, Any]
    link_kid: str
    link_secret: bytes = field(repr=False)


def _new_rsa_key() -> tuple[str, bytes, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = secrets.token_urlsafe(16)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return kid, pem, jwk


async def load_keyring(conn: psycopg.AsyncConnection[Any]) -> KeyRing:
    """The current keys, creating whichever is missing (once, whatever the number of processes)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_KEY_LOCK,))
        rows = await (
            await conn.execute(
                "SELECT kid, purpose, secret, public_jwk, retired_at IS NULL AS active"
                " FROM signing_keys ORDER BY created_at DESC"
            )
        ).fetchall()
        jwt_rows = [r for r in rows if r[1] == "jwt"]
        link_rows = [r for r in rows if r[1] == "link" and r[4]]
        if not any(r[4] for r in jwt_rows):
            kid, pem, jwk = _new_rsa_key()
            await conn.execute(
                "INSERT INTO signing_keys (kid, purpose, secret, public_jwk)"
                " VALUES (%s, 'jwt', %s, %s)",
                (kid, pem, json.dumps(jwk)),
            )
            jwt_rows.insert(0, (kid, "jwt", pem, jwk, True))
        if not link_rows:
            kid, secret = secrets.token_urlsafe(8), secrets.token_bytes(32)
            await conn.execute(
                "INSERT INTO signing_keys (kid, purpose, secret) VALUES (%s, 'link', %s)",
                (kid, secret),
            )
            link_rows.insert(0, (kid, "link", secret, None, True))
    active_jwt = next(r for r in jwt_rows if r[4])
    return KeyRing(
        jwt_kid=active_jwt[0],
        jwt_private_pem=bytes(active_jwt[2]),
        # Retired keys stay published so tokens they signed verify until they expire.
        public_jwks={"keys": [r[3] for r in jwt_rows]},
        link_kid=link_rows[0][0],
        link_secret=bytes(link_rows[0][2]),
    )

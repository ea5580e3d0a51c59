"""The server's own keys: RS256 pairs for access tokens, HMAC secrets for links, a hash key.

All are made on first start and kept in the database, where every pond process
(API servers and workers alike) finds the same ones. Token keys and link
secrets rotate (`pond.auth.rotation`): one key of each signs, and the keys it
superseded keep verifying what they signed until they are retired. The hash
key of client secrets does not rotate.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from pond.auth import repository
from pond.auth.credentials import SecretHasher
from pond.auth.repository import Conn, KeyRow
from pond.downloads.signing import LinkSigner
from pond.errors import PondError

TOKEN, LINK, HASH = "jwt", "link", "hash"


@dataclass(frozen=True)
class KeyRing:
    """The keys of one moment: the signing key of each purpose, and every key that verifies.

    `public_jwks` is the JWKS document (every token key not retired, the signing
    one first); `verifying_keys` holds the same keys ready for PyJWT, by kid.
    """

    jwt_kid: str
    jwt_private_key: rsa.RSAPrivateKey = field(repr=False)
    public_jwks: dict[str, Any] = field(repr=False)
    verifying_keys: Mapping[str, rsa.RSAPublicKey] = field(repr=False)
    link_kid: str
    link_secret: bytes = field(repr=False)
    link_secrets: Mapping[str, bytes] = field(repr=False)
    hasher: SecretHasher
    # Every key not retired, whatever its purpose: a change here is a change of keys.
    kids: frozenset[str]

    def link_signer(self) -> LinkSigner:
        """A signer with this ring's link secrets (update it later with `use_links`)."""
        return LinkSigner(self.link_kid, self.link_secret, verifying=self.link_secrets)

    def use_links(self, signer: LinkSigner) -> None:
        """Make `signer` sign with this ring's link secret and check with all of them."""
        signer.use(self.link_kid, self.link_secret, verifying=self.link_secrets)


def new_kid(nbytes: int) -> str:
    """A random URL-safe key id that never begins with `-`, so a command line reads it as an id."""
    while True:
        kid = secrets.token_urlsafe(nbytes)
        if not kid.startswith("-"):
            return kid


def new_token_key() -> tuple[str, bytes, dict[str, Any]]:
    """A new RS256 pair: its kid, the private key (PEM) and the public JWK."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    kid = new_kid(16)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return kid, pem, jwk


def new_secret() -> tuple[str, bytes]:
    """A new HMAC key (link secret or hash key): a short kid and 32 random bytes."""
    return new_kid(8), secrets.token_bytes(32)


async def add_key(conn: Conn, purpose: str) -> str:
    """Store a new signing key of `purpose`; its kid. The caller supersedes the previous one."""
    if purpose == TOKEN:
        kid, pem, jwk = new_token_key()
        await repository.insert(conn, kid=kid, purpose=TOKEN, secret=pem, public_jwk=jwk)
        return kid
    kid, secret = new_secret()
    await repository.insert(conn, kid=kid, purpose=purpose, secret=secret, public_jwk=None)
    return kid


def _signing(rows: list[KeyRow], purpose: str) -> KeyRow:
    current = [r for r in rows if r.purpose == purpose and r.superseded_at is None]
    if not current:
        raise PondError(
            f"the database holds no {purpose!r} signing key",
            hint="run `pond keys rotate` to make one",
        )
    return current[0]


def build(rows: list[KeyRow]) -> KeyRing:
    """The key ring of `rows` (every key not retired, newest first)."""
    token = _signing(rows, TOKEN)
    link = _signing(rows, LINK)
    hashing = _signing(rows, HASH)
    # The key was made by pond and read from its own database: checking the pair's
    # arithmetic again (about 100 ms) would stall the process at every rotation.
    private = serialization.load_pem_private_key(
        token.secret, None, unsafe_skip_rsa_key_validation=True
    )
    assert isinstance(private, rsa.RSAPrivateKey)
    jwks = [token.public_jwk] + [
        r.public_jwk for r in rows if r.purpose == TOKEN and r is not token and r.public_jwk
    ]
    verifying = {}
    for jwk in jwks:
        assert jwk is not None
        public = RSAAlgorithm.from_jwk(jwk)
        assert isinstance(public, rsa.RSAPublicKey)
        verifying[str(jwk["kid"])] = public
    return KeyRing(
        jwt_kid=token.kid,
        jwt_private_key=private,
        public_jwks={"keys": jwks},
        verifying_keys=verifying,
        link_kid=link.kid,
        link_secret=link.secret,
        link_secrets={r.kid: r.secret for r in rows if r.purpose == LINK},
        hasher=SecretHasher(hashing.kid, hashing.secret),
        kids=frozenset(r.kid for r in rows),
    )


async def read_keyring(conn: Conn) -> KeyRing:
    """The keys as the database holds them now (`PondError` if a signing key is missing)."""
    return build(await repository.live(conn))


async def load_keyring(conn: Conn) -> KeyRing:
    """The current keys, creating whichever is missing (once, whatever the number of processes)."""
    async with conn.transaction():
        await repository.lock(conn)
        rows = await repository.live(conn)
        missing = [
            purpose
            for purpose in (TOKEN, LINK, HASH)
            if not any(r.purpose == purpose and r.superseded_at is None for r in rows)
        ]
        for purpose in missing:
            await add_key(conn, purpose)
        if missing:
            rows = await repository.live(conn)
    return build(rows)

"""Client ids and secrets, and how pond keeps them: only as hashes.

Client secrets are 52 random characters made by pond (about 268 bits): no
search can reach one however fast each guess is, so a slow hash adds nothing but
cost. They are kept as HMAC-SHA-256 under a server key (`SecretHasher`), checked
in microseconds. Hashes stored by earlier releases (scrypt) still verify, and
the caller stores the new form on their next successful use.

Console operator passwords are typed by people and kept with scrypt, whose cost
is there to slow down guessing.

Every comparison is constant-time, and an unknown client id or operator costs
the same work as a known one, so timing does not tell which exist.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

_ALPHABET = string.ascii_lowercase + string.digits
# scrypt cost: about 30 ms on a laptop core; enough to make guessing slow.
_N, _R, _P = 2**14, 8, 1
_DUMMY_PASSWORD_HASH: str | None = None
_HMAC = "hmac-sha256"
_SCRYPT = "scrypt"


def new_client_id() -> str:
    """A Cognito-shaped client id: 26 lowercase letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(26))


def new_client_secret() -> str:
    """A Cognito-shaped client secret: 52 lowercase letters and digits (about 268 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(52))


@dataclass(frozen=True)
class Verdict:
    """Whether a secret matched; `rehashed`: the hash to store instead of an old-scheme one."""

    valid: bool
    rehashed: str | None = None


class SecretHasher:
    """HMAC-SHA-256 of client secrets under the server key `kid`: `hmac-sha256$<kid>$<digest>`."""

    def __init__(self, kid: str, key: bytes) -> None:
        self.kid = kid
        self._key = key
        self._dummy = hmac.digest(key, secrets.token_bytes(32), "sha256")

    def __repr__(self) -> str:
        return f"SecretHasher(kid={self.kid!r})"

    def _digest(self, secret: str) -> bytes:
        return hmac.digest(self._key, secret.encode(), "sha256")

    def derive(self, purpose: bytes) -> bytes:
        """A key of its own for `purpose`, from the server key (the same in every process)."""
        # Secrets are letters and digits: no hashed secret starts with a NUL-ended tag.
        return hmac.digest(self._key, b"derive\x00" + purpose, "sha256")

    def hash(self, secret: str) -> str:
        """The hash of `secret` to store."""
        return "$".join([_HMAC, self.kid, _b64(self._digest(secret))])

    async def verify(self, secret: str, stored: str | None) -> Verdict:
        """Whether `secret` matches `stored`; with `stored=None` does the same work and says no.

        A scrypt hash (stored by earlier releases) is checked in a thread, and when it
        matches the verdict carries the HMAC hash to store in its place.
        """
        if stored is None:
            hmac.compare_digest(self._digest(secret), self._dummy)
            return Verdict(valid=False)
        scheme, _, rest = stored.partition("$")
        if scheme == _SCRYPT:
            valid = await asyncio.to_thread(verify_password, secret, stored)
            return Verdict(valid=valid, rehashed=self.hash(secret) if valid else None)
        kid, _, digest = rest.partition("$")
        if scheme != _HMAC or kid != self.kid:
            # Not a hash this server made (or of a key it no longer has): no secret matches.
            hmac.compare_digest(self._digest(secret), self._dummy)
            return Verdict(valid=False)
        try:
            expected = base64.urlsafe_b64decode(digest + "==")
        except ValueError:
            return Verdict(valid=False)
        return Verdict(valid=hmac.compare_digest(self._digest(secret), expected))


def hash_password(password: str) -> str:
    """A self-describing, salted scrypt hash of `password` (`scrypt$N$r$p$salt$digest`)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        [_SCRYPT, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)],
    )


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches a scrypt `stored`; with `stored=None` does the same work, says no.

    Slow on purpose (tens of milliseconds): call it in a thread from async code.
    """
    global _DUMMY_PASSWORD_HASH
    if stored is None:
        if _DUMMY_PASSWORD_HASH is None:
            _DUMMY_PASSWORD_HASH = hash_password(secrets.token_hex(16))
        stored = _DUMMY_PASSWORD_HASH
        known = False
    else:
        known = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != _SCRYPT:
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.urlsafe_b64decode(salt + "=="),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected) and known


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

"""Client ids and secrets: made at random, kept only as a slow salted hash.

Secrets are compared in constant time, and an unknown client id costs the same
work as a known one, so timing does not tell which ids exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
# scrypt cost: about 30 ms on a laptop core; enough to make guessing slow.
_N, _R, _P = 2**14, 8, 1
_DUMMY_HASH: str | None = None


def new_client_id() -> str:
    """A Cognito-shaped client id: 26 lowercase letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(26))


def new_client_secret() -> str:
    """A Cognito-shaped client secret: 52 lowercase letters and digits (about 268 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(52))


def hash_secret(secret: str) -> str:
    """A self-describing scrypt hash of `secret`, safe to store."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        ["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)],
    )


def verify_secret(secret: str, stored: str | None) -> bool:
    """Whether `secret` matches `stored`; with `stored=None` does the same work and says no."""
    global _DUMMY_HASH
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_secret(secrets.token_hex(16))
        stored = _DUMMY_HASH
        known = False
    else:
        known = True
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = hashlib.scrypt(
            secret.encode(),
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

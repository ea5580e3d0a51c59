"""HMAC-signed links, shaped like S3's query-string authentication.

`/objects/<snapshot id>/<part>?KeyId=..&Expires=<unix time>&Signature=<base64url>`;
the signature covers the method, the object key and the expiry, so no part of
the link can be changed without breaking it. `KeyId` names the secret that signed
it, so links signed before a rotation keep working until that secret is retired.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from pond.errors import LinkRefused


class LinkSigner:
    """Signs links with one secret and checks them against every secret it was given.

    Key rotation changes the secrets in place (`use`), so the object store and the
    download route that share this signer both follow.
    """

    def __init__(
        self, kid: str, secret: bytes, *, verifying: Mapping[str, bytes] | None = None
    ) -> None:
        self.use(kid, secret, verifying=verifying)

    def use(self, kid: str, secret: bytes, *, verifying: Mapping[str, bytes] | None = None) -> None:
        """Sign with `secret` (key `kid`) from now on; check links of it and of `verifying`."""
        # One attribute, replaced whole: a request never sees half of a change.
        self._keys = _Keys(kid, quote(kid, safe=""), secret, {**(verifying or {}), kid: secret})

    def __repr__(self) -> str:
        return f"LinkSigner(kid={self._keys.kid!r})"

    def knows(self, kid: str) -> bool:
        """Whether links signed by key `kid` are checked here (rather than refused as unknown)."""
        return kid in self._keys.secrets

    def url(self, key: str, *, expires_at: datetime, base_url: str) -> str:
        keys = self._keys
        expires = int(expires_at.timestamp())
        # The signature is URL-safe base64 and `expires` digits: only the kid needs quoting.
        signature = _signature(keys.secret, key, expires)
        query = f"KeyId={keys.quoted_kid}&Expires={expires}&Signature={signature}"
        return f"{base_url}/objects/{key}?{query}"

    def check(
        self, key: str, *, kid: str | None, expires: str | None, signature: str | None
    ) -> None:
        """Pass if the link for `key` is intact and unexpired, else `LinkRefused`."""
        if not (kid and expires and signature):
            raise LinkRefused("Query-string authentication requires KeyId, Expires and Signature")
        secret = self._keys.secrets.get(kid)
        if secret is None:
            raise LinkRefused("The key this link was signed with is unknown")
        try:
            expires_at = int(expires)
        except ValueError:
            raise LinkRefused("Invalid Expires value") from None
        expected = _signature(secret, key, expires_at)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkRefused("The request signature does not match")
        if expires_at < time.time():
            raise LinkRefused("Request has expired")


@dataclass(frozen=True)
class _Keys:
    kid: str
    quoted_kid: str
    secret: bytes = field(repr=False)
    secrets: Mapping[str, bytes] = field(repr=False)


def _signature(secret: bytes, key: str, expires: int) -> str:
    message = f"GET\n{key}\n{expires}".encode()
    digest = hmac.digest(secret, message, "sha256")
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

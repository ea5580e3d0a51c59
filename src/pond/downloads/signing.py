"""HMAC-signed links, shaped like S3's query-string authentication.

`/objects/<snapshot id>/<part>?KeyId=..&Expires=<unix time>&Signature=<base64url>`;
the signature covers the method, the object key and the expiry, so no part of
the link can be changed without breaking it.
"""

from __future__ import annotations

import base64
import hmac
import time
from datetime import datetime
from urllib.parse import quote

from pond.errors import LinkRefused


class LinkSigner:
    def __init__(self, kid: str, secret: bytes) -> None:
        self._kid = kid
        self._quoted_kid = quote(kid, safe="")
        self._secret = secret

    def __repr__(self) -> str:
        return f"LinkSigner(kid={self._kid!r})"

    def _signature(self, key: str, expires: int) -> str:
        message = f"GET\n{key}\n{expires}".encode()
        digest = hmac.digest(self._secret, message, "sha256")
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url(self, key: str, *, expires_at: datetime, base_url: str) -> str:
        expires = int(expires_at.timestamp())
        # The signature is URL-safe base64 and `expires` digits: only the kid needs quoting.
        signature = self._signature(key, expires)
        query = f"KeyId={self._quoted_kid}&Expires={expires}&Signature={signature}"
        return f"{base_url}/objects/{key}?{query}"

    def check(
        self, key: str, *, kid: str | None, expires: str | None, signature: str | None
    ) -> None:
        """Pass if the link for `key` is intact and unexpired, else `LinkRefused`."""
        if not (kid and expires and signature):
            raise LinkRefused("Query-string authentication requires KeyId, Expires and Signature")
        if kid != self._kid:
            raise LinkRefused("The key this link was signed with is unknown")
        try:
            expires_at = int(expires)
        except ValueError:
            raise LinkRefused("Invalid Expires value") from None
        expected = self._signature(key, expires_at)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkRefused("The request signature does not match")
        if expires_at < time.time():
            raise LinkRefused("Request has expired")

"""The async client's transports: httpx's own, under the names of `pond.client.wire`.

`PartTransport`, the sync client's reader of part bodies, blocks a thread
while it receives; an event loop cannot lend it one, so the async client
fetches parts over its API client, with httpx's own transport and chunks.
These stand-ins keep the async sources and the sync modules generated from
them alike (`scripts/unasync.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx


class AsyncPartsHttp:
    """The HTTP client that fetches part bodies: `http`, the API's client, itself.

    `chosen` (whether its owner chose the transport) matters only to the sync
    `PartsHttp`.
    """

    def __init__(self, http: httpx.AsyncClient, *, chosen: bool) -> None:
        self._http = http

    def client(self) -> httpx.AsyncClient:
        return self._http

    async def aclose(self) -> None:
        """Nothing of its own to close: `http` is its owner's."""


def default_transport() -> httpx.AsyncBaseTransport | None:
    """None: httpx's own transport (a long-lived event loop gains nothing from loading
    certificates late)."""
    return None


async def blocks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body of a streamed `response`, chunk by chunk, as httpx receives it."""
    async for chunk in response.aiter_raw():
        yield chunk

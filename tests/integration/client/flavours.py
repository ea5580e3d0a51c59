"""The sync and the async client behind one face, so that one scenario runs against both.

`connect` is parametrised over the two flavours. The async client is driven
from the test's own (synchronous) code: each method call runs to its end on
one event loop, the loop the client lives on for the whole test.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pond.client import AsyncClient, Client
from tests.integration.client.fixtures import FAST, Setup


@dataclass
class Counts:
    """What went to the token endpoint and what the API refused, as the transport saw it."""

    token_requests: int = 0
    refused: int = 0

    def note(self, request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path == "/oauth2/token":
            self.token_requests += 1
        elif response.status_code == 401:
            self.refused += 1


class CountingTransport(httpx.HTTPTransport):
    """httpx's own transport, counting into `counts`."""

    def __init__(self, counts: Counts) -> None:
        super().__init__()
        self.counts = counts

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.counts.note(request, response)
        return response


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    """httpx's own async transport, counting into `counts`."""

    def __init__(self, counts: Counts) -> None:
        super().__init__()
        self.counts = counts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.counts.note(request, response)
        return response


async def _collect(snapshots: AsyncIterator[Any]) -> list[Any]:
    return [snapshot async for snapshot in snapshots]


class Driven:
    """An `AsyncClient` whose methods are called as `Client`'s are: each runs to its end.

    An async generator (`iter_snapshots`) is run to its end too, and its items
    come back as an iterator.
    """

    def __init__(self, client: AsyncClient, runner: asyncio.Runner) -> None:
        self._client = client
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if inspect.isasyncgen(result):
                return iter(self._runner.run(_collect(result)))
            return self._runner.run(result)

        return call


@pytest.fixture(params=["sync", "async"])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Factory: a client of this test's flavour on `setup`, closed at the end of the test.

    `secret` replaces the setup's client secret; `counts` counts token requests
    and refusals through the flavour's own transport; other options go to the
    client as given.
    """
    flavour = request.param
    runner = asyncio.Runner()
    closing: list[Callable[[], object]] = []

    def connect(
        setup: Setup, *, secret: str | None = None, counts: Counts | None = None, **options: Any
    ) -> Any:
        options.setdefault("backoff", FAST)
        options.setdefault("api_url", setup.server.base_url)
        options.setdefault("token_url", setup.server.token_url)
        credentials = (setup.client_id, secret or setup.client_secret)
        if flavour == "sync":
            if counts is not None:
                options["transport"] = CountingTransport(counts)
            client = Client(*credentials, **options)
            closing.append(client.close)
            return client
        if counts is not None:
            options["transport"] = AsyncCountingTransport(counts)
        driven = AsyncClient(*credentials, **options)
        closing.append(lambda: runner.run(driven.aclose()))
        return Driven(driven, runner)

    yield connect
    for close in closing:
        close()
    runner.close()

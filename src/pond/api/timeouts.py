"""Deadlines for slow clients: a request head, and a request body, must arrive in time.

uvicorn bounds only idle keep-alive connections. A connection that sends nothing,
or its request head one byte at a time (slowloris), or stops halfway through its
body, would otherwise hold its socket, and a body that never ends the request
task waiting for it, for as long as the client likes.

- `guarded_protocol()`: uvicorn's httptools protocol with a head deadline. The
  head must be complete `header_timeout` seconds after the connection opens, or
  after the first byte of a later request on a kept-alive connection; otherwise
  the answer is 408 `request_timeout` (or, if not one byte came, the connection
  is just closed, as after an idle keep-alive). It also closes a connection whose
  request was answered without its body being read while the rest of the body
  still trickles in.
- `BodyDeadline`: ASGI middleware; once the application starts reading a body,
  the whole of it must arrive within `body_timeout` seconds, or reading it raises
  `RequestTimeout`, which the application answers as 408 in its JSON error shape,
  with `Connection: close`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from pond.errors import RequestTimeout

log = structlog.get_logger("pond.api")


class BodyDeadline:
    """Pure ASGI middleware: reading a request body takes at most `timeout` seconds."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        complete = False
        timed_out = False

        async def bounded_receive() -> Message:
            nonlocal deadline, complete, timed_out
            if complete:
                # After the body only a disconnection can come: no deadline on that wait.
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise RequestTimeout(
                    f"the request body did not arrive within {self.timeout:g} s",
                    hint="send the whole body at once, or retry on a faster connection",
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def closing_send(message: Message) -> None:
            if timed_out and message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, bounded_receive, closing_send)


def _timeout_answer(description: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete 408 response in the API's error shape, closing the connection."""
    body = json.dumps(
        {"error": RequestTimeout.code, "error_description": description},
        separators=(",", ":"),
    ).encode()
    lines = [STATUS_LINE[408]]
    for name, value in default_headers:
        lines.extend([name, b": ", value, b"\r\n"])
    lines.extend(
        [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )
    return b"".join(lines)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines on the request head and body.

    Use a subclass made by `guarded_protocol()`, which sets the two timeouts.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._head_begun = False

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _busy(self) -> bool:
        """Whether a response to an earlier request is still being made."""
        return self.cycle is not None and not self.cycle.response_complete

    # Connection and parser callbacks of the base class, each extended by a timer.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._head_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._deadline is None:  # a later request on a kept-alive connection
            self._arm(self.header_timeout, self._head_expired)

    def on_headers_complete(self) -> None:
        self._head_begun = False
        self._disarm()
        super().on_headers_complete()
        # Cancelled by `on_message_complete`, at once when there is no body.
        self._arm(self.body_timeout, self._body_expired)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _head_expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._busy():
            # A pipelined head waits while reading is paused for the request before it.
            self._arm(self.header_timeout, self._head_expired)
            return
        if self._head_begun:
            description = f"the request head did not arrive within {self.header_timeout:g} s"
            self.transport.write(_timeout_answer(description, self.server_state.default_headers))
            log.info("request.timeout", part="head", client=self.client and self.client[0])
        self.transport.close()

    def _body_expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._busy():
            # The application is still at work; once it reads the body, `BodyDeadline`
            # answers 408 if the body is late.
            self._arm(self.body_timeout, self._body_expired)
            return
        # Answered without reading the whole body, and the rest is still not here.
        log.info("request.timeout", part="body", client=self.client and self.client[0])
        self.transport.close()


def guarded_protocol(header_timeout: float, body_timeout: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` with these deadlines, in seconds."""
    head, body = header_timeout, body_timeout

    class PondHttpProtocol(GuardedHttpToolsProtocol):
        header_timeout = head
        body_timeout = body

    return PondHttpProtocol

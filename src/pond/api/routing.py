"""Routes by resource: one route per path, one handler per method, and an honest 405.

Starlette tries routes in order and answers a wrong method with the `Allow` of
the first route whose path matched. Two routes on one path (a GET and a POST,
say) would each claim only their own method. A `Resource` holds every method of
its path, so a 405 lists them all (RFC 9110 section 15.5.6); `pond.api.errors`
writes the answer, with the methods in the order `allow_header` gives.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]

# The order `Allow` lists methods in: reads first, then writes.
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allow_header(value: str) -> str:
    """An `Allow` value with its methods in a stable order (Starlette's come from a set)."""
    methods = {m.strip().upper() for m in value.split(",") if m.strip()}
    ranked = sorted(methods, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m))
    return ", ".join(ranked)


class Resource(Route):
    """One path and its handlers by method; `HEAD` is answered by the `GET` handler."""

    def __init__(self, path: str, handlers: Mapping[str, Handler]) -> None:
        self.handlers = {method.upper(): handler for method, handler in handlers.items()}
        if "GET" in self.handlers:
            self.handlers.setdefault("HEAD", self.handlers["GET"])
        super().__init__(path, self._dispatch, methods=list(self.handlers), name=path)

    async def _dispatch(self, request: Request) -> Response:
        return await self.handlers[request.method](request)


def resources(
    path: str, handlers: Mapping[str, Handler], *, trailing_slash: bool = False
) -> list[Route]:
    """The resource at `path`, and with `trailing_slash` the same at `path/` too.

    curl does not follow redirects by default, so the alias answers itself.
    """
    found: list[Route] = [Resource(path, handlers)]
    if trailing_slash:
        found.append(Resource(f"{path}/", handlers))
    return found

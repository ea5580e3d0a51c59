"""What every client command takes besides its own arguments, declared once.

`--profile`, `--api-url`, `--token-url` and `--json` are the fields of
`Session`. `client_command` adds them to a command's own parameters and hands
the command one `Session`, so that its body only reads its arguments, calls the
client and prints:

    @client_command
    def show(session: Session, ref: SnapshotRef) -> None:
        with session.open() as client:
            snapshot = client.get(ref)
        session.emit(snapshot.to_wire(), human=lambda: describe(snapshot))

Typer and `pond.cli.shortcut` both read the command's parameters from its
signature and call it with keyword arguments; the command made here has the
body's own parameters followed by the session's, annotations already resolved
(the command modules keep theirs as objects: see `client_commands`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, get_type_hints

from pond.cli import client_render
from pond.cli.client_options import ApiUrl, Json, Profile, TokenUrl
from pond.client import Client


@dataclass(frozen=True)
class Session:
    """Where and as whom to connect, and whether to print JSON: the options every client
    command takes, each declared here as its field."""

    profile: Profile = None
    api_url: ApiUrl = None
    token_url: TokenUrl = None
    as_json: Json = False

    def open(self, *, fsync: bool = False) -> Client:
        """A client from these options, the environment and the config file, caching tokens
        on disk; `fsync` as `Client` takes it. Raises `ConfigurationError` when no
        credentials can be found."""
        return Client(
            profile=self.profile,
            api_url=self.api_url,
            token_url=self.token_url,
            token_cache=True,
            fsync=fsync,
        )

    def emit(self, value: Any, human: Callable[[], object]) -> None:
        """The command's result: `value` as JSON on stdout with `--json`, else `human()`."""
        client_render.emit(value, as_json=self.as_json, human=human)


@functools.cache
def _session_parameters() -> tuple[inspect.Parameter, ...]:
    hints = get_type_hints(Session, include_extras=True)
    return tuple(
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=field.default,
            annotation=hints[field.name],
        )
        for field in dataclasses.fields(Session)
    )


def client_command(body: Callable[Concatenate[Session, ...], None]) -> Callable[..., None]:
    """`body` as a command: its own parameters (all but the first), then the session's
    options, which it receives together as its first argument, a `Session`.

    The command takes keyword arguments only, as typer passes them; those left out
    get their defaults.
    """
    own = list(inspect.signature(body, eval_str=True).parameters.values())[1:]
    shared = _session_parameters()
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
    parameters.extend(shared)

    @functools.wraps(body)
    def command(**arguments: Any) -> None:
        given = {p.name: arguments.pop(p.name) for p in shared if p.name in arguments}
        body(Session(**given), **arguments)

    # Typer and the shortcut read the parameters with `inspect.signature`, which returns a
    # function's `__signature__` as it is. mypy knows no such attribute of a function.
    signature = inspect.Signature(parameters, return_annotation=None)
    command.__signature__ = signature  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return command

"""The `pond` command: server, operator and client commands under one root.

Server commands import the server stack lazily, so the client commands work
with only the light client installed. Every command module keeps its
imports light too (Rich, asyncio and the server stack load inside the
commands that use them): a command's start-up is most of a short command's time.
"""

from __future__ import annotations

import importlib

import typer

from pond import __version__
from pond.cli import output

app = typer.Typer(
    name="pond",
    help="Run a POND Snapshots API server, or export data from one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pond {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Run a POND Snapshots API server, or export data from one."""


def _register() -> None:
    from pond.cli import console_commands, key_commands, server_commands, webhook_commands

    server_commands.register(app)
    console_commands.register(app)
    webhook_commands.register(app)
    key_commands.register(app)
    try:
        client_commands = importlib.import_module("pond.cli.client_commands")
    except ModuleNotFoundError:  # installed without the client commands module
        return
    client_commands.register(app)


_register()


def main() -> None:
    """Console-script entry point: run the app, turning pond errors into messages."""
    output.run(app)

"""`pond console ...`: set up the web console's operators.

Like the other operator commands, these work whether or not a server is running.
"""

from __future__ import annotations

import json

import typer

console_app = typer.Typer(help="Manage the web console (/console).", no_args_is_help=True)
operator_app = typer.Typer(help="Manage console operators.", no_args_is_help=True)


@operator_app.command("create")
def operator_create(
    name: str = typer.Option(..., "--name", help="The operator's sign-in name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Create an operator; the generated password is shown this once, stored as a hash."""
    from pond.cli.server_commands import _database, _with_connection
    from pond.console import service

    with _database() as (_, conninfo):
        password = _with_connection(conninfo, lambda c: service.create_operator(c, name))
    if as_json:
        typer.echo(json.dumps({"name": name, "password": password}))
        return
    typer.echo(f"operator: {name}")
    typer.echo(f"password: {password}")
    typer.echo("The password is not shown again: keep it now. Sign in at /console/operator.")


def register(app: typer.Typer) -> None:
    """Add `pond console` to the root `pond` app."""
    console_app.add_typer(operator_app, name="operator")
    app.add_typer(console_app, name="console")

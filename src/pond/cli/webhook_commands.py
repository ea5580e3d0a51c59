"""Operator commands for webhooks: `pond webhooks add | list | remove`.

Each parses its arguments, calls `pond.webhooks.service`, and prints. They work
whether or not a server runs on the same data directory.
"""

from __future__ import annotations

import json

import typer

from pond.cli.server_commands import _database, _with_connection, stdout_console

webhooks_app = typer.Typer(
    help="Manage webhook endpoints of organisations (operators).", no_args_is_help=True
)


@webhooks_app.command("add")
def webhooks_add(
    org: str = typer.Option(..., "--org", help="Organisation whose snapshot events to send."),
    url: str = typer.Option(
        ...,
        "--url",
        help="https URL of a public host (http too inside POND_WEBHOOK_ALLOW_CIDRS).",
    ),
    events: str = typer.Option(
        "", "--events", help="Comma-separated event types (default: all of them)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Register an endpoint; its signing secret is shown this once."""
    console = stdout_console()
    from pond.clients import repository as clients
    from pond.errors import InputError
    from pond.webhooks import repository, service
    from pond.webhooks.egress import Egress

    with _database() as (settings, conninfo):

        async def add(conn: repository.Conn) -> service.Registered:
            org_id = await clients.find_org(conn, org)
            if org_id is None:
                raise InputError(
                    f"no organisation named {org!r}",
                    hint="check the name with `pond clients list`",
                )
            params = {"url": url, "events": events}
            new = await service.validate(params, Egress.from_settings(settings))
            return await service.register(conn, org_id, new)

        registered = _with_connection(conninfo, add)
    body = service.render(registered.endpoint, secret=registered.secret)
    if as_json:
        typer.echo(json.dumps({**body, "org": org}))
        return
    console.print(f"id:           {body['id']}")
    console.print(f"url:          {body['url']}")
    console.print(f"events:       {', '.join(body['events'])}")
    console.print(f"organisation: {org}")
    console.print(f"secret:       {registered.secret}")
    console.print("[dim]The secret is not shown again: keep it now.[/]")


@webhooks_app.command("list")
def webhooks_list(
    org: str = typer.Option("", "--org", help="Only this organisation's endpoints."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List active endpoints (never their secrets)."""
    from rich.table import Column, Table

    console = stdout_console()
    from pond.webhooks import repository, service

    async def list_them(conn: repository.Conn) -> list[repository.EndpointRecord]:
        return [e for e in await repository.list_active(conn) if not org or e.org == org]

    with _database() as (_, conninfo):
        records = _with_connection(conninfo, list_them)
    rows = [{**service.render(r), "org": r.org} for r in records]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table(Column("id", no_wrap=True, min_width=36), "org", "url", "events", "created_at")
    for row in rows:
        table.add_row(row["id"], row["org"], row["url"], ",".join(row["events"]), row["created_at"])
    console.print(table)


@webhooks_app.command("remove")
def webhooks_remove(
    webhook_id: str = typer.Argument(..., help="The endpoint to remove (see `list`)."),
) -> None:
    """Stop sending events to an endpoint; deliveries already made stay recorded."""
    console = stdout_console()
    from pond.webhooks import service

    with _database() as (_, conninfo):
        _with_connection(conninfo, lambda c: service.remove(c, webhook_id))
    console.print(f"removed {webhook_id}")


def register(app: typer.Typer) -> None:
    """Add `pond webhooks` to the root `pond` app."""
    app.add_typer(webhooks_app, name="webhooks")

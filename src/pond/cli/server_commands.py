"""Server-side commands: serve, worker, db, clients, seed, import, demo.

Each parses its arguments, calls the library, and prints. The server stack is
imported inside the commands so the client commands work without it.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


@cache
def stdout_console() -> Console:
    """Rich on stdout for the operator commands, made when first needed (Rich is slow to import)."""
    from rich.console import Console

    return Console(highlight=False)


clients_app = typer.Typer(help="Manage OAuth clients (operators).", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@contextmanager
def _database() -> Iterator[tuple[Any, str]]:
    """Settings and a connection string, with the schema brought up to date."""
    from pond.db.database import open_database
    from pond.db.migrate import upgrade
    from pond.entities import configured
    from pond.settings import load_settings

    settings = load_settings()
    with open_database(settings) as conninfo:
        upgrade(conninfo)
        configured.load(conninfo, settings.entities)
        yield settings, conninfo


def _with_connection(conninfo: str, action: Callable[[Any], Awaitable[T]]) -> T:
    import asyncio

    import psycopg

    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await action(conn)

    return asyncio.run(go())


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    worker: bool = typer.Option(True, help="Also run export jobs in this process."),
) -> None:
    """Run the API (and, by default, an export worker) until interrupted."""
    from pond import logs
    from pond.api.app import create_app
    from pond.api.serving import bind
    from pond.api.serving import serve as serve_app

    bind(host, port).close()  # say a taken port now, before starting anything else
    from pond.auth.keys import load_keyring
    from pond.storage.factory import check_at_start, open_store

    with _database() as (settings, conninfo):
        logs.configure(settings.log_format)
        # Storage problems (no credentials, no endpoint, no bucket) stop start-up with a message.
        check_at_start(open_store(settings, _with_connection(conninfo, load_keyring).link_signer()))
        app = create_app(settings, conninfo, run_worker=worker)
        serve_app(app, host, port, settings=settings)


def worker_command(
    concurrency: int = typer.Option(0, help="Jobs at once (0: POND_WORKER_CONCURRENCY)."),
) -> None:
    """Run export jobs only (no HTTP), until SIGINT or SIGTERM."""
    from pond import logs
    from pond.auth.keys import load_keyring
    from pond.jobs.runtime import JobRuntime
    from pond.jobs.worker import run_worker
    from pond.storage.factory import check_at_start, open_store

    with _database() as (settings, conninfo):
        logs.configure(settings.log_format)
        # Workers sign no links: the keys of start-up are enough for the store.
        store = open_store(settings, _with_connection(conninfo, load_keyring).link_signer())
        check_at_start(store)
        runtime = JobRuntime(settings=settings, conninfo=conninfo, store=store)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        import asyncio

        asyncio.run(run_worker(runtime, concurrency=concurrency or None))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending schema migrations, pond's and the job queue's (also done on every start)."""
    console = stdout_console()
    from pond.db.database import open_database
    from pond.db.migrate import upgrade
    from pond.settings import load_settings

    with open_database(load_settings()) as conninfo:
        applied = upgrade(conninfo)
    console.print("applied: " + ", ".join(applied) if applied else "schema is up to date")


@clients_app.command("create")
def clients_create(
    name: str = typer.Option(..., "--name", help="What the client is for."),
    org: str = typer.Option(..., "--org", help="Organisation the client belongs to."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """Create a client; its secret is shown this once and stored only as a hash."""
    console = stdout_console()
    from pond.clients import service

    with _database() as (_, conninfo):
        created = _with_connection(conninfo, lambda c: service.create(c, name=name, org=org))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "client_id": created.client_id,
                    "client_secret": created.client_secret,
                    "org": created.org,
                    "name": created.name,
                }
            )
        )
        return
    console.print(f"client_id:     {created.client_id}")
    console.print(f"client_secret: {created.client_secret}")
    console.print(f"organisation:  {created.org}")
    console.print("[dim]The secret is not shown again: keep it now.[/]")


@clients_app.command("list")
def clients_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List clients (never their secrets)."""
    from rich.table import Column, Table

    console = stdout_console()
    from pond.clients import service

    with _database() as (_, conninfo):
        records = _with_connection(conninfo, service.list_clients)
    rows = [
        {
            "client_id": r.client_id,
            "name": r.name,
            "org": r.org,
            "state": "active" if r.active else "revoked",
            "created_at": r.created_at.isoformat(),
        }
        for r in records
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    # Ids are what operators copy: never cut them, fold the other columns instead.
    table = Table(
        Column("client_id", no_wrap=True, min_width=26), "name", "org", "state", "created_at"
    )
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


@clients_app.command("revoke")
def clients_revoke(client_id: str = typer.Argument(..., help="The client to revoke.")) -> None:
    """Revoke a client: its tokens stop working at once."""
    console = stdout_console()
    from pond.clients import service

    with _database() as (_, conninfo):
        _with_connection(conninfo, lambda c: service.revoke(c, client_id))
    console.print(f"revoked {client_id}")


@clients_app.command("rotate")
def clients_rotate(
    client_id: str = typer.Argument(..., help="The client whose secret to replace."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Give a client a new secret; tokens issued under the old one stop working."""
    console = stdout_console()
    from pond.clients import service

    with _database() as (_, conninfo):
        rotated = _with_connection(conninfo, lambda c: service.rotate(c, client_id))
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "client_secret": rotated.client_secret}))
        return
    console.print(f"client_id:     {client_id}")
    console.print(f"client_secret: {rotated.client_secret}")


def seed(
    org: str = typer.Option(..., "--org", help="Organisation that owns the events."),
    start: str = typer.Option(..., "--from", help="Start of the range (ISO 8601 with zone)."),
    end: str = typer.Option(..., "--to", help="End of the range, excluded."),
    count: int = typer.Option(..., "--count", min=0, help="How many events to write."),
    random_seed: int = typer.Option(0, "--seed", help="Random seed, for repeatable data."),
) -> None:
    """Write COUNT synthetic events spread over [FROM, TO)."""
    console = stdout_console()
    from pond.events import seeding
    from pond.snapshots.dates import parse_range

    lower, upper = parse_range(start, end, names=("--from", "--to"))
    with _database() as (_, conninfo):
        written = seeding.seed(
            conninfo, org=org, start=lower, end=upper, count=count, seed=random_seed
        )
    console.print(f"wrote {written} events for {org}")


def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV in the export format."),
    org: str = typer.Option(..., "--org", help="Organisation that owns the events."),
) -> None:
    """Load events from a CSV file (the export format); all rows or none."""
    console = stdout_console()
    from pond.events import importing

    with _database() as (_, conninfo):
        loaded = importing.import_csv(conninfo, org=org, path=file)
    console.print(f"imported {loaded} events for {org}")


def demo(
    keep: bool = typer.Option(False, help="Keep the temporary data directory."),
    count: int = typer.Option(26990, help="Events to seed (the seed document shows 26,990)."),
) -> None:
    """Run the documented flow end to end on a throwaway embedded server."""
    console = stdout_console()
    from pond.demo import run_demo

    raise typer.Exit(run_demo(console, keep=keep, count=count))


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts.")) -> None:
    """Show the job queue, snapshots by state, storage use and recent failures."""
    from rich.table import Table

    console = stdout_console()
    from pond import status as service

    with _database() as (_, conninfo):
        report = _with_connection(conninfo, service.gather)
    if as_json:
        typer.echo(json.dumps(report.as_json()))
        return
    queue = ", ".join(f"{n} {s}" for s, n in report.queue.items()) or "empty"
    snapshots = ", ".join(f"{n} {s}" for s, n in report.snapshots.items()) or "none"
    console.print(f"queue:     {queue}")
    console.print(f"snapshots: {snapshots}")
    console.print(f"storage:   {report.stored_parts} parts, {report.stored_bytes:,} bytes")
    if not report.failures:
        console.print("recent failures: none")
        return
    table = Table("snapshot", "org", "created", "reason", title="recent failures")
    for failure in report.failures:
        table.add_row(
            str(failure.id), failure.org, failure.created_at.isoformat(), failure.reason or ""
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the server-side commands to the root `pond` app."""
    app.command("serve")(serve)
    app.command("worker")(worker_command)
    app.command("seed")(seed)
    app.command("import")(import_command)
    app.command("demo")(demo)
    app.command("status")(status)
    app.add_typer(clients_app, name="clients")
    app.add_typer(db_app, name="db")

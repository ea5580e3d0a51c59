"""Operator commands for the server's keys: `pond keys list | rotate | retire`.

Each parses its arguments, calls `pond.auth.rotation`, and prints. They work
whether or not a server runs on the same data directory: running API processes
pick up what changed within seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer

from pond.cli.server_commands import _database, _with_connection, stdout_console

keys_app = typer.Typer(
    help="Rotate and retire the token signing key and the link secret (operators).",
    no_args_is_help=True,
)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def _short(value: str | None) -> str:
    """`2026-01-02T03:04:05+00:00` as `2026-01-02 03:04` (the table says UTC)."""
    return "" if value is None else value[:16].replace("T", " ")


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the keys (never their secrets): which signs, which still verify, which are retired.

    "until" is when a verifying key is retired automatically, or when a retired
    key was retired.
    """
    from rich import box
    from rich.table import Column, Table

    from pond.auth import rotation

    console = stdout_console()
    with _database() as (settings, conninfo):
        keys = _with_connection(conninfo, lambda c: rotation.list_keys(c, settings))
    rows: list[dict[str, Any]] = [
        {
            "kid": k.kid,
            "purpose": k.purpose,
            "state": k.state,
            "created_at": _time(k.created_at),
            "superseded_at": _time(k.superseded_at),
            "retired_at": _time(k.retired_at),
            "retires_at": _time(k.retires_at),
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    # Ids are what operators copy: never cut them. No vertical rules: the row fits 80 columns.
    table = Table(
        Column("kid", no_wrap=True, min_width=22),
        Column("purpose", no_wrap=True),
        Column("state", no_wrap=True),
        Column("created (UTC)", no_wrap=True),
        Column("until (UTC)", no_wrap=True),
        box=box.SIMPLE,
        show_edge=False,
        collapse_padding=True,
    )
    for row in rows:
        until = _short(row["retired_at"] or row["retires_at"])
        table.add_row(row["kid"], row["purpose"], row["state"], _short(row["created_at"]), until)
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    token: bool = typer.Option(False, "--token", help="Rotate the access token signing key."),
    link: bool = typer.Option(False, "--link", help="Rotate the download link secret."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Make a new key sign from now on (with neither flag: both keys).

    The old key keeps verifying the tokens or links it signed, and is retired
    automatically once they have all expired (or with `pond keys retire`).
    """
    from pond.auth import rotation

    console = stdout_console()
    purposes = [name for name, chosen in (("token", token), ("link", link)) if chosen]
    with _database() as (settings, conninfo):
        done = _with_connection(
            conninfo, lambda c: rotation.rotate(c, settings, purposes or ["token", "link"])
        )
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "purpose": r.purpose,
                        "old_kid": r.old_kid,
                        "new_kid": r.new_kid,
                        "old_retires_at": _time(r.old_retires_at),
                    }
                    for r in done
                ]
            )
        )
        return
    for r in done:
        console.print(f"{r.purpose} key: {r.new_kid} signs from now on")
        if r.old_kid is not None:
            console.print(
                f"  {r.old_kid} still verifies what it signed;"
                f" retired automatically at {_time(r.old_retires_at)}"
            )
    console.print("[dim]Running servers pick up the new keys within seconds.[/]")


@keys_app.command("retire")
def keys_retire(
    kid: str = typer.Argument(
        ...,
        help=(
            "The key to retire (see `pond keys list`)."
            " A kid that begins with '-' goes after '--': pond keys retire -- -kid."
        ),
    ),
) -> None:
    """Retire a key that no longer signs: the tokens or links it signed stop working now."""
    from pond.auth import rotation

    console = stdout_console()
    with _database() as (settings, conninfo):
        retired = _with_connection(conninfo, lambda c: rotation.retire(c, settings, kid))
    if retired is None:
        console.print(f"{kid} was retired already")
        return
    console.print(
        f"retired {retired.purpose} key {kid}: running servers refuse what it signed within seconds"
    )


def register(app: typer.Typer) -> None:
    """Add `pond keys` to the root `pond` app."""
    app.add_typer(keys_app, name="keys")

"""Client commands: `pond token`, `pond configure`, `pond snapshot ...`, `pond export`, `pond sync`.

Each parses its options, calls `pond.client`, and renders: results on stdout
(JSON with `--json`), notes and progress on stderr. The connection options and
`--json`, which all but `configure` take (there, `--profile` and the URLs name
what to write), come from `pond.cli.client_session`. Errors become messages
and exit codes in `pond.cli.output`.
"""

# Without `from __future__ import annotations`: the commands' annotations are then objects
# made as the module loads, which `client_command` takes as they are; as strings, each
# command would `eval` them at every start (about a millisecond of `pond snapshot show`).

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from pond.cli import client_export, client_options
from pond.cli.client_options import (
    Columns,
    Entity,
    Fields,
    Format,
    Fsync,
    Gzip,
    Json,
    Merge,
    Parallel,
    SnapshotRef,
    Timeout,
    Tz,
    read_options,
    read_range,
    read_timeout,
)
from pond.cli.client_render import (
    FollowView,
    WaitView,
    emit,
    human_bytes,
    note,
    report_download,
    result,
)
from pond.cli.client_session import Session, client_command
from pond.client import Client, Snapshot
from pond.client.config import KEYS, config_path, read_profiles, write_profile
from pond.client.errors import UsageError
from pond.client.protocol import snapshot_href
from pond.client.times import format_time

snapshot_app = typer.Typer(
    help="Create, inspect, wait for, download and delete snapshots.", no_args_is_help=True
)


@client_command
def token(session: Session) -> None:
    """Print an access token for the API (cached, and fetched anew shortly before it expires)."""
    with session.open() as client:
        current = client.token()
    wire = {
        "access_token": current.access_token,
        "token_type": current.token_type,
        "expires_in": current.expires_in,
        "expires_at": format_time(datetime.fromtimestamp(current.expires_at, UTC)),
    }
    session.emit(wire, human=lambda: result(current.access_token))


def configure(
    profile: Annotated[
        str, typer.Option("--profile", metavar="NAME", help="Profile to write.")
    ] = "default",
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="ID", help="OAuth client id.")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(
            "--client-secret",
            metavar="SECRET",
            help="OAuth client secret (prompted, hidden, if omitted).",
        ),
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", metavar="URL", help="API base URL.")
    ] = None,
    token_url: Annotated[
        str | None, typer.Option("--token-url", metavar="URL", help="Token endpoint.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Save credentials and endpoints in a profile of the config file (mode 0600).

    Values not given keep what the profile had; on a terminal, a missing client
    id or secret is asked for (the secret without echo).
    """
    path = config_path()
    stored = read_profiles(path).get(profile, {})
    values = {**stored}
    given = {"client_id": client_id, "client_secret": client_secret}
    given.update(api_url=api_url, token_url=token_url)
    values.update({key: value for key, value in given.items() if value})
    interactive = sys.stdin.isatty()
    if not values.get("client_id") and interactive:
        values["client_id"] = typer.prompt("client id")
    if not values.get("client_secret") and interactive:
        values["client_secret"] = typer.prompt("client secret", hide_input=True)
    missing = [key for key in ("client_id", "client_secret") if not values.get(key)]
    if missing:
        raise UsageError(
            f"missing {' and '.join(missing)}",
            hint="pass --client-id and --client-secret, or run on a terminal to be asked",
        )
    write_profile(path, profile, values)
    shown = {key: values[key] for key in KEYS if key in values and key != "client_secret"}

    def saved() -> None:
        result(f"saved profile {profile!r} in {path}")
        for key, value in shown.items():
            note(f"  {key}: {value}")

    emit({"profile": profile, "path": str(path), **shown}, as_json=as_json, human=saved)


def _describe(snapshot: Snapshot) -> None:
    query = snapshot.query
    result(snapshot.href)
    note(f"state:   {snapshot.state}")
    if query is not None:
        note(f"entity:  {query.entity}")
        note(f"range:   {query.created_at_from} to {query.created_at_to} (end excluded)")
    if snapshot.is_complete:
        note(f"parts:   {len(snapshot.items)}, {snapshot.count} rows, {human_bytes(snapshot.size)}")
        for item in snapshot.items:
            note(f"  {item.name}: {item.count} rows, {human_bytes(item.size)}  {item.href}")
    elif snapshot.failure_reason:
        note(f"reason:  {snapshot.failure_reason}")


def _tabulate(snapshots: list[Snapshot]) -> None:
    for snapshot in snapshots:
        query = snapshot.query
        scope = f"{query.entity} {query.created_at_from} to {query.created_at_to}" if query else ""
        result(f"{snapshot.id}  {snapshot.state:<8}  {scope}")


def _show(session: Session, snapshot: Snapshot) -> None:
    session.emit(snapshot.to_wire(), human=lambda: _describe(snapshot))


def wait_for(client: Client, ref: str | Snapshot, timeout: float | None) -> Snapshot:
    """Wait for a snapshot, showing progress."""
    with WaitView() as view:
        return client.wait(ref, timeout=timeout, progress=view)


@snapshot_app.command("create")
@client_command
def snapshot_create(
    session: Session,
    start: Annotated[
        str, typer.Option("--from", metavar="TIME", help="Start of the range (included).")
    ],
    end: Annotated[str, typer.Option("--to", metavar="TIME", help="End of the range (excluded).")],
    entity: Entity = "event",
    tz: Tz = None,
    fields: Fields = None,
    fmt: Format = None,
    gzip: Gzip = False,
    columns: Columns = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until it is complete.")] = False,
    timeout: Timeout = None,
) -> None:
    """Schedule a snapshot of ENTITY rows created in [FROM, TO); print its href."""
    lower, upper = read_range(tz, start, end)
    with session.open() as client:
        snapshot = client.create(lower, upper, entity, **read_options(fields, gzip, columns, fmt))
        if wait:
            snapshot = wait_for(client, snapshot, read_timeout(timeout))
    _show(session, snapshot)


@snapshot_app.command("show")
@client_command
def snapshot_show(
    session: Session,
    ref: SnapshotRef,
) -> None:
    """Describe a snapshot: state, range, and when complete its parts with fresh links."""
    with session.open() as client:
        snapshot = client.get(ref)
    _show(session, snapshot)


@snapshot_app.command("list")
@client_command
def snapshot_list(
    session: Session,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="Only snapshots in this state: pending, running, complete, failed (repeatable).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TIME", help="Only snapshots created at or after TIME."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="TIME", help="Only snapshots created before TIME."),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", metavar="N", min=1, help="Show at most N snapshots, newest first."),
    ] = 100,
    tz: Tz = None,
) -> None:
    """List your snapshots, newest first, if the server offers a list (exit 4 and a message if not).

    Follows the server's pages up to --limit snapshots.
    """
    lower, upper = client_options.read_bounds(tz, since, until)
    states = [part.strip() for value in state or [] for part in value.split(",") if part.strip()]
    with session.open() as client:
        snapshots = client.list(
            state=states or None, created_after=lower, created_before=upper, limit=limit
        )
    session.emit([snapshot.to_wire() for snapshot in snapshots], human=lambda: _tabulate(snapshots))


@snapshot_app.command("wait")
@client_command
def snapshot_wait(
    session: Session,
    ref: SnapshotRef,
    timeout: Timeout = None,
) -> None:
    """Wait until a snapshot is complete (exit 5 if it fails, 7 on --timeout)."""
    with session.open() as client:
        snapshot = wait_for(client, ref, read_timeout(timeout))
    _show(session, snapshot)


@snapshot_app.command("download")
@client_command
def snapshot_download(
    session: Session,
    ref: SnapshotRef,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Directory for the part files.")
    ],
    merge: Merge = None,
    parallel: Parallel = 4,
    fsync: Fsync = False,
    timeout: Timeout = None,
) -> None:
    """Download a snapshot's parts into OUT, verified; waits for it if it is not complete.

    Each part is downloaded as soon as the server lists it finished, while the
    others still export. Run it again after an interruption: finished parts
    are kept and partial ones continue where they stopped.
    """
    with FollowView() as views, session.open(fsync=fsync) as client:
        download = client.wait_and_download(
            ref,
            out,
            parallel=parallel,
            timeout=read_timeout(timeout),
            waiting=views.waiting,
            progress=views.downloading,
        )
    merged = download.merge(merge) if merge is not None else None
    report_download(download, merged, as_json=session.as_json)


@snapshot_app.command("delete")
@client_command
def snapshot_delete(
    session: Session,
    ref: SnapshotRef,
) -> None:
    """Delete a snapshot and its files, if the server offers it (exit 4 and a message if not)."""
    with session.open() as client:
        href = snapshot_href(client.config.api_url, ref)
        client.delete(href)
    session.emit({"deleted": href}, human=lambda: result(f"deleted {href}"))


def register(app: typer.Typer) -> None:
    """Add the client commands to the root `pond` app."""
    app.command("token")(token)
    app.command("configure")(configure)
    app.add_typer(snapshot_app, name="snapshot")
    app.command("export")(client_export.export)
    app.command("sync")(client_export.sync)

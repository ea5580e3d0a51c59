"""`pond export` and `pond sync`: the restartable, stateful client commands.

Both keep a state file in their output directory, so running the same command
again after a crash, a kill or a network failure continues where it stopped.
"""

# Without `from __future__ import annotations`: the commands' annotations are then objects
# made as the module loads, which `client_command` takes as they are; as strings, each
# command would `eval` them at every start (about a millisecond of `pond snapshot show`).

from pathlib import Path
from typing import Annotated, Any

import typer

from pond.cli.client_options import (
    Columns,
    Entity,
    Fields,
    Format,
    Fsync,
    Gzip,
    Merge,
    Parallel,
    Timeout,
    Tz,
    read_bounds,
    read_options,
    read_range,
    read_timeout,
)
from pond.cli.client_render import (
    FollowView,
    human_bytes,
    note,
    report_download,
    result,
)
from pond.cli.client_session import Session, client_command
from pond.client.export import Hooks
from pond.client.export import export as run_export
from pond.client.sync import Window
from pond.client.sync import sync as run_sync
from pond.client.times import format_time, parse_duration


@client_command
def export(
    session: Session,
    start: Annotated[
        str, typer.Option("--from", metavar="TIME", help="Start of the range (included).")
    ],
    end: Annotated[str, typer.Option("--to", metavar="TIME", help="End of the range (excluded).")],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Directory for the part files and state.")
    ],
    entity: Entity = "event",
    tz: Tz = None,
    fields: Fields = None,
    fmt: Format = None,
    gzip: Gzip = False,
    columns: Columns = None,
    merge: Merge = None,
    parallel: Parallel = 4,
    fsync: Fsync = False,
    timeout: Timeout = None,
) -> None:
    """Schedule, wait for and download a snapshot of [FROM, TO) into OUT, in one go.

    Each part is downloaded as soon as the server lists it finished, while the
    others still export. Restartable: run the same command again after a crash
    and it continues the same snapshot (waiting or downloading where it
    stopped) instead of scheduling a new one.
    """
    lower, upper = read_range(tz, start, end)
    with FollowView() as views, session.open(fsync=fsync) as client:
        download = run_export(
            client,
            out,
            lower,
            upper,
            entity,
            extra=read_options(fields, gzip, columns, fmt),
            parallel=parallel,
            timeout=read_timeout(timeout),
            hooks=Hooks(note=note, waiting=views.waiting, downloading=views.downloading),
        )
    merged = download.merge(merge) if merge is not None else None
    report_download(download, merged, as_json=session.as_json)


@client_command
def sync(
    session: Session,
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="Directory for the windows and state.")
    ],
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="TIME", help="Start of the first window (first run only)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="TIME", help="End of the last window [default: now]."),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window", metavar="DURATION", help="Window length: 6h, 1d, 1w [default: 1d]."
        ),
    ] = None,
    entity: Entity = "event",
    fmt: Format = None,
    tz: Tz = None,
    parallel: Parallel = 4,
    fsync: Fsync = False,
    timeout: Timeout = None,
) -> None:
    """Export new rows incrementally, in half-open windows [from, to), each row exactly once.

    The first run starts at --since; each later run continues where the last
    one stopped, up to --until (default now). A state file in OUT records the
    progress, so an interrupted run resumes its window's snapshot. With
    --format parquet, OUT is a Parquet dataset partitioned by day (day=YYYY-MM-DD/),
    which DuckDB and Polars read as it is.
    """
    lower, upper = read_bounds(tz, since, until)
    step = parse_duration(window) if window else None
    views = FollowView()

    def finished(done: Window) -> None:
        views.close()
        if not session.as_json:  # JSON lists every window at the end; a person sees each now
            _describe_window(done)

    with views, session.open(fsync=fsync) as client:
        windows = run_sync(
            client,
            out,
            since=lower,
            until=upper,
            window=step,
            entity=entity,
            fmt=fmt.strip().lower() if fmt else None,
            parallel=parallel,
            timeout=read_timeout(timeout),
            hooks=Hooks(note=note, waiting=views.waiting, downloading=views.downloading),
            on_window=finished,
        )

    def summary() -> None:
        if not windows:  # each window was described as it finished
            note("nothing new to sync")

    session.emit({"windows": [_window_summary(done) for done in windows]}, human=summary)


def _describe_window(done: Window) -> None:
    result(str(done.folder))
    note(
        f"window {format_time(done.created_at_from)} to {format_time(done.created_at_to)}:"
        f" {done.download.rows} rows, {human_bytes(done.download.size)}"
    )


def _window_summary(done: Window) -> dict[str, Any]:
    return {
        "created_at_from": format_time(done.created_at_from),
        "created_at_to": format_time(done.created_at_to),
        "directory": str(done.folder),
        "files": [str(path) for path in done.download.files],
        "rows": done.download.rows,
        "bytes": done.download.size,
    }

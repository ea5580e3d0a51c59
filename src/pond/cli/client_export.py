"""`pond export` and `pond sync`: the restartable, stateful client commands.

Both keep a state file in their output directory, so running the same command
again after a crash, a kill or a network failure continues where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pond.cli.client_options import (
    ApiUrl,
    Columns,
    Entity,
    Fields,
    Format,
    Fsync,
    Gzip,
    Json,
    Merge,
    Parallel,
    Profile,
    Timeout,
    TokenUrl,
    Tz,
    open_client,
    read_bounds,
    read_options,
    read_range,
    read_timeout,
)
from pond.cli.client_render import FollowView, emit_json, human_bytes, note, report_download, result
from pond.client.export import Hooks
from pond.client.export import export as run_export
from pond.client.sync import Window
from pond.client.sync import sync as run_sync
from pond.client.times import format_time, parse_duration


def export(
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
    profile: Profile = None,
    api_url: ApiUrl = None,
    token_url: TokenUrl = None,
    as_json: Json = False,
) -> None:
    """Schedule, wait for and download a snapshot of [FROM, TO) into OUT, in one go.

    Each part is downloaded as soon as the server lists it finished, while the
    others still export. Restartable: run the same command again after a crash
    and it continues the same snapshot (waiting or downloading where it
    stopped) instead of scheduling a new one.
    """
    lower, upper = read_range(tz, start, end)
    views = FollowView()
    try:
        with open_client(profile, api_url, token_url, fsync=fsync) as client:
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
    finally:
        views.close()
    merged = download.merge(merge) if merge is not None else None
    report_download(download, merged, as_json)


def sync(
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
    profile: Profile = None,
    api_url: ApiUrl = None,
    token_url: TokenUrl = None,
    as_json: Json = False,
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
        if not as_json:
            result(str(done.folder))
            note(
                f"window {format_time(done.created_at_from)} to {format_time(done.created_at_to)}:"
                f" {done.download.rows} rows, {human_bytes(done.download.size)}"
            )

    try:
        with open_client(profile, api_url, token_url, fsync=fsync) as client:
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
    finally:
        views.close()
    if as_json:
        emit_json(
            {
                "windows": [
                    {
                        "created_at_from": format_time(w.created_at_from),
                        "created_at_to": format_time(w.created_at_to),
                        "directory": str(w.folder),
                        "files": [str(path) for path in w.download.files],
                        "rows": w.download.rows,
                        "bytes": w.download.size,
                    }
                    for w in windows
                ]
            }
        )
    elif not windows:
        note("nothing new to sync")

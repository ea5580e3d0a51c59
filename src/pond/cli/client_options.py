"""What the client commands share: their common options, and reading them.

Each option type is an `Annotated` alias so that every command spells the same
flag the same way; those every client command takes (`--profile`, `--api-url`,
`--token-url`, `--json`) are added by `pond.cli.client_session`. Times without
an offset are read in `--tz` (default: the local zone) and the command says so
on stderr.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from pond.cli.client_render import note
from pond.client.errors import UsageError
from pond.client.times import format_time, parse_duration, parse_time, zone

Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Config profile to use [default: $POND_PROFILE, else default].",
    ),
]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        metavar="URL",
        help="API base URL [default: $POND_API_URL, the profile's, else the hosted service].",
    ),
]
TokenUrl = Annotated[
    str | None,
    typer.Option(
        "--token-url",
        metavar="URL",
        help="Token endpoint [default: $POND_TOKEN_URL, the profile's, else the API's].",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]
Tz = Annotated[
    str | None,
    typer.Option(
        "--tz",
        metavar="ZONE",
        help="Zone for times without an offset, e.g. America/Los_Angeles [default: local].",
    ),
]
Entity = Annotated[str, typer.Option("--entity", metavar="NAME", help="Data entity to export.")]
Timeout = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        metavar="DURATION",
        help="Give up waiting after this long: 90s, 30m, 2h [default: never].",
    ),
]
Merge = Annotated[
    Path | None,
    typer.Option(
        "--merge",
        metavar="FILE",
        help="Also write all parts as one file here: one CSV with one header, one Parquet"
        " file, or one JSON Lines file, as the parts are.",
    ),
]
Parallel = Annotated[
    int,
    typer.Option("--parallel", metavar="N", min=1, max=64, help="Parts to download at once."),
]
Fsync = Annotated[
    bool,
    typer.Option(
        "--fsync",
        help="Sync each part to disk before it is renamed into place: it then survives a"
        " power cut too, but the download waits for the disk.",
    ),
]
Fields = Annotated[
    list[str] | None,
    typer.Option(
        "--field",
        metavar="KEY=VALUE",
        help="Extra form field for server extensions (repeatable).",
    ),
]
Gzip = Annotated[
    bool,
    typer.Option("--gzip", help="Ask for gzipped parts (event_000.csv.gz), kept compressed."),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="File format: csv, parquet (typed, zstd) or ndjson (JSON Lines) [default: csv].",
    ),
]
Columns = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="A,B,C",
        help="Export only these columns of the entity, in this order [default: all].",
    ),
]
SnapshotRef = Annotated[
    str, typer.Argument(metavar="SNAPSHOT", help="Snapshot id or href.", show_default=False)
]


def read_timeout(text: str | None) -> float | None:
    """`--timeout` in seconds: a number of seconds or a duration like `30m`."""
    if text is None:
        return None
    if text.strip().replace(".", "", 1).isdigit():
        return float(text)
    return parse_duration(text).total_seconds()


def read_fields(pairs: list[str] | None) -> dict[str, str]:
    """`--field KEY=VALUE` options as a dict; `UsageError` for one without `=`."""
    fields: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--field {pair!r} is not KEY=VALUE", hint="e.g. --field columns=id")
        fields[key.strip()] = value
    return fields


def read_options(
    pairs: list[str] | None, gzip: bool, columns: str | None, fmt: str | None = None
) -> dict[str, str]:
    """The creation's extra form fields: `--field` pairs, then `--format`, `--gzip`, `--columns`."""
    fields = read_fields(pairs)
    if fmt is not None:
        fields["format"] = fmt.strip().lower()
    if gzip:
        fields["compression"] = "gzip"
    if columns is not None:
        fields["columns"] = ",".join(name.strip() for name in columns.split(","))
    return fields


def _read(tz: str | None, texts: list[str | None]) -> list[datetime | None]:
    """Each time as UTC; states on stderr the zone assumed for those without an offset."""
    in_zone = zone(tz)
    parsed = [None if text is None else parse_time(text, in_zone) for text in texts]
    assumed = [p for p in parsed if p is not None and p.assumed_zone]
    if assumed:
        origin = "--tz" if tz else "the local zone; change it with --tz"
        shown = ", ".join(f"{p.text} = {format_time(p.utc)}" for p in assumed)
        note(f"times without an offset are read in {in_zone.name} ({origin}): {shown}")
    return [None if p is None else p.utc for p in parsed]


def read_range(tz: str | None, start: str, end: str) -> tuple[datetime, datetime]:
    """`--from` and `--to` as UTC instants."""
    lower, upper = _read(tz, [start, end])
    if lower is None or upper is None:  # both texts were given, so both were read
        raise UsageError("--from and --to are required")
    return lower, upper


def read_bounds(
    tz: str | None, since: str | None, until: str | None
) -> tuple[datetime | None, datetime | None]:
    """Optional `--since` and `--until` as UTC instants."""
    lower, upper = _read(tz, [since, until])
    return lower, upper

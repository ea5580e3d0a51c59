"""Incremental export: half-open windows `[from, to)` back to back, each row exactly once.

The output directory keeps `.pond-sync.json`: the entity, the window origin
and length, where the next window starts, and the window in progress with its
snapshot href. Each window downloads into its own folder
(`20190313T000000Z_20190314T000000Z/`). A window is marked done only after
its files are verified, so a crash at any point resumes that window's
snapshot on the next run; windows share their bounds, so there is no gap and
no overlap. Windows are aligned on the first run's start, and the last one
ends at `until` (default: now).

With `fmt="parquet"` the directory is a Parquet dataset partitioned by day,
as DuckDB and Polars read it (`read_parquet('DIR/*/*.parquet', hive_partitioning
= true)`, `polars.scan_parquet('DIR/*/*.parquet', hive_partitioning=True)`):
windows are whole UTC days, each in a folder `day=2019-03-13/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pond.client.client import Client
from pond.client.errors import UsageError
from pond.client.export import LOCK_FILE, Hooks, request_fields, run_snapshot
from pond.client.results import Download
from pond.client.state import locked, read_state, write_state
from pond.client.times import as_utc, compact_time, format_time

STATE_FILE = ".pond-sync.json"
DEFAULT_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """One synced window and what it brought."""

    created_at_from: datetime
    created_at_to: datetime
    download: Download

    @property
    def folder(self) -> Path:
        return self.download.directory


def window_folder(start: datetime, end: datetime, fmt: str | None = None) -> str:
    """`20190313T000000Z_20190314T000000Z`, or `day=2019-03-13` for a Parquet dataset."""
    if fmt == "parquet":
        return f"day={start.date().isoformat()}"
    return f"{compact_time(start)}_{compact_time(end)}"


def _check_days(since: datetime | None, window: timedelta | None) -> None:
    """A Parquet dataset is partitioned by day: whole UTC days, from a midnight."""
    if window is not None and window != DEFAULT_WINDOW:
        raise UsageError(
            "a Parquet sync is partitioned by day, so its windows are whole days",
            hint="leave out --window (one day)",
        )
    if since is not None and as_utc(since) != as_utc(since).replace(
        hour=0, minute=0, second=0, microsecond=0
    ):
        raise UsageError(
            "a Parquet sync is partitioned by day, so it starts at a midnight (UTC)",
            hint="e.g. --since 2024-01-01",
        )


def next_bound(origin: datetime, cursor: datetime, window: timedelta, until: datetime) -> datetime:
    """The end of the window starting at `cursor`: the next step after `origin`, or `until`."""
    steps = (cursor - origin) // window + 1
    return min(origin + steps * window, until)


def now_utc() -> datetime:
    """Now, to the second: bounds are sent at millisecond precision and must be exact."""
    return datetime.now(UTC).replace(microsecond=0)


def sync(
    client: Client,
    directory: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    window: timedelta | None = None,
    entity: str = "event",
    fmt: str | None = None,
    parallel: int = 4,
    timeout: float | None = None,
    hooks: Hooks | None = None,
    on_window: Callable[[Window], None] | None = None,
) -> list[Window]:
    """Export every window from where the last run stopped (or `since`) up to `until`.

    The first run needs `since`; later runs continue from the state file,
    ignoring `since`, and keep the first run's `window` (default one day) and
    format (`fmt`: None or `csv`, `parquet`, `ndjson`). Raises `UsageError` for a
    first run without `since`, a state file for another entity or format, a
    Parquet sync not in whole days, or another run using `directory`; after any
    other failure the next run resumes the interrupted window.
    """
    hooks = hooks or Hooks()
    fmt = None if fmt in (None, "", "csv") else fmt
    if fmt == "parquet":
        _check_days(since, window)
    path = directory / STATE_FILE
    done: list[Window] = []
    with locked(directory, LOCK_FILE):
        state = read_state(path)
        if state is None:
            if since is None:
                raise UsageError(
                    f"{directory} has no sync state yet, so the first run needs --since",
                    hint="e.g. pond sync --out DIR --since 2024-01-01",
                )
            first = format_time(since)
            state = {"version": 1, "entity": entity, "origin": first, "next_from": first}
            state["window_seconds"] = int((window or DEFAULT_WINDOW).total_seconds())
            if fmt is not None:
                state["format"] = fmt
        elif state.get("entity") != entity:
            raise UsageError(
                f"{directory} syncs {state.get('entity')!r}, not {entity!r}",
                hint="use one --out directory per entity",
            )
        elif state.get("format") != fmt:
            raise UsageError(
                f"{directory} syncs {state.get('format') or 'csv'}, not {fmt or 'csv'}",
                hint="use one --out directory per format",
            )
        elif since is not None and format_time(since) != state["next_from"]:
            hooks.note(f"continuing from {state['next_from']} (the state file); --since ignored")
        step = timedelta(seconds=int(state["window_seconds"]))
        if window is not None and window != step:
            hooks.note(f"keeping the window of the first run ({step}); --window ignored")
        origin, end = as_utc(state["origin"]), as_utc(until) if until else now_utc()
        while True:
            current: dict[str, Any] | None = state.get("current")
            if current is None:
                cursor = as_utc(state["next_from"])
                if cursor >= end:
                    break
                bound = next_bound(origin, cursor, step, end)
                extra = {"format": fmt} if fmt is not None else {}
                current = {"request": request_fields(cursor, bound, entity, extra)}
                state["current"] = current
            request = current["request"]
            start, stop = as_utc(request["created_at_from"]), as_utc(request["created_at_to"])
            hooks.note(f"window {request['created_at_from']} to {request['created_at_to']}")
            download = run_snapshot(
                client,
                directory / window_folder(start, stop, fmt),
                current,
                lambda: write_state(path, state),
                parallel=parallel,
                timeout=timeout,
                hooks=hooks,
            )
            state.update(next_from=request["created_at_to"], current=None)
            write_state(path, state)
            result = Window(start, stop, download)
            done.append(result)
            if on_window is not None:
                on_window(result)
    return done

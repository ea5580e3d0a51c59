"""A restartable export: schedule, wait and download in one, resumable after a crash.

The output directory keeps a state file (`.pond-export.json`) with the
request and, as soon as the server answers, the snapshot href. Run the same
export again and it continues that snapshot (waiting or downloading where it
stopped) instead of scheduling a new one. The create request carries an
`Idempotency-Key` recorded before it is sent, so a server that honours it
does not schedule twice even when the answer was lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pond.client.client import Client
from pond.client.errors import SnapshotExpired, SnapshotNotFound, UsageError
from pond.client.models import FAILED, Snapshot
from pond.client.parts import ProgressCallback
from pond.client.results import Download
from pond.client.state import locked, read_state, write_state
from pond.client.times import as_utc, format_time

STATE_FILE = ".pond-export.json"
LOCK_FILE = ".pond.lock"


def _ignore(message: str) -> None:
    """The default note hook: say nothing."""


@dataclass(frozen=True)
class Hooks:
    """What a caller hears while an export runs: notes, each poll, download progress."""

    note: Callable[[str], None] = _ignore
    waiting: Callable[[Snapshot], None] | None = None
    downloading: ProgressCallback | None = None


def request_fields(
    created_at_from: datetime, created_at_to: datetime, entity: str, extra: Mapping[str, str]
) -> dict[str, Any]:
    """The request as stored in a state file, comparable between runs."""
    return {
        "created_at_from": format_time(as_utc(created_at_from)),
        "created_at_to": format_time(as_utc(created_at_to)),
        "entity": entity,
        "extra": dict(sorted(extra.items())),
    }


def run_snapshot(
    client: Client,
    directory: Path,
    state: dict[str, Any],
    save: Callable[[], None],
    *,
    parallel: int,
    timeout: float | None,
    hooks: Hooks,
) -> Download:
    """Continue (or schedule) the snapshot `state` describes, then wait and download it.

    `state` holds `request` and maybe `href` and `key`; it is updated and
    `save()`d before each step that could be lost in a crash.
    """
    request = state["request"]
    snapshot: Snapshot | None = None
    replace = False
    if state.get("href"):
        try:
            snapshot = client.get(state["href"])
        except (SnapshotExpired, SnapshotNotFound) as gone:
            hooks.note(f"snapshot {state['href']} is no longer available ({gone.message})")
        if snapshot is not None and snapshot.state == FAILED:
            hooks.note(f"snapshot {snapshot.id} failed on the server")
            snapshot = None
        if snapshot is None:
            state.update(href=None, key=None)
            replace = True
        else:
            hooks.note(f"resuming snapshot {snapshot.href}")
    if snapshot is None:
        state["key"] = state.get("key") or str(uuid.uuid4())
        save()
        snapshot = client.create(
            request["created_at_from"],
            request["created_at_to"],
            request["entity"],
            idempotency_key=state["key"],
            **request["extra"],
        )
        state["href"] = snapshot.href
        save()
        hooks.note(f"scheduled snapshot {snapshot.href}")
    return client.wait_and_download(
        snapshot,
        directory,
        parallel=parallel,
        timeout=timeout,
        waiting=hooks.waiting,
        progress=hooks.downloading,
        replace=replace,
    )


def export(
    client: Client,
    directory: Path,
    created_at_from: datetime,
    created_at_to: datetime,
    entity: str = "event",
    *,
    extra: Mapping[str, str] | None = None,
    parallel: int = 4,
    timeout: float | None = None,
    hooks: Hooks | None = None,
) -> Download:
    """Export `[created_at_from, created_at_to)` of `entity` into `directory`, resumably.

    Raises `UsageError` when `directory` holds a different export (or another
    run is using it), and whatever `Client.create`, `wait` and `download` raise;
    after any failure, the same call continues where this one stopped.
    """
    hooks = hooks or Hooks()
    request = request_fields(created_at_from, created_at_to, entity, extra or {})
    path = directory / STATE_FILE
    with locked(directory, LOCK_FILE):
        state = read_state(path) or {"version": 1, "request": request}
        if state.get("request") != request:
            held = state.get("request") or {}
            raise UsageError(
                f"{directory} holds another export ({held.get('entity')} from"
                f" {held.get('created_at_from')} to {held.get('created_at_to')})",
                hint="use another --out directory for a different range",
            )
        done = finished(state, directory)
        if done is not None:
            hooks.note(f"export already complete in {directory}")
            return done
        state["complete"] = False
        download = run_snapshot(
            client,
            directory,
            state,
            lambda: write_state(path, state),
            parallel=parallel,
            timeout=timeout,
            hooks=hooks,
        )
        record_finished(state, download)
        write_state(path, state)
    return download


def record_finished(state: dict[str, Any], download: Download) -> None:
    """Note in `state` that `download` is complete: the snapshot, without its signed links."""
    wire = download.snapshot.to_wire()
    for item in wire["items"]:
        if item.get("href"):
            item["href"] = item["href"].split("?", 1)[0]
    state.update(complete=True, snapshot=wire, files=[p.name for p in download.files])


def finished(state: dict[str, Any], directory: Path) -> Download | None:
    """The recorded download when `state` says it finished and its files are all there."""
    if not state.get("complete") or not isinstance(state.get("files"), list):
        return None
    files = tuple(directory / str(name) for name in state["files"])
    if not all(path.is_file() for path in files):
        return None
    try:
        snapshot = Snapshot.from_wire(state.get("snapshot"))
    except ValueError:
        return None
    return Download(snapshot, directory, files)

"""How the client commands show what happens: Rich progress bars on a terminal,
plain lines otherwise, JSON on stdout for scripts.

Results go to stdout; notes and progress go to stderr, so `--json` output and
piped results stay clean.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import typer

from pond.cli.output import stderr_console

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from pond.client.models import Snapshot
    from pond.client.parts import PartProgress
    from pond.client.results import Download


def terminal() -> Console | None:
    """Rich on stderr when stderr is a terminal (as Rich decides), else None.

    Rich is imported only then: a piped or scripted command writes plain lines.
    """
    try:
        maybe = sys.stderr.isatty()
    except ValueError:  # closed
        maybe = False
    if not maybe and "TTY_COMPATIBLE" not in os.environ and "FORCE_COLOR" not in os.environ:
        return None
    console = stderr_console()
    return console if console.is_terminal else None


def emit(value: Any, *, as_json: bool, human: Callable[[], object]) -> None:
    """A command's result: `value` as one JSON document on stdout if `as_json`, else `human()`,
    which prints it for a person (`result` lines on stdout, `note` lines on stderr)."""
    if as_json:
        typer.echo(json.dumps(value, indent=2))
        return
    human()


def note(message: str) -> None:
    """A line for the person at the terminal (stderr)."""
    console = terminal()
    if console is not None:
        console.print(message, markup=False)
        return
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def result(message: str) -> None:
    """A line of the command's result (stdout)."""
    typer.echo(message)


def human_bytes(size: int | None) -> str:
    if size is None:
        return "? bytes"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} bytes"


def _parts_complete(snapshot: Snapshot) -> tuple[int, int]:
    done = sum(1 for item in snapshot.items if item.state == "complete")
    return done, max(1, len(snapshot.items))


class _BarView:
    """A view that may show rich bars: they stop when the `with` block ends."""

    _progress: Progress | None = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


class WaitView(_BarView):
    """Shows polls of a snapshot: a spinner and parts complete, or a line per change of state."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last: tuple[str, int, int] | None = None

    def __enter__(self) -> WaitView:
        console = terminal()
        if console is not None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("parts complete"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("waiting", total=1)
        return self

    def __call__(self, snapshot: Snapshot) -> None:
        done, total = _parts_complete(snapshot)
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                description=f"{snapshot.id} {snapshot.state}",
                completed=done,
                total=total,
            )
            return
        now = (snapshot.state, done, total)
        if now != self._last:
            note(f"snapshot {snapshot.id}: {snapshot.state} ({done}/{total} parts complete)")
            self._last = now


class DownloadView(_BarView):
    """Shows part downloads: a bar per part and one for the total (bytes, rate, ETA),
    or a line per part when it starts, resumes and finishes. Thread-safe."""

    def __init__(self, total: int | None, parts: int) -> None:
        self._lock = threading.Lock()
        self._total_bytes = total
        self._parts = parts
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._tasks: dict[str, TaskID] = {}
        self._done: dict[str, int] = {}
        self._finished: set[str] = set()

    def __enter__(self) -> DownloadView:
        console = terminal()
        if console is not None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}", justify="right"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._progress.start()
            self._overall = self._progress.add_task(self._title(), total=self._total_bytes)
        return self

    def _title(self, final: bool = True) -> str:
        if not self._parts:
            return "total"
        return f"total ({self._parts} parts{'' if final else ' so far'})"

    def expect(self, snapshot: Snapshot) -> None:
        """Update the total from the latest listing of the snapshot (it grows until complete)."""
        final = snapshot.is_complete
        parts = len(snapshot.items) if final else sum(1 for i in snapshot.items if i.href)
        with self._lock:
            self._parts = parts
            self._total_bytes = snapshot.size if final else None
            if self._progress is not None and self._overall is not None:
                self._progress.update(
                    self._overall, description=self._title(final), total=self._total_bytes
                )

    def __call__(self, event: PartProgress) -> None:
        with self._lock:
            if event.name in self._finished and not event.finished and not event.done:
                self._finished.discard(event.name)  # fetched again: another version of the part
            if event.name in self._finished:
                return
            previous = self._done.get(event.name)
            self._done[event.name] = event.done
            if self._progress is not None and self._overall is not None:
                self._show_bar(self._progress, self._overall, event)
            elif previous is None and not event.finished and event.done:
                note(f"{event.name}: resuming at {human_bytes(event.done)}")
            if event.finished:
                self._finished.add(event.name)
                if self._progress is None:
                    note(f"{event.name}: {human_bytes(event.done)} verified")

    def _show_bar(self, progress: Progress, overall: TaskID, event: PartProgress) -> None:
        task = self._tasks.get(event.name)
        if task is None:
            task = progress.add_task(event.name, total=event.total)
            self._tasks[event.name] = task
        progress.update(task, completed=event.done, total=event.total, visible=not event.finished)
        progress.update(overall, completed=sum(self._done.values()))


class FollowView:
    """A snapshot followed to its download: the wait view while no part downloads, then the
    download view, whose total grows as parts are listed. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wait: WaitView | None = None
        self._download: DownloadView | None = None
        self._runs: dict[str, int] = {}  # the last run seen of each snapshot

    def waiting(self, snapshot: Snapshot) -> None:
        from pond.client.listing import run_of  # loaded already by the client that polls

        run, seen = run_of(snapshot), self._runs.get(snapshot.id)
        if run is not None and seen is not None and run != seen:
            note(
                f"snapshot {snapshot.id}: the export started over on the server (run {run});"
                " parts that change are fetched again"
            )
        if run is not None:
            self._runs[snapshot.id] = run
        with self._lock:
            if self._download is not None:
                self._download.expect(snapshot)
                return
            if not snapshot.is_complete:
                if self._wait is None:
                    self._wait = WaitView().__enter__()
                self._wait(snapshot)
                return
            if self._wait is not None:
                self._wait(snapshot)
            self._open_download().expect(snapshot)

    def downloading(self, event: PartProgress) -> None:
        with self._lock:
            view = self._download or self._open_download()
        view(event)

    def _open_download(self) -> DownloadView:
        self._close_wait()
        self._download = DownloadView(None, 0).__enter__()
        return self._download

    def _close_wait(self) -> None:
        if self._wait is not None:
            self._wait.__exit__(None, None, None)
            self._wait = None

    def __enter__(self) -> FollowView:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close both views (a next snapshot opens new ones)."""
        with self._lock:
            self._close_wait()
            if self._download is not None:
                self._download.__exit__(None, None, None)
                self._download = None


def report_download(download: Download, merged: Path | None, *, as_json: bool) -> None:
    """The result of a download: its files (and merged file), rows and bytes."""
    emit(
        download_summary(download, merged),
        as_json=as_json,
        human=lambda: _describe_download(download, merged),
    )


def _describe_download(download: Download, merged: Path | None) -> None:
    for path in download.files:
        result(str(path))
    if merged is not None:
        result(str(merged))
    note(
        f"{len(download.files)} parts, {download.rows} rows, {human_bytes(download.size)}"
        f" verified in {download.directory}"
    )


def download_summary(download: Download, merged: Path | None) -> dict[str, Any]:
    return {
        "snapshot": download.snapshot.href,
        "directory": str(download.directory),
        "files": [str(path) for path in download.files],
        "rows": download.rows,
        "bytes": download.size,
        "merged": None if merged is None else str(merged),
    }

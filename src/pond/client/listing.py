"""Following a snapshot while it exports: what each listing asks the client to do.

Asked for details (`?details=true`), a pond server lists, while an export
runs, the parts finished so far, in order, then one running item; every item
carries the export's `run`. A part can be downloaded as soon as it is listed.
If the export dies and runs again, the old run's parts vanish from the
listing, the run number grows, and the new run lists its own parts from
`event_000` again, whose bytes may differ from the old ones of the same name.

`Tracker` turns each listing into actions: parts to start fetching, fetches to
cancel (their part changed), and once the snapshot is complete, files to
remove; the `Ledger` remembers which part each file holds. No request is sent
here: `pond.client.follower` and `pond.client.async_follower` send them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pond.client.backoff import Deadline
from pond.client.errors import ClientError
from pond.client.ledger import Ledger, identity
from pond.client.models import COMPLETE, PENDING, RUNNING, Item, Snapshot
from pond.client.parts import Part, ProgressCallback, claim, plan
from pond.client.results import Download

POLL_INTERVAL = 0.25  # seconds between polls while parts are listed as they finish
PENDING_INTERVAL = 1.0  # the longest pause between polls while the export has not started
MAX_TRIES = 3  # fetches of one version of a part that may fail before the error stands


class Superseded(ClientError):
    """The part being fetched is no longer the one listed under its name."""


@dataclass(frozen=True)
class Watch:
    """How one snapshot is followed: what the caller hears, and how long it waits.

    `listed_early`: ask for the parts while the export runs (the server takes
    `?details=true`); without it the snapshot is waited for as `Client.wait` does.
    """

    waiting: Callable[[Snapshot], None] | None = None
    progress: ProgressCallback | None = None
    listed_early: bool = True
    deadline: Deadline = field(default_factory=lambda: Deadline(None))


def visible_items(snapshot: Snapshot) -> tuple[Item, ...]:
    """The parts a description lists as finished: its leading complete items with a link."""
    items: list[Item] = []
    for item in snapshot.items:
        if item.state != COMPLETE or not item.href:
            break
        items.append(item)
    return tuple(items)


def run_of(snapshot: Snapshot) -> int | None:
    """The export run the description comes from, when the server says (pond's `run`)."""
    runs = [
        run
        for run in (item.extra.get("run") for item in snapshot.items)
        if isinstance(run, int) and not isinstance(run, bool)
    ]
    return max(runs, default=None)


def shows_parts_early(snapshot: Snapshot) -> bool | None:
    """Whether the server lists finished parts while the export runs; None until it runs.

    A running description from such a server carries the run number or a
    complete item; one from a server that lists parts only at the end (the
    hosted service, an older pond) has neither.
    """
    if snapshot.state != RUNNING:
        return None
    return run_of(snapshot) is not None or any(i.state == COMPLETE for i in snapshot.items)


def next_interval(snapshot: Snapshot, previous: float) -> float:
    """The pause before the next poll: short while the export runs, growing while it waits."""
    if snapshot.state == PENDING:
        return min(PENDING_INTERVAL, previous * 1.5)
    return POLL_INTERVAL


@dataclass(frozen=True)
class Listing:
    """One description of the snapshot, as parts to hold on disk.

    `wanted` maps each listed part's name to its identity; `strict` is true when
    nothing unlisted can still come as it was (the snapshot is complete, or the
    export runs again).
    """

    snapshot: Snapshot
    parts: tuple[Part, ...]
    wanted: Mapping[str, str]
    complete: bool
    strict: bool


class Tracker:
    """The bookkeeping of one directory while its snapshot is followed; thread-safe where said."""

    def __init__(self, directory: Path, *, replace: bool = False) -> None:
        self.directory = directory
        self._replace = replace
        self._ledger: Ledger | None = None
        self._run: int | None = None
        self._tries: dict[tuple[str, str], int] = {}

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("no listing has been read yet")
        return self._ledger

    def read(self, snapshot: Snapshot) -> Listing:
        """`snapshot` as a listing. The first one claims the directory for the snapshot.

        Raises `UsageError` when the directory holds another snapshot (unless `replace`).
        """
        if self._ledger is None:
            claim(self.directory, snapshot, replace=self._replace)
            self._ledger = Ledger.open(self.directory, snapshot)
        parts = self.parts_of(snapshot)
        run = run_of(snapshot)
        rerun = run is not None and self._run is not None and run != self._run
        if run is not None:
            self._run = run
        return Listing(
            snapshot,
            parts,
            {part.name: identity(part.item) for part in parts},
            complete=snapshot.is_complete,
            strict=snapshot.is_complete or rerun,
        )

    def parts_of(self, snapshot: Snapshot) -> tuple[Part, ...]:
        """The parts `snapshot` lists as finished, named as `Client.download` names them
        (thread-safe, once `read` claimed the directory)."""
        items = visible_items(snapshot)
        shown = Snapshot(snapshot.href, items, snapshot.extra)
        return tuple(plan(shown, self.directory)) if items else ()

    def fresh_item(self, snapshot: Snapshot, part: Part) -> Item:
        """`part`'s item in a newer description (a fresh link); `Superseded` when the name now
        holds another version of the part, or is not listed (thread-safe)."""
        wanted = identity(part.item)
        for fresh in self.parts_of(snapshot):
            if fresh.name == part.name and identity(fresh.item) == wanted:
                return fresh.item
        raise Superseded(
            f"part {part.name} changed on the server (its export started over)",
            hint="run the download again",
        )

    def to_cancel(self, listing: Listing, fetching: Mapping[str, str]) -> list[str]:
        """The fetches in flight (name: identity) whose part is no longer the one listed.

        While the export runs, a part not listed yet may still come as it is
        being fetched, unless the export started over.
        """
        stale = []
        for name, fetched in fetching.items():
            listed = listing.wanted.get(name)
            if listed != fetched and (listed is not None or listing.strict):
                stale.append(name)
        return stale

    def to_start(self, listing: Listing, fetching: Collection[str]) -> list[Part]:
        """The listed parts neither on disk as listed nor being fetched."""
        return [
            part
            for part in listing.parts
            if part.name not in fetching and not self.ledger.holds(part, listing.wanted[part.name])
        ]

    def prepare(self, part: Part, wanted: str) -> None:
        """Before fetching `part`: clear its files of any other version (thread-safe)."""
        self.ledger.prepare(part, wanted)

    def failed(self, part: Part, wanted: str, error: ClientError) -> None:
        """Count a failed fetch of `part`; raises `error` once that version failed `MAX_TRIES`.

        Until then the next listing decides: a part of a dead run is gone from it,
        a part still listed is fetched again with a fresh link.
        """
        key = (part.name, wanted)
        self._tries[key] = self._tries.get(key, 0) + 1
        if self._tries[key] >= MAX_TRIES:
            raise error

    def settle(self, listing: Listing) -> Download:
        """Once every part of the complete `listing` is on disk: remove the files it does not
        list (parts of a dead run), and give the download.
        """
        keep = {part.final.name for part in listing.parts}
        for name in self.ledger.names() - keep:
            self.ledger.remove(name)
        missing = [
            p.name for p in listing.parts if not self.ledger.holds(p, listing.wanted[p.name])
        ]
        if missing:
            raise ClientError(
                f"parts {', '.join(missing)} are not on disk as the snapshot lists them",
                hint="run the download again",
            )
        files = tuple(part.final for part in listing.parts)
        return Download(listing.snapshot, self.directory, files)

"""Which part each file in a download directory holds, so that no run of an export mixes in.

A part listed while its export still runs can change: if the export dies and
runs again, the new run's `event_000` may hold other rows than the old one's.
The ledger (`.pond-parts.json`) records, for every part file the client writes,
the *identity* of the part its bytes belong to (its SHA-256 as the server
listed it, or its size and rows where the server gives no checksum). A file
is kept only while the listing shows the same identity under its name; a file
the ledger does not know is checked against the listing before it is trusted.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

from pond.client.errors import ClientError
from pond.client.integrity import expected_checksum, verify
from pond.client.models import Item, Snapshot
from pond.client.parts import PARTIAL_SUFFIX, Part, disk_errors
from pond.client.state import read_state

LEDGER = ".pond-parts.json"


def _path(href: str) -> str:
    return urlsplit(href).path.rstrip("/")


def identity(item: Item) -> str:
    """What tells one version of a part from another: its checksum, else its size and rows."""
    checksum = expected_checksum(item)
    if checksum is not None:
        return f"{checksum.algorithm}:{checksum.hexdigest}"
    return f"size:{item.size},rows:{item.count}"


class Ledger:
    """The identities of the part files in `directory`, kept on disk; thread-safe.

    Entries are keyed by file name (`event_000.csv`) and cover the finished
    file and its `.part` alike.
    """

    def __init__(self, directory: Path, snapshot: str, entries: dict[str, str]) -> None:
        self.directory = directory
        self._snapshot = snapshot
        self._entries = entries
        self._lock = threading.Lock()

    @classmethod
    def open(cls, directory: Path, snapshot: Snapshot) -> Ledger:
        """The ledger of `snapshot`'s files in `directory` (empty when it held another's).

        Files another snapshot's ledger lists are removed: the caller has already
        claimed the directory for `snapshot` (`pond.client.parts.claim`).
        """
        path = directory / LEDGER
        held = read_state(path) or {}
        entries = held.get("files")
        ours = _path(str(held.get("snapshot", ""))) == _path(snapshot.href)
        ledger = cls(directory, snapshot.href, {})
        if isinstance(entries, dict):
            if ours:
                ledger._entries = {str(k): str(v) for k, v in entries.items()}
            else:
                for name in entries:
                    ledger._remove_files(str(name))
        ledger._save()
        return ledger

    def held(self, name: str) -> str | None:
        """The identity of the part the files named `name` hold, or None if unknown."""
        with self._lock:
            return self._entries.get(name)

    def names(self) -> set[str]:
        with self._lock:
            return set(self._entries)

    def holds(self, part: Part, wanted: str) -> bool:
        """True when `part`'s finished file is there and holds the part identified `wanted`."""
        return self.held(part.final.name) == wanted and part.final.is_file()

    def prepare(self, part: Part, wanted: str) -> None:
        """Make the files of `part` safe to continue: only bytes of the part `wanted` stay.

        A finished file the ledger does not know is kept when it passes the check
        against the listed item (a download of an older client, say); any other
        file under the name is removed. Then the name is recorded as `wanted`.
        """
        name = part.final.name
        held = self.held(name)
        if held == wanted:
            return
        if held is None and part.final.is_file():
            try:
                verify(part.final, part.item, part.name)
            except (ClientError, OSError):
                pass
            else:
                self.record(name, wanted)
                return
        self._remove_files(name)
        self.record(name, wanted)

    def record(self, name: str, wanted: str) -> None:
        with self._lock:
            self._entries[name] = wanted
            self._save()

    def remove(self, name: str) -> None:
        """Delete the files named `name` (finished and partial) and forget them."""
        self._remove_files(name)
        with self._lock:
            self._entries.pop(name, None)
            self._save()

    def _remove_files(self, name: str) -> None:
        if not name or "/" in name or name.startswith("."):
            return  # never a part file: the ledger names no path outside the directory
        (self.directory / name).unlink(missing_ok=True)
        (self.directory / f"{name}{PARTIAL_SUFFIX}").unlink(missing_ok=True)

    def _save(self) -> None:
        """Replace the file atomically. Not synced to disk: a part start costs no disk wait,
        and a ledger lost or left older in a power cut only makes the next run fetch or check
        its files again."""
        path = self.directory / LEDGER
        temporary = path.with_name(f".{path.name}.tmp")
        body = {"snapshot": self._snapshot, "files": dict(self._entries)}
        with disk_errors(path):
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", "utf-8")
            os.replace(temporary, path)


def drop_superseded(directory: Path, snapshot: Snapshot, parts: list[Part]) -> None:
    """Before a plain download of the complete `snapshot`: remove every file the ledger says
    holds another version of a part, or a part the snapshot does not have.

    Without a ledger of this snapshot (no progressive download ever wrote here),
    nothing is touched.
    """
    if not (directory / LEDGER).is_file():
        return
    ledger = Ledger.open(directory, snapshot)
    wanted = {part.final.name: identity(part.item) for part in parts}
    for name in ledger.names():
        if wanted.get(name) != ledger.held(name):
            ledger.remove(name)

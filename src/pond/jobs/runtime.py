"""What a job needs from the process that runs it."""

from __future__ import annotations

from dataclasses import dataclass

from pond.settings import Settings
from pond.storage.base import ObjectStore


@dataclass(frozen=True)
class JobRuntime:
    settings: Settings
    conninfo: str
    store: ObjectStore

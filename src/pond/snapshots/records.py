"""Snapshots and their parts as the repository reads them, and the states that matter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pond.exports.options import ExportOptions
from pond.limits.repository import Grant


@dataclass(frozen=True)
class SnapshotRecord:
    id: uuid.UUID
    org_id: int
    client_id: str
    entity: str
    created_at_from: datetime
    created_at_to: datetime
    state: str
    reason: str | None
    created_at: datetime
    expires_at: datetime
    deleted_at: datetime | None
    format: str = "csv"
    compression: str | None = None
    export_columns: list[str] | None = None
    rows_exported: int | None = None
    attempts: int = 0  # runs of its export so far: the run that published its parts

    @property
    def options(self) -> ExportOptions:
        columns = tuple(self.export_columns) if self.export_columns is not None else None
        return ExportOptions(format=self.format, compression=self.compression, columns=columns)


# States of a snapshot whose parts are published (a failed one may have some).
PUBLISHED = ("complete", "failed")
# States in which a snapshot may list parts: a running export lists each finished part
# as soon as its place is known (shown only on request, see `service.render`).
WITH_PARTS = (*PUBLISHED, "running")


@dataclass(frozen=True)
class PartRecord:
    """A published part: `complete` with its object, or `failed` with a reason and none."""

    seq: int
    name: str
    size: int | None
    row_count: int | None
    sha256: str | None
    state: str = "complete"
    reason: str | None = None


@dataclass(frozen=True)
class ClientStanding:
    """A client as its tokens are checked against it (see `pond.auth.bearer.admit`)."""

    client_id: str
    org_id: int
    generation: int
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class Lookup:
    """What a snapshot GET reads: the token's client, the snapshot and its published parts.

    `client` is None for an unknown client; `record` is None when the client's
    organisation has no such snapshot; `parts` is empty unless the snapshot's
    state is one of `WITH_PARTS`. `grant` is the count of the client's requests
    against its rate limit, made by the same statement (None when not counted); the
    requests of one client in a batch share it, and each claims its own answer.
    """

    client: ClientStanding | None
    record: SnapshotRecord | None
    parts: list[PartRecord]
    grant: Grant | None = None


LookupKey = tuple[str, uuid.UUID | None]  # (client id, snapshot id or None)


@dataclass(frozen=True)
class ListQuery:
    """One page of an organisation's live snapshots, newest first; None means no filter."""

    org_id: int
    limit: int
    states: tuple[str, ...] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # The (created_at, id) of the last snapshot of the previous page.
    after_key: tuple[datetime, uuid.UUID] | None = None


@dataclass(frozen=True)
class Remembered:
    """What an `Idempotency-Key` stands for: the request's fingerprint and its snapshot."""

    request_hash: str
    snapshot_id: uuid.UUID

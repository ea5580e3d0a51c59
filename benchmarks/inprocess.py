"""The export job called in the benchmark's own process, for the cases that compare the
job with itself (gzip, memory, workers): a diagnostic beside the headline cases."""

from __future__ import annotations

import uuid

import psycopg

from benchmarks.environment import END, START, Bench
from pond.downloads.signing import LinkSigner
from pond.entities import EVENT
from pond.settings import Settings
from pond.storage.local import LocalStore

PART_MAX_ROWS: int = Settings.model_fields["part_max_rows"].default
STREAMS: int = Settings.model_fields["export_streams"].default


def new_snapshot(bench: Bench, start: object = START, end: object = END) -> uuid.UUID:
    """A pending snapshot row of the benchmark client, as the API would insert it."""
    sid = uuid.uuid4()
    with psycopg.connect(bench.conninfo) as conn:
        conn.execute(
            "INSERT INTO snapshots (id, org_id, client_id, entity, created_at_from, created_at_to,"
            " expires_at) VALUES (%s, %s, %s, 'event', %s, %s, now() + interval '1 day')",
            (sid, bench.org_id, bench.client_id, start, end),
        )
    return sid


def store(bench: Bench) -> LocalStore:
    return LocalStore(bench.work_dir / "objects", LinkSigner("bench", b"b" * 32))


def export_sql(bench: Bench) -> str:
    """The exporter's own SELECT of the benchmark organisation's rows, values inlined."""
    with psycopg.connect(bench.conninfo) as conn:
        return psycopg.ClientCursor(conn).mogrify(EVENT.export_query(), (bench.org_id, START, END))

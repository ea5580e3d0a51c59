"""Loading events in the export's CSV format with COPY, all rows or none.

`pond import` (a file, synchronous) and `POST /insights/events` (a request body,
asynchronous) share what is here: the header check, the staging table, the
insert, and the translation of PostgreSQL's errors into one naming the line.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import psycopg
from psycopg import sql

from pond.clients.service import check_org
from pond.entities import EVENT
from pond.errors import ImportRejected

_REQUIRED = ("created_at", "event_type")
_LINE = re.compile(r"COPY \w+, line (\d+)")
_CHUNK = 1 << 20

# The staging table: events' columns, the organisation and id filled in on insert.
# Naive timestamps are read as UTC, whatever the server's zone.
STAGE = (
    "SET LOCAL TIME ZONE 'UTC'",
    "CREATE TEMP TABLE incoming_events (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP",
    "ALTER TABLE incoming_events ALTER COLUMN org_id DROP NOT NULL, ALTER COLUMN id DROP NOT NULL",
)
ENSURE_ORG = (
    "INSERT INTO organisations (slug) VALUES (%s)"
    " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id"
)
# Keep the identity ahead of ids that came from the file.
ADVANCE_IDS = (
    "SELECT setval(pg_get_serial_sequence('events', 'id'),"
    " greatest((SELECT max(id) FROM events), 1))"
)


def check_columns(header: list[str]) -> list[str]:
    """The header's columns if they are the export's, else `ImportRejected` naming the problem."""
    columns = [c.strip().lstrip("\ufeff") for c in header]
    unknown = [c for c in columns if c not in EVENT.columns]
    if unknown:
        raise ImportRejected(
            f"line 1: unknown column {unknown[0]!r}",
            hint="columns must come from: " + ", ".join(EVENT.columns),
        )
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        raise ImportRejected(f"line 1: the header lacks the required column {missing[0]!r}")
    if len(set(columns)) != len(columns):
        raise ImportRejected("line 1: a column is named twice")
    return columns


def copy_statement(columns: list[str]) -> sql.Composed:
    return sql.SQL("COPY incoming_events ({}) FROM STDIN (FORMAT csv, HEADER true)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def insert_statement(columns: list[str]) -> sql.Composed:
    """Move the staged rows into events for one organisation (bind: the org id)."""
    targets = [c for c in EVENT.columns if c in columns]
    return sql.SQL(
        "INSERT INTO events (org_id, {cols}) SELECT %s, {cols} FROM incoming_events"
    ).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in targets))


def rejected(exc: psycopg.Error) -> ImportRejected:
    """PostgreSQL's complaint about a row, as an error naming its line."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        detail = exc.diag.message_detail or "a row repeats an existing id"
        return ImportRejected(f"nothing was imported: {detail}")
    match = _LINE.search(exc.diag.context or "")
    where = f"line {match[1]}" if match else "a row"
    problem = (exc.diag.message_primary or "invalid value").replace(
        ' of relation "incoming_events"', ""
    )
    return ImportRejected(
        f"{where}: {problem}; nothing was imported",
        hint="fix that row (the export format is documented in docs/events.md) and try again",
    )


# What `rejected` explains; anything else is not the data's fault.
ROW_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            header = next(csv.reader(handle))
        except StopIteration:
            raise ImportRejected(f"{path} is empty; expected a header line") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportRejected(f"line 1: the header cannot be read: {exc}") from None
    return check_columns(header)


def import_csv(conninfo: str, *, org: str, path: Path) -> int:
    """Load every row of `path` into `org`'s events; return the count. A bad row loads none."""
    check_org(org)
    columns = _header(path)
    try:
        with psycopg.connect(conninfo) as conn, conn.transaction():
            row = conn.execute(ENSURE_ORG, (org,)).fetchone()
            assert row is not None
            for statement in STAGE:
                conn.execute(statement)
            with (
                conn.cursor() as cur,
                cur.copy(copy_statement(columns)) as copy,
                path.open("rb") as source,
            ):
                while block := source.read(_CHUNK):
                    copy.write(block)
            loaded = conn.execute(insert_statement(columns), (row[0],)).rowcount
            if "id" in columns:
                conn.execute(ADVANCE_IDS)
    except ROW_ERRORS as exc:
        raise rejected(exc) from None
    return int(loaded)

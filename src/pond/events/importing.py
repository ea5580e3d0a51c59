"""Loading events in the export's CSV format with COPY, all rows or none.

`pond import` (a file) and `POST /insights/events` (a request body) share what
is here: the header check and the translation of PostgreSQL's errors into one
naming the line; both load through `pond.events.repository.load`.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg

from pond.clients import repository as clients
from pond.clients.service import check_org
from pond.entities import EVENT
from pond.errors import ImportRejected
from pond.events import repository

_REQUIRED = ("created_at", "event_type")
_LINE = re.compile(r"COPY \w+, line (\d+)")
_CHUNK = 1 << 20


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


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while block := source.read(_CHUNK):
            yield block


def import_csv(conninfo: str, *, org: str, path: Path) -> int:
    """Load every row of `path` into `org`'s events; return the count. A bad row loads none."""
    check_org(org)
    columns = _header(path)

    async def run() -> int:
        async with (
            await psycopg.AsyncConnection.connect(conninfo) as conn,
            conn.transaction(),
        ):
            org_id = await clients.ensure_org(conn, org)
            return await repository.load(conn, org_id, columns, _blocks(path))

    try:
        return asyncio.run(run())
    except ROW_ERRORS as exc:
        raise rejected(exc) from None

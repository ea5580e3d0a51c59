"""`POST /insights/events`: a client loads a batch of its own events, all or nothing.

The body is CSV in the export format (`text/csv`, header first) or NDJSON
(`application/x-ndjson`: one JSON object a line, keys from the export's
columns). NDJSON is checked line by line here and turned into CSV, so both go
through the same COPY into a staging table and one INSERT.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import psycopg

from pond.entities import EVENT
from pond.errors import ImportRejected, InputError, UnsupportedMediaType
from pond.events import importing, repository
from pond.snapshots.dates import parse_instant

MAX_BODY = 10 * 1024 * 1024
MAX_ROWS = 100_000
CSV_TYPES = ("text/csv", "application/csv")
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


def _csv_header(body: bytes) -> list[str]:
    first = body.split(b"\n", 1)[0].decode("utf-8-sig", errors="strict").rstrip("\r")
    try:
        return next(csv.reader([first]))
    except (StopIteration, csv.Error):
        raise ImportRejected("line 1: expected a header line of column names") from None


def _ndjson_to_csv(body: bytes) -> tuple[list[str], bytes]:
    """The columns used and the CSV text of an NDJSON body, or `ImportRejected` naming the line."""
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(body.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ImportRejected(f"line {number}: not a JSON object") from None
        if not isinstance(record, dict):
            raise ImportRejected(f"line {number}: each line must be one JSON object")
        unknown = [k for k in record if k not in EVENT.columns]
        if unknown:
            raise ImportRejected(
                f"line {number}: unknown column {unknown[0]!r}",
                hint="keys must come from: " + ", ".join(EVENT.columns),
            )
        for required in ("created_at", "event_type"):
            if record.get(required) in (None, ""):
                raise ImportRejected(f"line {number}: {required} is required")
        try:
            parse_instant("created_at", record["created_at"])
        except InputError as exc:
            raise ImportRejected(f"line {number}: {exc.message}") from None
        records.append(record)
    if not records:
        raise ImportRejected("the body holds no events")
    columns = [c for c in EVENT.columns if any(c in r for r in records)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(column, record.get(column)) for column in columns])
    return columns, out.getvalue().encode()


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "{}" if column == "properties" else ""
    if column == "properties":
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def check_media_type(content_type: str) -> None:
    """Pass for a type of body this route reads, else `UnsupportedMediaType` (415)."""
    if content_type not in (*CSV_TYPES, *NDJSON_TYPES):
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}",
            hint="send text/csv (the export format, header first) or application/x-ndjson",
        )


def prepare(body: bytes, content_type: str) -> tuple[list[str], bytes]:
    """The columns and the CSV bytes to load from a request body of `content_type`."""
    check_media_type(content_type)
    if content_type in CSV_TYPES:
        return importing.check_columns(_csv_header(body)), body
    return _ndjson_to_csv(body)


async def load(
    conn: psycopg.AsyncConnection[Any], org_id: int, columns: list[str], data: bytes
) -> int:
    """Copy `data` (CSV with a header) into the organisation's events; all rows or none."""
    if data.count(b"\n") > MAX_ROWS + 1:
        raise ImportRejected(f"a batch holds at most {MAX_ROWS} events; split it")
    try:
        return await repository.load(conn, org_id, columns, [data])
    except importing.ROW_ERRORS as exc:
        raise importing.rejected(exc) from None

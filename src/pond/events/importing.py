"""`pond import`: load a CSV in the export format with COPY, all rows or none."""

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


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        try:
            header = next(csv.reader(handle))
        except StopIteration:
            raise ImportRejected(f"{path} is empty; expected a header line") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportRejected(f"line 1: the header cannot be read: {exc}") from None
    columns = [c.strip() for c in header]
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


def import_csv(conninfo: str, *, org: str, path: Path) -> int:
    """Load every row of `path` into `org`'s events; return the count. A bad row loads none."""
    check_org(org)
    columns = _header(path)
    column_list = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    try:
        with psycopg.connect(conninfo) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO organisations (slug) VALUES (%s)"
                " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
                (org,),
            ).fetchone()
            assert row is not None
            conn.execute(
                "CREATE TEMP TABLE incoming_events (LIKE events INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            # Filled in below: the organisation from --org, the id from the identity if absent.
            conn.execute(
                "ALTER TABLE incoming_events ALTER COLUMN org_id DROP NOT NULL,"
                " ALTER COLUMN id DROP NOT NULL"
            )
            statement = sql.SQL("COPY incoming_events ({}) FROM STDIN (FORMAT csv, HEADER true)")
            with (
                conn.cursor() as cur,
                cur.copy(statement.format(column_list)) as copy,
                path.open("rb") as source,
            ):
                while block := source.read(_CHUNK):
                    copy.write(block)
            targets = [c for c in EVENT.columns if c in columns]
            insert = sql.SQL(
                "INSERT INTO events (org_id, {cols}) SELECT %s, {cols} FROM incoming_events"
            ).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in targets))
            loaded = conn.execute(insert, (row[0],)).rowcount
            if "id" in columns:
                # Keep the identity ahead of ids that came from the file.
                conn.execute(
                    "SELECT setval(pg_get_serial_sequence('events', 'id'),"
                    " greatest((SELECT max(id) FROM events), 1))"
                )
    except psycopg.errors.UniqueViolation as exc:
        detail = exc.diag.message_detail or "a row repeats an existing id"
        raise ImportRejected(f"nothing was imported: {detail}") from None
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        context = exc.diag.context or ""
        match = _LINE.search(context)
        where = f"line {match[1]}" if match else "a row"
        problem = (exc.diag.message_primary or "invalid value").replace(
            ' of relation "incoming_events"', ""
        )
        raise ImportRejected(
            f"{where}: {problem}; nothing was imported",
            hint="fix that row (the export format is documented in docs/events.md) and run again",
        ) from None
    return int(loaded)

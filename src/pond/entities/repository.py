"""SQL for checking operators' entities against the database's catalog at start-up."""

from __future__ import annotations

from typing import Any

import psycopg

Conn = psycopg.Connection[Any]

# Each column's type as exports see it: an enum is its labels' text, a domain its base type.
_COLUMNS = (
    "SELECT a.attname, CASE WHEN t.typtype = 'e' THEN 'text'"
    " WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod)"
    " ELSE format_type(a.atttypid, a.atttypmod) END"
    " FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid"
    " WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped"
)


def column_types(conn: Conn, table: str) -> dict[str, str] | None:
    """The columns of `table` (a table or view, optionally schema-qualified), each with its
    type as `format_type()` prints it; None if there is no such table or view."""
    row = conn.execute("SELECT to_regclass(%s)::oid", (table,)).fetchone()
    if row is None or row[0] is None:
        return None
    return {str(name): str(kind) for name, kind in conn.execute(_COLUMNS, (row[0],))}

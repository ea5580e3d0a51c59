"""Which Arrow type each PostgreSQL column gets in typed exports, by the column's type.

A column's PostgreSQL type is read as `format_type()` prints it (`numeric(14,4)`,
`timestamp with time zone`, `character varying(20)`). Its Arrow type is named as
pyarrow prints it (`decimal128(14, 4)`, `timestamp[us, tz=UTC]`, `string`): the
same names go into Parquet files, `?details=true` and the client, which turns
them back into types. Nothing here imports pyarrow, so the API can name the
types without loading it.

- integers, booleans and floats stay native; text of every kind is `string`;
- `timestamptz` is `timestamp[us, tz=UTC]`, `timestamp` is `timestamp[us]`;
- `numeric(p, s)` is `decimal128(p, s)`; a `numeric` without a precision (no
  fixed scale) or of more than 38 digits (past `decimal128`; Arrow's CSV
  reader has no `decimal256`) is exported as its exact decimal text, a
  `string`: the documented fallback;
- `uuid` is its canonical text, a `string`; `json` and `jsonb` are JSON text,
  a `string` (nested values in JSON Lines).

Any other type is refused: `arrow_type` raises `UnsupportedType`, and the
configured entity that has it stops start-up.
"""

from __future__ import annotations

import re

_FIXED = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "real": "float",
    "double precision": "double",
    "boolean": "bool",
    "text": "string",
    "character varying": "string",
    "character": "string",
    "name": "string",
    "citext": "string",
    "uuid": "string",
    "json": "string",
    "jsonb": "string",
    "date": "date32[day]",
    "time without time zone": "time64[us]",
    "timestamp with time zone": "timestamp[us, tz=UTC]",
    "timestamp without time zone": "timestamp[us]",
}
# The types whose values are JSON documents: nested as they are in JSON Lines.
JSON_TYPES = frozenset({"json", "jsonb"})
_MODIFIERS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")
_DECIMAL128_DIGITS = 38


class UnsupportedType(ValueError):
    """A PostgreSQL type pond has no Arrow type for."""


def base_name(db_type: str) -> str:
    """`db_type` without its modifiers: `numeric` for `numeric(14,4)`,
    `timestamp with time zone` for `timestamp(3) with time zone`."""
    return " ".join(_MODIFIERS.sub(" ", db_type).split())


def arrow_type(db_type: str) -> str:
    """The Arrow type (as pyarrow names it) of a column of PostgreSQL type `db_type`.

    Raises `UnsupportedType` for a type pond cannot export.
    """
    base = base_name(db_type)
    if base == "numeric":
        found = _MODIFIERS.search(db_type)
        if found is None:
            return "string"  # no precision, no fixed scale: the exact text
        precision, scale = int(found.group(1)), int(found.group(2) or 0)
        if precision <= _DECIMAL128_DIGITS and scale >= 0:
            return f"decimal128({precision}, {scale})"
        return "string"
    try:
        return _FIXED[base]
    except KeyError:
        raise UnsupportedType(f"pond cannot export PostgreSQL type {db_type!r}") from None


def supported() -> str:
    """The PostgreSQL types pond exports, for an error message."""
    return ", ".join([*_FIXED, "numeric"])


def is_json(db_type: str) -> bool:
    return base_name(db_type) in JSON_TYPES

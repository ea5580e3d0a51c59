"""The schemas of the OpenAPI description: the bodies pond reads and answers with.

Every bound the server enforces on a request is stated here, as a schema where
JSON Schema can say it; the rules it cannot (a range in order, a column named
once) are stated in the descriptions.
"""

from __future__ import annotations

import re
from typing import Any

from pond.entities import exported
from pond.exports.options import COMPRESSIONS, FORMAT_COMPRESSIONS, FORMATS
from pond.snapshots.dates import FIRST_YEAR, LAST_YEAR, MAX_LENGTH, YEAR_PATTERN

SCOPE = "pond/insights.snapshots"
# An instant in an answer: always UTC, milliseconds and a `Z`.
DATE = {"type": "string", "format": "date-time", "example": "2019-03-13T18:00:00.000Z"}
# An instant in a request: RFC 3339 with a time zone, within the years pond takes.
DATE_RULE = f"An instant with a time zone; the year from {FIRST_YEAR:04d} to {LAST_YEAR:04d}."
DATE_PARAM = {**DATE, "maxLength": MAX_LENGTH, "pattern": YEAR_PATTERN, "description": DATE_RULE}
URL = {"type": "string", "format": "uri"}
_NULLABLE_INT = {"type": ["integer", "null"], "minimum": 0}


def one_of_list(names: list[str] | tuple[str, ...], *, empty: bool = False) -> str:
    """A pattern for comma-separated `names`, no spaces: at least one unless `empty`."""
    alternatives = "|".join(re.escape(name) for name in names)
    listed = f"({alternatives})(,({alternatives}))*"
    return f"^({listed})?$" if empty else f"^{listed}$"


def ref(name: str) -> dict[str, Any]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object schema: exactly these properties, `required` among them."""
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def optional(schema: dict[str, Any], *, json: bool) -> dict[str, Any]:
    """An optional field: in JSON, `null` means absent too (a form has no null)."""
    if not json:
        return schema
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    widened = {**schema, "type": [*kinds, "null"]}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    return widened


def _create_snapshot(*, json: bool) -> dict[str, Any]:
    """The body of a creation, as a JSON object or as a form (fields not named are ignored).

    A form's values are text: `columns` is then comma-separated, never a list.
    """
    entities = exported()
    columns = sorted({column for entity in entities for column in entity.columns})
    chosen: dict[str, Any] = {
        "type": "string",
        "pattern": one_of_list(columns, empty=True),
        "example": "id,created_at,event_type",
        "description": "pond: columns of the entity to export, in this order, each once"
        + (" (comma-separated, or a list)" if json else " (comma-separated)")
        + "; all of them when absent or empty.",
    }
    if json:
        chosen |= {
            "type": ["string", "array"],
            "items": {"type": "string", "enum": columns},
            "minItems": 1,
            "uniqueItems": True,
        }
    return {
        "type": "object",
        "required": ["created_at_from", "created_at_to"],
        "description": "`created_at_from` must be earlier than `created_at_to`.",
        "properties": {
            "created_at_from": {
                **DATE_PARAM,
                "description": f"Start of the range, included. {DATE_RULE}",
            },
            "created_at_to": {
                **DATE_PARAM,
                "example": "2019-03-28T18:00:00.000Z",
                "description": "End of the range, excluded: later than `created_at_from`. "
                + DATE_RULE,
            },
            "entity": optional(
                {
                    "type": "string",
                    "enum": [*(entity.name for entity in entities), ""],
                    "default": "event",
                    "description": "The entity to export; `event` also when empty.",
                },
                json=json,
            ),
            "format": optional(
                {
                    "type": "string",
                    "enum": [*FORMATS, ""],
                    "default": "csv",
                    "description": "pond: the file format: CSV with a header (`event_000`;"
                    " also when empty), Parquet typed from the entity's columns"
                    " (`event_000.parquet`) or JSON Lines (`event_000.ndjson`).",
                },
                json=json,
            ),
            "compression": optional(
                {
                    "type": "string",
                    "enum": [*COMPRESSIONS, ""],
                    "description": "pond: `gzip` for CSV and JSON Lines (objects then end in"
                    " `.gz`); the page codec for Parquet: `zstd` (its default), `snappy` or"
                    " `none`. Empty for the format's default. Another pairing is a 400.",
                },
                json=json,
            ),
            "columns": optional(chosen, json=json),
        },
        "allOf": [_compression_by_format(json=json)],
    }


def _compression_by_format(*, json: bool) -> dict[str, Any]:
    """`compression` as `format` allows it: Parquet's page codecs; for any other format
    (CSV also when `format` is absent or empty) what they all take, gzip."""
    parquet = {"required": ["format"], "properties": {"format": {"const": "parquet"}}}
    others = [FORMAT_COMPRESSIONS[fmt] for fmt in FORMATS if fmt != "parquet"]

    def allowed(named: list[str]) -> dict[str, Any]:
        enum = optional({"type": "string", "enum": [*named, ""]}, json=json)
        return {"properties": {"compression": enum}}

    return {
        "if": parquet,
        "then": allowed([c for c in FORMAT_COMPRESSIONS["parquet"] if c is not None]),
        "else": allowed([c for c in COMPRESSIONS if all(c in taken for taken in others)]),
    }


def _token_request() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "scope": {
                "type": "string",
                "example": SCOPE,
                "description": f"Space-separated scopes; the only one is `{SCOPE}`.",
            },
            "client_id": {
                "type": "string",
                "maxLength": 256,
                "description": "Instead of HTTP Basic, with `client_secret`.",
            },
            "client_secret": {
                "type": "string",
                "description": "Instead of HTTP Basic, with `client_id`.",
            },
        },
    }


def _item() -> dict[str, Any]:
    return obj(
        ["href", "size", "count", "state", "query"],
        {
            "href": {
                **URL,
                "type": ["string", "null"],
                "description": "Signed download link, signed afresh at every GET.",
            },
            "size": {**_NULLABLE_INT, "description": "Bytes."},
            "count": {**_NULLABLE_INT, "description": "Data rows."},
            "state": {"type": "string", "enum": ["pending", "running", "complete", "failed"]},
            "query": ref("Query"),
            "expires_at": {**DATE, "description": "pond: when `href` stops working."},
            "sha256": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "pond: SHA-256 of the part, hex.",
            },
            "format": {
                "type": "string",
                "enum": list(FORMATS),
                "description": "pond, with details: the part's file format.",
            },
            "columns": {
                "type": "array",
                "items": ref("Column"),
                "description": "pond, with details: the part's columns, in order, with types.",
            },
            "reason": {"type": "string", "description": "pond: why a failed export failed."},
            "rows_exported": {
                "type": "integer",
                "minimum": 0,
                "description": "pond, with details: rows written so far by a running export.",
            },
            "run": {
                "type": "integer",
                "minimum": 1,
                "description": "pond, with details: the run of the export (1 for the first"
                " attempt) that wrote the part, or that is running. A part seen while a run"
                " is in progress belongs to that run only.",
            },
        },
    )


def _column() -> dict[str, Any]:
    return obj(
        ["name", "type", "db_type"],
        {
            "name": {"type": "string", "example": "created_at"},
            "type": {
                "type": "string",
                "example": "timestamp[us, tz=UTC]",
                "description": "The Arrow type, as pyarrow names it: int16, int32, int64,"
                " float, double, bool, string, decimal128(P, S), date32[day], time64[us],"
                " timestamp[us], timestamp[us, tz=UTC]. Parquet parts hold exactly this type.",
            },
            "db_type": {
                "type": "string",
                "example": "timestamp with time zone",
                "description": "The column's PostgreSQL type (json and jsonb are JSON text).",
            },
        },
    )


def schemas() -> dict[str, Any]:
    """Every component schema, by name."""
    query = obj(
        ["entity", "created_at"],
        {
            "entity": {"type": "string", "example": "event"},
            "created_at": {"type": "array", "items": DATE, "minItems": 2, "maxItems": 2},
            "columns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "pond: only when the creation chose columns.",
            },
            "format": {
                "type": "string",
                "enum": [fmt for fmt in FORMATS if fmt != "csv"],
                "description": "pond: only when the creation asked for a format other than CSV.",
            },
            "compression": {
                "type": "string",
                "enum": list(COMPRESSIONS),
                "description": "pond: only when the creation asked for it.",
            },
        },
    )
    text = {"type": "string"}
    return {
        "Error": obj(["error", "error_description"], {"error": text, "error_description": text}),
        "Token": obj(
            ["access_token", "expires_in", "token_type"],
            {
                "access_token": {"type": "string", "description": "A JWT signed with RS256."},
                "expires_in": {"type": "integer", "minimum": 1, "example": 3600},
                "token_type": {"type": "string", "enum": ["Bearer"]},
            },
        ),
        "TokenRequest": _token_request(),
        "JWKS": obj(
            ["keys"],
            {
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["kty", "kid", "alg", "use", "n", "e"],
                        "properties": {
                            "kty": {"type": "string", "enum": ["RSA"]},
                            "alg": {"type": "string", "enum": ["RS256"]},
                            "use": {"type": "string", "enum": ["sig"]},
                        },
                    },
                    "description": "The signing key first, then any not yet retired.",
                }
            },
        ),
        "OpenIDConfiguration": obj(
            ["issuer", "token_endpoint", "jwks_uri"],
            dict.fromkeys(("issuer", "token_endpoint", "jwks_uri"), URL)
            | {
                name: {"type": "array", "items": text}
                for name in (
                    "grant_types_supported",
                    "token_endpoint_auth_methods_supported",
                    "scopes_supported",
                    "id_token_signing_alg_values_supported",
                    "response_types_supported",
                )
            },
        ),
        "Query": query,
        "Column": _column(),
        "Item": _item(),
        "Snapshot": obj(
            ["href", "items"],
            {
                "href": URL,
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "items": ref("Item"),
                    "description": "One item per part once the export is over. Before: one"
                    " pending or running item; with `details`, a running snapshot lists the"
                    " parts finished so far (complete items) and then its one running item.",
                },
            },
        ),
        "Accepted": obj(
            ["result", "snapshot"],
            {"result": {"type": "string", "enum": ["OK"]}, "snapshot": ref("Snapshot")},
        ),
        "SnapshotList": obj(
            ["items", "next"],
            {
                "items": {"type": "array", "items": ref("Snapshot")},
                "next": {
                    **URL,
                    "type": ["string", "null"],
                    "description": "The next page, or null.",
                },
            },
        ),
        "CreateSnapshot": _create_snapshot(json=True),
        "CreateSnapshotForm": _create_snapshot(json=False),
        "Health": obj(["status"], {"status": {"type": "string", "enum": ["ok", "ready"]}}),
    }

"""The schemas of the OpenAPI description: the JSON bodies pond answers with."""

from __future__ import annotations

from typing import Any

SCOPE = "pond/insights.snapshots"
DATE = {"type": "string", "format": "date-time", "example": "2019-03-13T18:00:00.000Z"}
_NULLABLE_INT = {"type": ["integer", "null"], "minimum": 0}


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
                "enum": ["parquet", "ndjson"],
                "description": "pond: only when the creation asked for a format other than CSV.",
            },
            "compression": {
                "type": "string",
                "enum": ["gzip", "zstd", "snappy", "none"],
                "description": "pond: only when the creation asked for it.",
            },
        },
    )
    column = obj(
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
    item = obj(
        ["href", "size", "count", "state", "query"],
        {
            "href": {
                "type": ["string", "null"],
                "description": "Signed download link, signed afresh at every GET.",
            },
            "size": {**_NULLABLE_INT, "description": "Bytes."},
            "count": {**_NULLABLE_INT, "description": "Data rows."},
            "state": {"type": "string", "enum": ["pending", "running", "complete", "failed"]},
            "query": ref("Query"),
            "expires_at": {**DATE, "description": "pond: when `href` stops working."},
            "sha256": {"type": "string", "description": "pond: SHA-256 of the part, hex."},
            "format": {
                "type": "string",
                "enum": ["csv", "parquet", "ndjson"],
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
                "description": "pond, with details: rows written so far by a running export.",
            },
            "run": {
                "type": "integer",
                "description": "pond, with details: the run of the export (1 for the first"
                " attempt) that wrote the part, or that is running. A part seen while a run"
                " is in progress belongs to that run only.",
            },
        },
    )
    create = {
        "type": "object",
        "required": ["created_at_from", "created_at_to"],
        "properties": {
            "created_at_from": {**DATE, "description": "Start of the range, included."},
            "created_at_to": {**DATE, "description": "End of the range, excluded."},
            "entity": {"type": "string", "default": "event"},
            "format": {
                "type": "string",
                "enum": ["csv", "parquet", "ndjson"],
                "default": "csv",
                "description": "pond: the file format: CSV with a header (`event_000`),"
                " Parquet typed from the entity's columns (`event_000.parquet`) or JSON Lines"
                " (`event_000.ndjson`).",
            },
            "compression": {
                "type": "string",
                "enum": ["gzip", "zstd", "snappy", "none"],
                "description": "pond: `gzip` for CSV and JSON Lines (objects then end in `.gz`);"
                " the page codec for Parquet: `zstd` (its default), `snappy` or `none`.",
            },
            "columns": {
                "type": ["string", "array"],
                "items": {"type": "string"},
                "example": "id,created_at,event_type",
                "description": "pond: the entity's columns to export, in this order"
                " (comma-separated, or a JSON array); all of them by default.",
            },
        },
    }
    return {
        "Error": obj(
            ["error", "error_description"],
            {"error": {"type": "string"}, "error_description": {"type": "string"}},
        ),
        "Token": obj(
            ["access_token", "expires_in", "token_type"],
            {
                "access_token": {"type": "string", "description": "A JWT signed with RS256."},
                "expires_in": {"type": "integer", "example": 3600},
                "token_type": {"type": "string", "enum": ["Bearer"]},
            },
        ),
        "TokenRequest": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "scope": {"type": "string", "example": SCOPE},
                "client_id": {"type": "string", "description": "Instead of HTTP Basic."},
                "client_secret": {"type": "string", "description": "Instead of HTTP Basic."},
            },
        },
        "JWKS": obj(["keys"], {"keys": {"type": "array", "items": {"type": "object"}}}),
        "OpenIDConfiguration": obj(
            ["issuer", "token_endpoint", "jwks_uri"],
            {name: {"type": "string"} for name in ("issuer", "token_endpoint", "jwks_uri")}
            | {
                name: {"type": "array", "items": {"type": "string"}}
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
        "Column": column,
        "Item": item,
        "Snapshot": obj(
            ["href", "items"],
            {"href": {"type": "string"}, "items": {"type": "array", "items": ref("Item")}},
        ),
        "Accepted": obj(
            ["result", "snapshot"],
            {"result": {"type": "string", "enum": ["OK"]}, "snapshot": ref("Snapshot")},
        ),
        "SnapshotList": obj(
            ["items", "next"],
            {
                "items": {"type": "array", "items": ref("Snapshot")},
                "next": {"type": ["string", "null"], "description": "The next page, or null."},
            },
        ),
        "CreateSnapshot": create,
        "Health": obj(["status"], {"status": {"type": "string"}}),
    }

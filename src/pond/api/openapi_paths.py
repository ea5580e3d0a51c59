"""The OpenAPI description of the routes around the snapshots: keys, downloads, events, health.

Merged with the token and snapshot routes by `pond.api.openapi_spec`.
"""

from __future__ import annotations

from typing import Any

from pond.api.openapi_responses import (
    DATABASE,
    RETRY_AFTER,
    UNAUTHENTICATED,
    body_limits,
    error,
    header,
    json_answer,
)
from pond.events.ingest import CSV_TYPES, NDJSON_TYPES
from pond.storage.local import CONTENT_TYPES, PART_NAME

_XML = {"application/xml": {"schema": {"type": "string"}}}


def _download() -> dict[str, Any]:
    """`GET /objects/...`: the signature is checked before anything else, so a link
    that is not one pond signed is always a 403."""
    stored = {
        "ETag": header("The part's version, for `If-Range`."),
        "Last-Modified": header("When the part was written."),
        "Content-Disposition": header("`attachment`, with the file name."),
        "Accept-Ranges": header("`bytes`."),
    }
    signed = [
        {
            "name": "KeyId",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": "The key that signed the link.",
        },
        {
            "name": "Expires",
            "in": "query",
            "required": True,
            "schema": {"type": "integer"},
            "description": "Unix time after which the link answers 403.",
        },
        {
            "name": "Signature",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": "HMAC-SHA256 of the method, the object and the expiry, base64url.",
        },
    ]
    ranges = [
        {
            "name": "Range",
            "in": "header",
            "schema": {"type": "string"},
            "description": "`bytes=N-` resumes a download (one or a few ranges).",
        },
        {
            "name": "If-Range",
            "in": "header",
            "schema": {"type": "string"},
            "description": "An `ETag`: the range is served only if the part is unchanged.",
        },
    ]
    return {
        "parameters": [
            {
                "name": "snapshot_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            },
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": f"^{PART_NAME}$"},
            },
        ],
        "get": {
            "operationId": "downloadPart",
            "summary": "Download a part through its signed link (no token; HEAD too)",
            "parameters": [*signed, *ranges],
            "responses": {
                "200": {
                    "description": "The part: CSV, Parquet, JSON Lines, or gzip for a"
                    " compressed CSV or JSON Lines part.",
                    "headers": {**stored, "Content-Length": header("Bytes.", "integer")},
                    "content": {media_type: {} for media_type in CONTENT_TYPES.values()},
                },
                "206": {
                    "description": "The `Range` asked for.",
                    "headers": {**stored, "Content-Range": header("The bytes sent.")},
                },
                "400": {
                    "description": "S3-style XML: a `Range` header that is not valid.",
                    "content": _XML,
                },
                "403": {
                    "description": "S3-style XML: an expired or altered link.",
                    "content": _XML,
                },
                "404": {"description": "S3-style XML: the file is gone.", "content": _XML},
                "416": {
                    "description": "S3-style XML: a range beyond the end.",
                    "headers": {"Content-Range": header("`bytes */<size>`.")},
                    "content": _XML,
                },
            },
        },
    }


def _events() -> dict[str, Any]:
    text = {"schema": {"type": "string"}}
    return {
        "post": {
            "operationId": "loadEvents",
            "summary": "Load a batch of the caller's own events, all or nothing (pond)",
            "description": "CSV in the export's format, a header line first; or NDJSON,"
            " one JSON object a line with keys among the export's columns. `created_at`"
            " (with a time zone) and `event_type` are required in every row; at most"
            " 100000 rows. Any bad row refuses the whole batch (400, naming the line).",
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": dict.fromkeys((*CSV_TYPES, *NDJSON_TYPES), text),
            },
            "responses": {
                "201": {
                    "description": "Loaded.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["result", "count"],
                                "additionalProperties": False,
                                "properties": {
                                    "result": {"type": "string", "enum": ["OK"]},
                                    "count": {"type": "integer", "minimum": 0},
                                },
                            }
                        }
                    },
                },
                "400": error(
                    "`import_rejected` (naming the line), `missing_content_type` or"
                    " `invalid_request`."
                ),
                **UNAUTHENTICATED,
                **body_limits("10 MiB", "CSV or NDJSON"),
                **DATABASE,
            },
        }
    }


def paths() -> dict[str, Any]:
    """The key documents, the signed downloads, event loading, metrics and health."""
    health = {"200": json_answer("Up.", "Health")}
    return {
        "/.well-known/jwks.json": {
            "get": {
                "operationId": "jwks",
                "summary": "The public keys that verify access tokens",
                "description": "Every token key not retired, the one that signs first: after"
                " a rotation (`pond keys rotate`) the previous key stays listed until the"
                " tokens it signed have expired. A verifier that meets a `kid` it does not"
                " know fetches this again.",
                "responses": {
                    "200": json_answer(
                        "A JSON Web Key Set.",
                        "JWKS",
                        {"Cache-Control": header("`max-age=300`: cached for up to 5 minutes.")},
                    )
                },
            }
        },
        "/.well-known/openid-configuration": {
            "get": {
                "operationId": "openidConfiguration",
                "summary": "Discovery: the issuer, token endpoint and keys",
                "responses": {"200": json_answer("The configuration.", "OpenIDConfiguration")},
            }
        },
        "/objects/{snapshot_id}/{name}": _download(),
        "/insights/events": _events(),
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (no token: keep it on the internal network)",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {}},
                    },
                    **DATABASE,
                },
            }
        },
        "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness", "responses": health}},
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: the database and the object store answer too",
                "responses": {
                    **health,
                    "503": error(
                        "`service_unavailable`: the database cannot be reached;"
                        " `storage_unavailable`: the object store cannot be used (the"
                        " description says why). Retry.",
                        RETRY_AFTER,
                    ),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This description",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1, JSON.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "This description as a web page",
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
            }
        },
    }

"""The OpenAPI 3.1 description of pond's HTTP API, built for one base URL.

Kept by hand next to docs/api.md; `tests/integration/test_openapi.py` checks it
against the live answers, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from pond.api.openapi_schemas import DATE, SCOPE, ref, schemas
from pond.snapshots.listing import DEFAULT_LIMIT, MAX_LIMIT, STATES
from pond.snapshots.waiting import MAX_WAIT
from pond.webhooks import openapi as webhook_openapi


def _json(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref(schema)}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def _error(description: str) -> dict[str, Any]:
    return _json(description, "Error")


def _header(description: str, kind: str = "string", *, required: bool = True) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": kind}}


_RETRY_AFTER = {"Retry-After": _header("Seconds to wait before trying again.", "integer")}
_BEARER_ERRORS = {
    "401": _error("`invalid_token`: no, a bad, an expired or a revoked token."),
    "403": _error("`insufficient_scope`: the token lacks `pond/insights.snapshots`."),
    "429": _json("`rate_limited`: over the client's rate limit.", "Error", _RETRY_AFTER),
}
# Every route that reads a body: a body that trickles in is cut off (pond.api.timeouts).
_SLOW_BODY = {
    "408": _error("`request_timeout`: the body did not arrive within `POND_BODY_TIMEOUT` seconds.")
}
_SNAPSHOT_ID = {
    "name": "snapshot_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}


def _snapshot_paths() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    form = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": ref("CreateSnapshot")},
            "application/json": {"schema": ref("CreateSnapshot")},
        },
    }
    listing_params = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "description": f"Snapshots per page (default {DEFAULT_LIMIT}).",
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string"},
            "description": "Opaque; use the `next` URL of the previous page as is.",
        },
        {
            "name": "state",
            "in": "query",
            "schema": {"type": "string"},
            "description": f"One or more of {', '.join(STATES)}, comma-separated.",
        },
        {"name": "created_after", "in": "query", "schema": DATE, "description": "Included."},
        {"name": "created_before", "in": "query", "schema": DATE, "description": "Excluded."},
    ]
    retry = {
        "Retry-After": _header(
            "`1` while the snapshot is pending or running.", "integer", required=False
        )
    }
    return {
        "/insights/snapshots": {
            "post": {
                "summary": "Schedule a snapshot",
                "security": bearer,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "pond: the same key and request within 24 h return"
                        " the same snapshot; another request with the key is a 409.",
                    }
                ],
                "requestBody": form,
                "responses": {
                    "202": _json(
                        "Accepted: the documented body, a pending item.",
                        "Accepted",
                        {"Location": _header("The snapshot's href.")},
                    ),
                    "400": _error(
                        "`missing_content_type`, `invalid_request` (including an unknown"
                        " column, format or compression), `invalid_date_range`, `unknown_entity`."
                    ),
                    **_BEARER_ERRORS,
                    **_SLOW_BODY,
                    "409": _error("`idempotency_conflict`: the key was used for another request."),
                    "429": _json(
                        "`rate_limited`, or `too_many_snapshots`: the organisation's cap on"
                        " pending and running snapshots.",
                        "Error",
                        _RETRY_AFTER,
                    ),
                },
            },
            "get": {
                "summary": "List the organisation's snapshots, newest first (pond)",
                "security": bearer,
                "parameters": listing_params,
                "responses": {
                    "200": _json("A page of snapshots as GET answers them.", "SnapshotList"),
                    "400": _error(
                        "`invalid_request`: a bad parameter or cursor; `invalid_date_range`."
                    ),
                    **_BEARER_ERRORS,
                },
            },
        },
        "/insights/snapshots/{snapshot_id}": {
            "parameters": [_SNAPSHOT_ID],
            "get": {
                "summary": "Show a snapshot; complete items carry signed links",
                "security": bearer,
                "parameters": [
                    {
                        "name": "wait",
                        "in": "query",
                        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WAIT},
                        "description": "pond: answer as soon as the snapshot is no longer"
                        " pending or running, or after this many seconds; with `details`,"
                        " also as soon as the parts it lists or its run change.",
                    },
                    {
                        "name": "details",
                        "in": "query",
                        "schema": {"type": "boolean"},
                        "description": "pond: add `expires_at`, `sha256`, `run`, `format` and"
                        " the typed `columns` to complete items, and list the parts of a running"
                        " export finished so far (without it the answer is exactly the"
                        " documented one).",
                    },
                ],
                "responses": {
                    "200": _json("The snapshot.", "Snapshot", retry),
                    "400": _error("`invalid_request`: a bad `wait` or `details`."),
                    **_BEARER_ERRORS,
                    "404": _error(
                        "`snapshot_not_found`: unknown, another organisation's, deleted."
                    ),
                    "410": _error("`snapshot_expired`: past its retention."),
                },
            },
            "delete": {
                "summary": "Cancel a snapshot's export and delete its files (pond)",
                "security": bearer,
                "responses": {
                    "204": {"description": "Deleted; the snapshot answers 404 from now on."},
                    **_BEARER_ERRORS,
                    "404": _error(
                        "`snapshot_not_found`: unknown, another organisation's, deleted."
                    ),
                },
            },
        },
    }


def _other_paths() -> dict[str, Any]:
    health = {
        "200": _json("Up.", "Health"),
        "503": _error("`service_unavailable`: the database cannot be reached."),
    }
    ready = {
        **health,
        "503": _error(
            "`service_unavailable`: the database cannot be reached; `storage_unavailable`:"
            " the object store cannot be used (the description says why)."
        ),
    }
    return {
        "/oauth2/token": {
            "post": {
                "summary": "Trade client credentials for an access token (Cognito-compatible)",
                "security": [{"basic": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": ref("TokenRequest")}
                    },
                },
                "responses": {
                    "200": _json("The token.", "Token", {"Cache-Control": _header("`no-store`.")}),
                    "400": _error(
                        "RFC 6749: `invalid_request`, `invalid_client`, `invalid_scope`,"
                        " `unsupported_grant_type`."
                    ),
                    **_SLOW_BODY,
                },
            }
        },
        "/.well-known/jwks.json": {
            "get": {
                "summary": "The public keys that verify access tokens",
                "responses": {"200": _json("A JSON Web Key Set.", "JWKS")},
            }
        },
        "/.well-known/openid-configuration": {
            "get": {
                "summary": "Discovery: the issuer, token endpoint and keys",
                "responses": {"200": _json("The configuration.", "OpenIDConfiguration")},
            }
        },
        "/objects/{snapshot_id}/{name}": {
            "parameters": [
                _SNAPSHOT_ID,
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "get": {
                "summary": "Download a part through its signed link (no token; HEAD too)",
                "parameters": [
                    {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
                    for n in ("KeyId", "Expires", "Signature")
                ],
                "responses": {
                    "200": {"description": "The CSV.", "content": {"text/csv": {}}},
                    "206": {"description": "The `Range` asked for."},
                    "403": {"description": "S3-style XML: an expired or altered link."},
                    "404": {"description": "S3-style XML: the file is gone."},
                    "416": {"description": "A range beyond the end."},
                },
            },
        },
        "/insights/events": {
            "post": {
                "summary": "Load a batch of the caller's own events, all or nothing (pond)",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "201": {
                        "description": "Loaded.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["result", "count"],
                                    "properties": {
                                        "result": {"type": "string"},
                                        "count": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("`import_rejected` (naming the line) or `invalid_request`."),
                    "401": _BEARER_ERRORS["401"],
                    "403": _BEARER_ERRORS["403"],
                    "413": _error("`request_too_large`: over 10 MiB."),
                    **_SLOW_BODY,
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (no token: keep it on the internal network)",
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {}},
                    }
                },
            }
        },
        "/healthz": {"get": {"summary": "Liveness", "responses": health}},
        "/readyz": {
            "get": {
                "summary": "Readiness: the database and the object store answer too",
                "responses": ready,
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This description",
                "responses": {"200": {"description": "OpenAPI 3.1, JSON."}},
            }
        },
        "/docs": {
            "get": {
                "summary": "This description as a web page",
                "responses": {"200": {"description": "HTML.", "content": {"text/html": {}}}},
            }
        },
    }


def build(base_url: str) -> dict[str, Any]:
    """The whole OpenAPI document, with `base_url` as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pond: POND Snapshots API",
            "version": "1",
            "description": "Asynchronous, date-ranged CSV exports behind OAuth2 client"
            " credentials. Everything marked pond is an extension documented clients ignore."
            ' Every JSON error is `{"error", "error_description"}`.',
        },
        "servers": [{"url": base_url}],
        "paths": {**_other_paths(), **_snapshot_paths(), **webhook_openapi.paths()},
        "components": {
            "schemas": {**schemas(), **webhook_openapi.schemas()},
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "client_id:secret"},
                "bearer": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": f"{base_url}/oauth2/token",
                            "scopes": {SCOPE: "Schedule, list, read and delete snapshots."},
                        }
                    },
                },
            },
        },
    }

"""The OpenAPI 3.1 description of pond's HTTP API, built for one base URL.

Kept by hand next to docs/api.md; `tests/integration/test_openapi.py` checks it
against the live answers, and `tests/integration/test_fuzz.py` sends it every
request it allows, so the two cannot drift apart unnoticed. Every status a
route can answer is listed (`pond.api.openapi_responses`), except a 405 for a
method the path does not serve (its `Allow` header lists those it does) and a
500 for a fault inside pond.
"""

from __future__ import annotations

from typing import Any

from pond.api import openapi_paths
from pond.api.openapi_responses import (
    BEARER,
    DATABASE,
    NO_STORE,
    RETRY_AFTER,
    SLOW_BODY,
    body_limits,
    error,
    header,
    json_answer,
)
from pond.api.openapi_schemas import DATE_PARAM, SCOPE, one_of_list, ref, schemas
from pond.snapshots.idempotency import KEY_PATTERN
from pond.snapshots.listing import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, STATES
from pond.snapshots.waiting import MAX_WAIT
from pond.webhooks import openapi as webhook_openapi

_SNAPSHOT_ID = {
    "name": "snapshot_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_NOT_FOUND = {"404": error("`snapshot_not_found`: unknown, another organisation's, deleted.")}
# Links let a client (and a fuzzer) go from a snapshot's href to its operations:
# the id is the href's last segment.
_ID_OF_HREF = "#regex:/insights/snapshots/([^/?#]+)$"


def _links(href: str) -> dict[str, Any]:
    """Links from an answer holding a snapshot's href at the JSON pointer `href`.

    `#regex:` (a group that picks the id out of the href) is read by schemathesis;
    other tools see an expression they cannot resolve, and skip the link.
    """
    expression = f"$response.body#{href}{_ID_OF_HREF}"
    return {
        "GetSnapshot": {
            "operationId": "getSnapshot",
            "parameters": {"snapshot_id": expression},
        },
        "DeleteSnapshot": {
            "operationId": "deleteSnapshot",
            "parameters": {"snapshot_id": expression},
        },
    }


def _listing_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "description": f"Snapshots per page (default {DEFAULT_LIMIT}).",
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string", "pattern": CURSOR_PATTERN},
            "description": "Opaque; use the `next` URL of the previous page as is.",
        },
        {
            "name": "state",
            "in": "query",
            "schema": {"type": "string", "pattern": one_of_list(STATES)},
            "description": f"One or more of {', '.join(STATES)}, comma-separated.",
        },
        {
            "name": "created_after",
            "in": "query",
            "schema": DATE_PARAM,
            "description": "Created at or after this instant.",
        },
        {
            "name": "created_before",
            "in": "query",
            "schema": DATE_PARAM,
            "description": "Created before this instant.",
        },
    ]


def _create() -> dict[str, Any]:
    form = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": ref("CreateSnapshotForm")},
            "application/json": {"schema": ref("CreateSnapshot")},
        },
    }
    return {
        "operationId": "createSnapshot",
        "summary": "Schedule a snapshot",
        "security": [{"bearer": []}],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "schema": {"type": "string", "pattern": KEY_PATTERN},
                "description": "pond: the same key and request within 24 h return"
                " the same snapshot; another request with the key is a 409. 1 to 255"
                " printable ASCII characters.",
            }
        ],
        "requestBody": form,
        "responses": {
            "202": {
                **json_answer(
                    "Accepted: the documented body, a pending item.",
                    "Accepted",
                    {
                        "Location": header("The snapshot's href."),
                        "Idempotent-Replayed": header(
                            "`true` when an Idempotency-Key returned an earlier snapshot.",
                            required=False,
                        ),
                    },
                ),
                "links": _links("/snapshot/href"),
            },
            "400": error(
                "`missing_content_type`, `invalid_request` (an unknown column, format or"
                " compression; a bad Idempotency-Key), `invalid_date_range`"
                " (a date that is missing, not ISO 8601, without a time zone, out of range,"
                " or a range not in order), `unknown_entity`."
            ),
            **BEARER,
            **body_limits("64 KiB", "a form or JSON"),
            "409": error("`idempotency_conflict`: the key was used for another request."),
            "429": error(
                "`rate_limited`, or `too_many_snapshots`: the organisation's cap on"
                " pending and running snapshots.",
                RETRY_AFTER,
            ),
            **DATABASE,
        },
    }


def _snapshot_paths() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    retry = {
        "Retry-After": header(
            "`1` while the snapshot is pending or running.", "integer", required=False
        ),
        **NO_STORE,
    }
    return {
        "/insights/snapshots": {
            "post": _create(),
            "get": {
                "operationId": "listSnapshots",
                "summary": "List the organisation's snapshots, newest first (pond)",
                "description": "Parameters not listed here are refused (400).",
                "security": bearer,
                "parameters": _listing_parameters(),
                "responses": {
                    "200": json_answer("A page of snapshots as GET answers them.", "SnapshotList"),
                    "400": error(
                        "`invalid_request`: an unknown or bad parameter, or a bad cursor;"
                        " `invalid_date_range`: a bad `created_after` or `created_before`."
                    ),
                    **BEARER,
                    **DATABASE,
                },
            },
        },
        "/insights/snapshots/{snapshot_id}": {
            "parameters": [_SNAPSHOT_ID],
            "get": {
                "operationId": "getSnapshot",
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
                        " export finished so far before its running item, which carries"
                        " `rows_exported` and `run` (without it the answer is exactly the"
                        " documented one).",
                    },
                ],
                "responses": {
                    "200": json_answer("The snapshot.", "Snapshot", retry),
                    "400": error("`invalid_request`: a bad `wait` or `details`."),
                    **BEARER,
                    **_NOT_FOUND,
                    "410": error("`snapshot_expired`: past its retention."),
                    **DATABASE,
                },
            },
            "delete": {
                "operationId": "deleteSnapshot",
                "summary": "Cancel a snapshot's export and delete its files (pond)",
                "security": bearer,
                "responses": {
                    "204": {"description": "Deleted; the snapshot answers 404 from now on."},
                    **BEARER,
                    **_NOT_FOUND,
                    **DATABASE,
                },
            },
        },
    }


def _token() -> dict[str, Any]:
    return {
        "post": {
            "operationId": "token",
            "summary": "Trade client credentials for an access token (Cognito-compatible)",
            "description": "Client authentication by HTTP Basic or by the form fields"
            " `client_id` and `client_secret`, not both.",
            "security": [{"basic": []}, {}],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": ref("TokenRequest")}},
            },
            "responses": {
                "200": json_answer(
                    "The token.",
                    "Token",
                    {"Cache-Control": header("`no-store`."), "Pragma": header("`no-cache`.")},
                ),
                "400": error(
                    "RFC 6749: `invalid_request` (including a body that is not a form),"
                    " `invalid_client`, `invalid_scope`, `unsupported_grant_type`."
                ),
                **SLOW_BODY,
                "413": error("`request_too_large`: the body is over 64 KiB."),
                "429": error(
                    "`too_many_requests`: too many failed attempts from this address or"
                    " for this client id (`POND_TOKEN_FAILURE_LIMIT`).",
                    RETRY_AFTER,
                ),
                **DATABASE,
            },
        }
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
            ' Every JSON error is `{"error", "error_description"}`. A method a path does not'
            " serve answers 405 with an `Allow` header; a request head that does not arrive"
            " within `POND_HEADER_TIMEOUT` seconds answers 408.",
        },
        "servers": [{"url": base_url}],
        "paths": {
            "/oauth2/token": _token(),
            **openapi_paths.paths(),
            **_snapshot_paths(),
            **webhook_openapi.paths(),
        },
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

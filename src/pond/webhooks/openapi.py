"""The webhook part of the OpenAPI description (merged in by `pond.api.openapi_spec`)."""

from __future__ import annotations

from typing import Any

from pond.api.openapi_responses import BEARER, DATABASE, NO_STORE, body_limits, error, json_answer
from pond.api.openapi_schemas import DATE, obj, one_of_list, optional, ref
from pond.webhooks.egress import MAX_URL
from pond.webhooks.router import MAX_BODY
from pond.webhooks.service import EVENT_TYPES, MAX_ENDPOINTS_PER_ORG, URL_PATTERN


def schemas() -> dict[str, Any]:
    """The webhook component schemas, by name."""
    events = {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": list(EVENT_TYPES)},
    }
    common = {
        "id": {"type": "string", "format": "uuid"},
        "url": {"type": "string", "example": "https://example.com/pond-hook"},
        "events": events,
        "created_at": DATE,
    }
    return {
        "Webhook": obj(["id", "url", "events", "created_at"], common),
        "NewWebhook": obj(
            ["id", "url", "events", "created_at", "secret"],
            {
                **common,
                "secret": {
                    "type": "string",
                    "pattern": "^whsec_",
                    "description": "`whsec_` + base64 signing key; shown only in this answer.",
                },
            },
        ),
        "WebhookList": obj(["items"], {"items": {"type": "array", "items": ref("Webhook")}}),
        "CreateWebhook": _create(json=True),
        "CreateWebhookForm": _create(json=False),
    }


def _create(*, json: bool) -> dict[str, Any]:
    """The body of a registration, as a JSON object or as a form (values are text)."""
    events: dict[str, Any] = {
        "type": "string",
        "pattern": one_of_list(EVENT_TYPES, empty=True),
        "description": "Event types, comma-separated"
        + (" or a list" if json else "")
        + "; all of them when absent or empty.",
    }
    if json:
        events |= {
            "type": ["array", "string"],
            "minItems": 1,
            "items": {"type": "string", "enum": list(EVENT_TYPES)},
        }
    return {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_URL,
                "pattern": URL_PATTERN,
                "example": "https://example.com/pond-hook",
                "description": "An absolute URL of printable ASCII, no credentials, no"
                " #fragment. It must reach a public address over https; plain http, and"
                " private, loopback or link-local addresses, only inside the operator's"
                " `POND_WEBHOOK_ALLOW_CIDRS`. Names of this machine (`localhost`) and of"
                " cloud metadata services are refused. A URL of this pattern that breaks"
                " these rules is a 400 `invalid_webhook_url`.",
            },
            "events": optional(events, json=json),
        },
    }


def paths() -> dict[str, Any]:
    """The webhook routes."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    body = {
        "application/json": {"schema": ref("CreateWebhook")},
        "application/x-www-form-urlencoded": {"schema": ref("CreateWebhookForm")},
    }

    delete_link = {
        "DeleteWebhook": {
            "operationId": "deleteWebhook",
            "parameters": {"webhook_id": "$response.body#/id"},
        }
    }

    return {
        "/insights/webhooks": {
            "post": {
                "operationId": "createWebhook",
                "summary": "pond: register a webhook endpoint for the organisation",
                "security": bearer,
                "requestBody": {"required": True, "content": body},
                "responses": {
                    "201": {
                        **json_answer(
                            "The endpoint, with its secret (shown once).", "NewWebhook", NO_STORE
                        ),
                        "links": delete_link,
                    },
                    "400": error(
                        "`invalid_webhook_url` (not of the pattern, not https, or an address"
                        " or name webhooks may not reach: loopback, private, link-local,"
                        " metadata, ...), `invalid_request` (bad events), `missing_content_type`."
                    ),
                    **BEARER,
                    **body_limits(f"{MAX_BODY // 1024} KiB", "a form or JSON"),
                    "409": error(
                        f"`too_many_webhooks`: the organisation has {MAX_ENDPOINTS_PER_ORG}"
                        " endpoints already; remove one first."
                    ),
                    **DATABASE,
                },
            },
            "get": {
                "operationId": "listWebhooks",
                "summary": "pond: the organisation's webhook endpoints (without secrets)",
                "security": bearer,
                "responses": {
                    "200": json_answer("The endpoints.", "WebhookList"),
                    **BEARER,
                    **DATABASE,
                },
            },
        },
        "/insights/webhooks/{webhook_id}": {
            "parameters": [
                {
                    "name": "webhook_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            ],
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "pond: remove a webhook endpoint; no more events go to it",
                "security": bearer,
                "responses": {
                    "204": {"description": "Removed."},
                    "404": error(
                        "`webhook_not_found`: unknown, removed, or another organisation's."
                    ),
                    **BEARER,
                    **DATABASE,
                },
            },
        },
    }

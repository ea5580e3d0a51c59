"""The webhook part of the OpenAPI description (merged in by `pond.api.openapi_spec`)."""

from __future__ import annotations

from typing import Any

from pond.api.openapi_schemas import DATE, obj, ref
from pond.webhooks.service import EVENT_TYPES


def _json(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


_BEARER_ERRORS = {
    "401": _json("`invalid_token`: no, a bad, an expired or a revoked token.", "Error"),
    "403": _json("`insufficient_scope`: the token lacks `pond/insights.snapshots`.", "Error"),
    "429": _json("`rate_limited`: over the client's rate limit.", "Error"),
}


def schemas() -> dict[str, Any]:
    """The webhook component schemas, by name."""
    events = {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}}
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
                    "description": "`whsec_` + base64 signing key; shown only in this answer.",
                },
            },
        ),
        "WebhookList": obj(["items"], {"items": {"type": "array", "items": ref("Webhook")}}),
        "CreateWebhook": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {
                    "type": "string",
                    "description": "https URL of a public host (http only to the operator's"
                    " POND_WEBHOOK_ALLOW_CIDRS).",
                },
                "events": {
                    "description": "Event types; all by default. A list, or comma-separated.",
                    "oneOf": [events, {"type": "string"}],
                },
            },
        },
    }


def paths() -> dict[str, Any]:
    """The webhook routes."""
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    body = {"application/json": {"schema": ref("CreateWebhook")}}
    body["application/x-www-form-urlencoded"] = {"schema": ref("CreateWebhook")}
    return {
        "/insights/webhooks": {
            "post": {
                "summary": "pond: register a webhook endpoint for the organisation",
                "security": bearer,
                "requestBody": {"required": True, "content": body},
                "responses": {
                    "201": _json("The endpoint, with its secret (shown once).", "NewWebhook"),
                    "400": _json(
                        "`invalid_webhook_url` (not https, or an address or name webhooks may"
                        " not reach: loopback, private, link-local, metadata, ...),"
                        " `invalid_request`, `missing_content_type`.",
                        "Error",
                    ),
                    **_BEARER_ERRORS,
                    "408": _json(
                        "`request_timeout`: the body did not arrive within"
                        " `POND_BODY_TIMEOUT` seconds.",
                        "Error",
                    ),
                },
            },
            "get": {
                "summary": "pond: the organisation's webhook endpoints (without secrets)",
                "security": bearer,
                "responses": {"200": _json("The endpoints.", "WebhookList"), **_BEARER_ERRORS},
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
                "summary": "pond: remove a webhook endpoint; no more events go to it",
                "security": bearer,
                "responses": {
                    "204": {"description": "Removed."},
                    "404": _json(
                        "`webhook_not_found`: unknown, removed, or another organisation's.",
                        "Error",
                    ),
                    **_BEARER_ERRORS,
                },
            },
        },
    }

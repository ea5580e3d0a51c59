"""What a webhook request means: validate, register, list and remove endpoints."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pond.errors import InputError, InvalidWebhookUrl, TooManyWebhooks, WebhookNotFound
from pond.snapshots.dates import format_instant
from pond.webhooks import repository, signing
from pond.webhooks.repository import Conn, EndpointRecord

EVENT_TYPES = ("snapshot.completed", "snapshot.failed")
MAX_ENDPOINTS_PER_ORG = 10
MAX_URL = 2048
_LABEL = "[A-Za-z0-9-]+"
_PORT = "6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}"
# The whole rule for a webhook URL, as the OpenAPI description states it: https to a
# host name or IPv4 address, or plain http to this machine; a port from 0 to 65535;
# a path and query of printable ASCII; no credentials, no fragment, no spaces.
URL_PATTERN = (
    rf"^(https://{_LABEL}(\.{_LABEL})*|http://(localhost|127\.0\.0\.1|\[::1\]))"
    rf"(:({_PORT}))?([/?][\x21\x22\x24-\x7e]*)?$"
)
_URL = re.compile(URL_PATTERN)


@dataclass(frozen=True)
class Registered:
    """A new endpoint and its secret, which is shown this once."""

    endpoint: EndpointRecord
    secret: str


def _refusal(url: str) -> InvalidWebhookUrl:
    """Why `url` does not fit `URL_PATTERN`, as plainly as can be told."""
    example = "for example https://example.com/hook"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return InvalidWebhookUrl(f"url {url!r} is not a valid URL", hint=example)
    if parts.username is not None or parts.password is not None:
        return InvalidWebhookUrl("url must not carry credentials; verify the signature instead")
    if parts.fragment or "#" in url:
        return InvalidWebhookUrl("url must not have a #fragment")
    if parts.scheme == "http" and parts.hostname:
        return InvalidWebhookUrl(
            f"url {url!r} must use https (plain http is accepted only to localhost,"
            " 127.0.0.1 or [::1])"
        )
    return InvalidWebhookUrl(
        f"url {url!r} is not an absolute https URL of printable ASCII characters", hint=example
    )


def check_url(url: object) -> str:
    """`url` if pond may POST events to it, else `InvalidWebhookUrl` saying why.

    https everywhere; plain http only to this machine (tests, a local receiver).
    """
    if not isinstance(url, str) or not url:
        raise InvalidWebhookUrl("url is required: the https URL that receives the events")
    if len(url) > MAX_URL:
        raise InvalidWebhookUrl(f"url is longer than {MAX_URL} characters")
    if not _URL.fullmatch(url):
        raise _refusal(url)
    return url


def parse_events(value: object) -> list[str]:
    """The event types asked for (a list, or comma-separated text); all of them by default."""
    if value is None or value == "":
        return list(EVENT_TYPES)
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InputError("events must be a list of event types or comma-separated text")
    chosen = [i.strip() for i in items if i.strip()]
    unknown = sorted(set(chosen) - set(EVENT_TYPES))
    if unknown or not chosen:
        raise InputError(
            f"unknown event type {', '.join(unknown) or '(none)'}",
            hint=f"choose among {', '.join(EVENT_TYPES)}",
        )
    return [t for t in EVENT_TYPES if t in chosen]


async def register(conn: Conn, org_id: int, params: dict[str, Any]) -> Registered:
    """Validate `url` (and `events`) and store a new endpoint with a fresh secret.

    Raises `InvalidWebhookUrl`, `InputError` for bad events, `TooManyWebhooks`
    when the organisation already has `MAX_ENDPOINTS_PER_ORG` endpoints.
    """
    url = check_url(params.get("url"))
    events = parse_events(params.get("events"))
    async with conn.transaction():
        # One organisation at a time, so two registrations cannot both pass the cap.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (org_id,))
        if await repository.count_active(conn, org_id) >= MAX_ENDPOINTS_PER_ORG:
            raise TooManyWebhooks(
                f"your organisation already has {MAX_ENDPOINTS_PER_ORG} webhook endpoints",
                hint="remove one first",
            )
        secret = signing.new_secret()
        endpoint = await repository.insert(
            conn, endpoint_id=uuid.uuid4(), org_id=org_id, url=url, secret=secret, events=events
        )
    return Registered(endpoint, secret)


def parse_id(endpoint_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(endpoint_id)
    except ValueError:
        raise WebhookNotFound(f"no such webhook {endpoint_id!r}") from None


async def remove(conn: Conn, endpoint_id: str, org_id: int | None = None) -> None:
    """Stop sending events to the endpoint; `WebhookNotFound` if it is unknown or not yours."""
    if not await repository.disable(conn, parse_id(endpoint_id), org_id):
        raise WebhookNotFound(f"no such webhook {endpoint_id!r}")


def render(endpoint: EndpointRecord, *, secret: str | None = None) -> dict[str, Any]:
    """The wire object of an endpoint; the secret only when just created."""
    body: dict[str, Any] = {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "events": list(endpoint.events),
        "created_at": format_instant(endpoint.created_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body

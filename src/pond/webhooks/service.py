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
from pond.webhooks.egress import MAX_URL, Egress
from pond.webhooks.repository import Conn, EndpointRecord

EVENT_TYPES = ("snapshot.completed", "snapshot.failed")
MAX_ENDPOINTS_PER_ORG = 10
_LABEL = "[A-Za-z0-9_-]+"
_HOST = rf"({_LABEL}(\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])"
_PORT = "6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}"
# The form of a webhook URL, as the OpenAPI description states it: https or http to a
# host name, an IPv4 address or a bracketed IPv6 one; a port from 0 to 65535; a path
# and query of printable ASCII; no credentials, no fragment, no spaces. Where the URL
# may reach (public addresses over https; plain http only to the operator's
# POND_WEBHOOK_ALLOW_CIDRS) is the egress policy's to say, after this check.
URL_PATTERN = rf"^https?://{_HOST}(:({_PORT}))?([/?][\x21\x22\x24-\x7e]*)?$"
_URL = re.compile(URL_PATTERN)


@dataclass(frozen=True)
class NewEndpoint:
    """A checked request for an endpoint: its URL and event types."""

    url: str
    events: list[str]


@dataclass(frozen=True)
class Registered:
    """A new endpoint and its secret, which is shown this once."""

    endpoint: EndpointRecord
    secret: str


def _refusal(url: str) -> InvalidWebhookUrl:
    """Why `url` does not fit `URL_PATTERN`, as plainly as can be told."""
    example = "for example https://example.com/hook"
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return InvalidWebhookUrl(
            f"url {url!r} contains spaces or control characters", hint="percent-encode them"
        )
    if not url.isascii():
        return InvalidWebhookUrl(
            f"url {url!r} is not printable ASCII",
            hint="percent-encode the path and write an internationalised host name in its"
            " xn-- (punycode) form",
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        return InvalidWebhookUrl(f"url {url!r} is not a valid URL", hint=example)
    if parts.username is not None or parts.password is not None:
        return InvalidWebhookUrl("url must not carry credentials; verify the signature instead")
    if parts.fragment or "#" in url:
        return InvalidWebhookUrl("url must not have a #fragment")
    return InvalidWebhookUrl(f"url {url!r} is not an absolute https URL", hint=example)


def check_url(url: object) -> str:
    """`url` if it has the form `URL_PATTERN` states, else `InvalidWebhookUrl` saying why.

    Only the form, with no I/O: where the URL may reach is checked next, by the
    egress policy (`validate`).
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


async def validate(params: dict[str, Any], egress: Egress) -> NewEndpoint:
    """The endpoint asked for by `url` and `events`, checked.

    `check_url` checks its form first, with no I/O; then `egress` decides where it
    may reach (see `pond.webhooks.egress`). Its look-up of the host name takes up
    to a few seconds, so call this before taking a database connection. Raises
    `InvalidWebhookUrl` for a URL that is malformed or reaches a refused address,
    `InputError` for bad events.
    """
    url = (await egress.check(check_url(params.get("url")))).url
    return NewEndpoint(url, parse_events(params.get("events")))


async def register(conn: Conn, org_id: int, new: NewEndpoint) -> Registered:
    """Store a new endpoint with a fresh secret.

    Raises `TooManyWebhooks` when the organisation already has
    `MAX_ENDPOINTS_PER_ORG` endpoints.
    """
    async with conn.transaction():
        if await repository.count_active(conn, org_id) >= MAX_ENDPOINTS_PER_ORG:
            raise TooManyWebhooks(
                f"your organisation already has {MAX_ENDPOINTS_PER_ORG} webhook endpoints",
                hint="remove one first",
            )
        secret = signing.new_secret()
        endpoint = await repository.insert(
            conn,
            endpoint_id=uuid.uuid4(),
            org_id=org_id,
            url=new.url,
            secret=secret,
            events=new.events,
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

"""What a webhook request means: validate, register, list and remove endpoints."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pond.errors import InputError, WebhookNotFound
from pond.snapshots.dates import format_instant
from pond.webhooks import repository, signing
from pond.webhooks.egress import Egress
from pond.webhooks.repository import Conn, EndpointRecord

EVENT_TYPES = ("snapshot.completed", "snapshot.failed")
MAX_ENDPOINTS_PER_ORG = 10


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

    `egress` decides which URLs may be reached (see `pond.webhooks.egress`); its
    look-up of the host name takes up to a few seconds, so call this before taking
    a database connection. Raises `InvalidWebhookUrl` for a URL that is malformed
    or reaches a refused address, `InputError` for bad events.
    """
    url = (await egress.check(params.get("url"))).url
    return NewEndpoint(url, parse_events(params.get("events")))


async def register(conn: Conn, org_id: int, new: NewEndpoint) -> Registered:
    """Store a new endpoint with a fresh secret.

    Raises `InputError` when the organisation already has `MAX_ENDPOINTS_PER_ORG`
    endpoints.
    """
    async with conn.transaction():
        # One organisation at a time, so two registrations cannot both pass the cap.
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (org_id,))
        if await repository.count_active(conn, org_id) >= MAX_ENDPOINTS_PER_ORG:
            raise InputError(
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

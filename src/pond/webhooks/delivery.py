"""The `pond.deliver_webhook` job: POST one signed event to one endpoint.

Success is any 2xx answer. Anything else (another status, a timeout, a refused
connection) is recorded on the delivery and raised, so procrastinate runs the job
again after an exponential wait (3, 9, 27 s ... about 2.7 hours in all). Every
attempt is signed afresh with its own timestamp; `webhook-id` stays the same, so
a receiver can drop duplicates.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import procrastinate
import psycopg
import structlog

from pond.errors import WebhookDeliveryFailed
from pond.webhooks import repository, signing

log = structlog.get_logger("pond.webhooks")

# Retries after the first attempt; waits are 3 ** n seconds (3 s, 9 s, ... 6561 s).
MAX_RETRIES = 8
EXPONENTIAL_WAIT = 3
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_RETRIES, exponential_wait=EXPONENTIAL_WAIT)
TIMEOUT_SECONDS = 10.0
_MAX_ERROR = 500


def encode(payload: dict[str, Any]) -> bytes:
    """The request body: compact JSON, exactly the bytes that are signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def post(url: str, secret: str, message_id: str, body: bytes) -> httpx.Response:
    """One signed POST of `body` to `url`, timestamped now."""
    headers = signing.headers(secret, message_id, int(time.time()), body)
    headers["user-agent"] = "pond-webhooks/1"
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        return await client.post(url, content=body, headers=headers)


async def deliver(conninfo: str, delivery_id: int, *, final: bool) -> None:
    """Send delivery `delivery_id` once; raise `WebhookDeliveryFailed` if it was refused.

    `final`: no retry follows, so a failure marks the delivery failed for good.
    """
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        record = await repository.get_delivery(conn, delivery_id)
        if record is None or record.status in ("delivered", "cancelled"):
            return
        bound = log.bind(
            delivery_id=delivery_id, event_id=record.event_id, event_type=record.event_type
        )
        if record.endpoint_disabled:
            await repository.record_attempt(conn, delivery_id, status="cancelled", counted=False)
            bound.info("webhook.cancelled")
            return
        body = encode(record.payload)
        http_status: int | None = None
        try:
            answer = await post(record.url, record.secret, record.event_id, body)
            http_status = answer.status_code
            error = None if answer.is_success else f"HTTP {answer.status_code}: {answer.text}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if error is None:
            await repository.record_attempt(
                conn, delivery_id, status="delivered", http_status=http_status
            )
            bound.info("webhook.delivered", status=http_status, attempt=record.attempts + 1)
            return
        error = error[:_MAX_ERROR]
        status = "failed" if final else "retrying"
        await repository.record_attempt(
            conn, delivery_id, status=status, http_status=http_status, error=error
        )
        bound.warning("webhook.refused", status=http_status, error=error, final=final)
        raise WebhookDeliveryFailed(f"webhook delivery {delivery_id} failed: {error}")


async def deliver_webhook(context: procrastinate.JobContext, delivery_id: int) -> None:
    """The procrastinate task: one attempt, retried by the queue while attempts remain."""
    runtime = context.additional_context["pond"]
    job = context.job
    await deliver(runtime.conninfo, delivery_id, final=job.attempts >= MAX_RETRIES)

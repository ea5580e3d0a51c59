"""The `pond.deliver_webhook` job: POST one signed event to one endpoint.

Success is any 2xx answer. Anything else (another status, a redirect, a timeout,
a refused connection, a name that does not resolve) is recorded on the delivery
and raised, so procrastinate runs the job again after an exponential wait (3, 9,
27 s ... about 2.7 hours in all). Every attempt is signed afresh with its own
timestamp; `webhook-id` stays the same, so a receiver can drop duplicates.

Before anything is sent, the URL is checked again and its host name resolved;
every address must be one pond may reach (`pond.webhooks.egress`), and the
request goes to one of those addresses only. A refused URL or address fails the
delivery for good, with the reason, and is not retried: nothing is contacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx
import procrastinate
import psycopg
import structlog

from pond.errors import InvalidWebhookUrl, WebhookDeliveryFailed
from pond.webhooks import repository, signing
from pond.webhooks.addresses import IPAddress
from pond.webhooks.egress import Egress, Target

log = structlog.get_logger("pond.webhooks")

# Retries after the first attempt; waits are 3 ** n seconds (3 s, 9 s, ... 6561 s).
MAX_RETRIES = 8
EXPONENTIAL_WAIT = 3
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_RETRIES, exponential_wait=EXPONENTIAL_WAIT)
TIMEOUT_SECONDS = 10.0
_MAX_ERROR = 500
# Addresses of one host tried in turn when connecting to the previous one fails.
MAX_ADDRESSES = 4

# The answer's status, if any, and what went wrong (None: delivered).
_Outcome = tuple[int | None, str | None]


def encode(payload: dict[str, Any]) -> bytes:
    """The request body: compact JSON, exactly the bytes that are signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def post(
    target: Target, addresses: Sequence[IPAddress], secret: str, message_id: str, body: bytes
) -> httpx.Response:
    """One signed POST of `body` to `target`, timestamped now, connected to `addresses` only.

    The addresses are tried in order while connecting fails. The request keeps the
    URL's host in its `Host` header and, over https, in TLS: the name sent (SNI) and
    the name the certificate must carry.
    """
    headers = signing.headers(secret, message_id, int(time.time()), body)
    headers["user-agent"] = "pond-webhooks/1"
    headers["host"] = target.host_header
    extensions = {"sni_hostname": target.tls_name} if target.tls_name else {}
    # No proxy from the environment: the connection goes to a checked address or
    # nowhere. Certificate authorities from SSL_CERT_FILE / SSL_CERT_DIR still count.
    verify = httpx.create_ssl_context()
    tried = list(addresses)[:MAX_ADDRESSES]
    async with httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, verify=verify
    ) as client:
        for address in tried[:-1]:
            try:
                return await client.post(
                    target.url_for(address), content=body, headers=headers, extensions=extensions
                )
            except httpx.ConnectError:
                continue
        return await client.post(
            target.url_for(tried[-1]), content=body, headers=headers, extensions=extensions
        )


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _send(url: str, secret: str, message_id: str, body: bytes, egress: Egress) -> _Outcome:
    """One attempt: the answer's status (if any) and what went wrong (None: delivered).

    Raises `InvalidWebhookUrl` when the URL, or an address its host resolves to, is
    refused: then nothing was contacted.
    """
    target = egress.target(url)
    try:
        addresses = await egress.addresses(target)
    except (OSError, TimeoutError) as exc:
        return None, f"cannot resolve {target.host}: {_describe(exc)}"
    try:
        answer = await post(target, addresses, secret, message_id, body)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, _describe(exc)
    if answer.is_success:
        return answer.status_code, None
    return answer.status_code, f"HTTP {answer.status_code}: {answer.text}"


async def deliver(conninfo: str, delivery_id: int, *, final: bool, egress: Egress) -> None:
    """Send delivery `delivery_id` once; raise `WebhookDeliveryFailed` if it did not succeed.

    `final`: no retry follows, so a failure marks the delivery failed for good.
    `egress`: which addresses may be reached. A URL or address it refuses fails the
    delivery for good, with the reason, without raising: nothing is contacted and
    nothing is retried.
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
        try:
            http_status, error = await _send(
                record.url, record.secret, record.event_id, body, egress
            )
        except InvalidWebhookUrl as exc:
            # Not retried: a refusal is pond's decision about the target, not a passing fault.
            reason = f"refused: {exc.message}"[:_MAX_ERROR]
            await repository.record_attempt(
                conn, delivery_id, status="failed", error=reason, counted=False
            )
            bound.warning("webhook.blocked", error=reason)
            return
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
    egress = Egress.from_settings(runtime.settings)
    await deliver(runtime.conninfo, delivery_id, final=job.attempts >= MAX_RETRIES, egress=egress)

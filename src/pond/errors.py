"""Every error pond raises on purpose.

The tree::

    PondError                      anything pond decided was wrong
    ├── ConfigError                a setting has a value pond cannot use
    ├── InputError                 the caller sent something pond cannot accept (400)
    │   ├── InvalidDateRange       dates missing, naive, unparseable or in the wrong order
    │   ├── UnknownEntity          an entity that is not exported
    │   ├── MissingContentType     a body without a Content-Type; its parameters were ignored
    │   ├── ImportRejected         events to load have a bad row; nothing was loaded
    │   ├── InvalidWebhookUrl      a webhook URL that is malformed or reaches a refused address
    │   ├── PayloadTooLarge        a body over the route's limit (413)
    │   ├── UnsupportedMediaType   a body of a Content-Type the route does not read (415)
    │   └── RequestTimeout         a request head or body that did not arrive in time (408)
    ├── OAuthError                 token endpoint errors, RFC 6749 section 5.2
    ├── AuthError                  bearer token errors, RFC 6750 (401 / 403)
    ├── NotFound                   no such resource, or not yours (404)
    │   ├── SnapshotNotFound
    │   ├── ClientNotFound
    │   ├── KeyNotFound            no server key with that kid
    │   └── WebhookNotFound
    ├── SnapshotGone               the snapshot outlived its retention (410)
    ├── IdempotencyConflict        an Idempotency-Key reused with another request (409)
    ├── TooManyWebhooks            the organisation already has its most webhook endpoints (409)
    ├── RateLimited                too many requests from one client (429, Retry-After)
    │   ├── TooManySnapshots       the organisation's cap on concurrent snapshots (429)
    │   └── TooManyFailures        failed token requests from one client or address (429)
    ├── LinkRefused                a download link that is expired, altered or unknown (403)
    ├── Unavailable                the database is out of reach (503)
    │   └── StorageUnavailable     the object store is out of reach or refuses pond (503)
    └── WebhookDeliveryFailed      a webhook endpoint did not answer 2xx (the job retries)

HTTP answers are made from these in exactly one place (`pond.api.errors`) and CLI
messages and exit codes in exactly one place (`pond.cli.output`).
"""

from __future__ import annotations


class PondError(Exception):
    """Root of every error pond raises on purpose.

    `code` is a stable machine-readable name; `message` says what happened and,
    where the caller can act, what to do.
    """

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(PondError):
    code = "invalid_setting"


class InputError(PondError):
    status = 400
    code = "invalid_request"


class InvalidDateRange(InputError):
    code = "invalid_date_range"


class UnknownEntity(InputError):
    code = "unknown_entity"


class MissingContentType(InputError):
    code = "missing_content_type"


class ImportRejected(InputError):
    code = "import_rejected"


class OAuthError(PondError):
    """An RFC 6749 token endpoint error; `code` is the `error` field."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class AuthError(PondError):
    """An RFC 6750 bearer token error; `code` is the `error` field."""

    status = 401

    def __init__(
        self, code: str, message: str, *, status: int = 401, scope: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.scope = scope


class NotFound(PondError):
    status = 404
    code = "not_found"


class SnapshotNotFound(NotFound):
    code = "snapshot_not_found"


class ClientNotFound(NotFound):
    code = "client_not_found"


class KeyNotFound(NotFound):
    code = "key_not_found"


class SnapshotGone(PondError):
    status = 410
    code = "snapshot_expired"


class IdempotencyConflict(PondError):
    status = 409
    code = "idempotency_conflict"


class TooManyWebhooks(PondError):
    """The organisation has as many webhook endpoints as it may (409: remove one first)."""

    status = 409
    code = "too_many_webhooks"


class RateLimited(PondError):
    """Too many requests; `retry_after` is the whole number of seconds to wait."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = max(1, retry_after)


class TooManySnapshots(RateLimited):
    code = "too_many_snapshots"


class TooManyFailures(RateLimited):
    """Too many failed authentications from one client id or address (429, Retry-After)."""

    code = "too_many_requests"


class LinkRefused(PondError):
    status = 403
    code = "AccessDenied"


class Unavailable(PondError):
    status = 503
    code = "service_unavailable"


class StorageUnavailable(Unavailable):
    """The object store cannot be used: unreachable, no such bucket, credentials refused.

    `/readyz` answers it as 503; at start-up it stops the process as a `ConfigError`.
    """

    code = "storage_unavailable"


class InvalidWebhookUrl(InputError):
    """A webhook URL that is malformed, or reaches an address webhooks may not reach.

    Raised at registration (400) and, at delivery, for an endpoint whose host
    resolves to a refused address: that delivery fails for good, with this message.
    """

    code = "invalid_webhook_url"


class WebhookNotFound(NotFound):
    code = "webhook_not_found"


class WebhookDeliveryFailed(PondError):
    """A webhook endpoint did not answer 2xx; the delivery job is retried with backoff."""

    status = 502
    code = "webhook_delivery_failed"


class PayloadTooLarge(InputError):
    status = 413
    code = "request_too_large"


class UnsupportedMediaType(InputError):
    """A body of a Content-Type the route does not read (415)."""

    status = 415
    code = "unsupported_media_type"


class RequestTimeout(InputError):
    """A request head or body that did not arrive in time (408)."""

    status = 408
    code = "request_timeout"

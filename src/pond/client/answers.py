"""What an answer of the Snapshots API means, without I/O.

`read_*` turn an `httpx.Response` (already read) into typed values or raise
the client error the answer stands for (`raise_for_answer`); `unreachable`
names a request that failed on the network. What to send, and when to send it
again, is `pond.client.protocol`.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import httpx

from pond.client.backoff import retry_after
from pond.client.errors import (
    AuthenticationFailed,
    ClientError,
    NotOffered,
    RequestRejected,
    ServiceUnavailable,
    SnapshotExpired,
    SnapshotFailed,
    SnapshotNotFound,
)
from pond.client.models import Snapshot


def error_fields(response: httpx.Response) -> tuple[str | None, str | None]:
    """The OAuth-style `error` and `error_description` of an answer, when its body has them."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code, description = body.get("error"), body.get("error_description")
    return (
        None if code is None else str(code),
        None if description is None else str(description),
    )


# Answers that mean one thing whatever the route: the error, its message (with the
# server's words, `said`, or the URL without its query), and what to do.
_PLAIN: dict[int, tuple[type[ClientError], str, str]] = {
    401: (
        AuthenticationFailed,
        "the API refused the access token: {said}",
        "check that POND_TOKEN_URL belongs to the same service as POND_API_URL",
    ),
    403: (
        AuthenticationFailed,
        "not allowed: {said}",
        "the client needs the pond/insights.snapshots scope",
    ),
    404: (
        SnapshotNotFound,
        "no such snapshot: {url}",
        "check the id or href; a client sees only its own organisation's snapshots",
    ),
    410: (
        SnapshotExpired,
        "the snapshot has expired: {said}",
        "snapshots are kept 7 days; schedule a new one",
    ),
}


def raise_for_answer(response: httpx.Response, *, offered: str | None = None) -> None:
    """Raise the client error a non-2xx answer stands for; return on success.

    `offered` names an optional endpoint (list, delete): 404 or 405 then mean
    the server does not offer it, and `NotOffered` says so.
    """
    status = response.status_code
    if status < 300:
        return
    code, description = error_fields(response)
    said = description or code or response.reason_phrase or f"HTTP {status}"
    where = f"{response.request.method} {_short(str(response.request.url))}"
    if offered and status in (404, 405) and (status == 405 or code != "snapshot_not_found"):
        raise NotOffered(
            f"this server does not offer {offered} ({where} answered {status})",
            hint="the hosted service and older servers only create and get snapshots",
            status=status,
        )
    if status == 400:
        raise RequestRejected(f"the server rejected the request: {said}", status=status)
    if status == 409 and code == "idempotency_conflict":
        raise RequestRejected(
            "the server refused the request: its Idempotency-Key was already used, in the last"
            f" 24 hours, for a snapshot with other parameters ({said})",
            hint="send a new key for a different request; `pond export` keeps one per --out"
            " directory, so use another --out for a different range or options",
            status=status,
        )
    if status == 429:
        wait = retry_after(response.headers)
        again = f"retry in {wait:g} s" if wait is not None else "retry in a while"
        raise ServiceUnavailable(
            f"the service is rate limiting this client ({where}): {said}",
            hint=f"{again}, or make fewer requests at once",
            status=status,
        )
    if status in _PLAIN:
        kind, message, hint = _PLAIN[status]
        url = _short(str(response.request.url))
        raise kind(message.format(said=said, url=url), hint=hint, status=status)
    if status >= 500:
        raise ServiceUnavailable(
            f"the service answered {status} to {where}: {said}",
            hint="retry in a while",
            status=status,
        )
    raise ClientError(f"unexpected answer {status} to {where}: {said}", status=status)


def _short(url: str) -> str:
    """A URL without its query, which may hold a signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ClientError(
            f"the server answered {response.status_code} with a body that is not JSON",
            hint="check POND_API_URL points at a POND Snapshots API",
        ) from None


def _snapshot(data: Any) -> Snapshot:
    try:
        return Snapshot.from_wire(data)
    except ValueError as exc:
        raise ClientError(
            f"the server answered with a snapshot the client cannot read: {exc}",
            hint="check POND_API_URL points at a POND Snapshots API",
        ) from None


def read_created(response: httpx.Response) -> Snapshot:
    """The snapshot a `POST /insights/snapshots` scheduled (202 `{"result", "snapshot"}`)."""
    raise_for_answer(response)
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("snapshot"), dict):
        return _snapshot(body["snapshot"])
    return _snapshot(body)


def read_snapshot(response: httpx.Response) -> Snapshot:
    """The snapshot a `GET <href>` described."""
    raise_for_answer(response)
    return _snapshot(_json(response))


def read_list(response: httpx.Response) -> list[Snapshot]:
    """The snapshots one page of `GET /insights/snapshots` listed (see `read_page`)."""
    return read_page(response)[0]


def read_page(response: httpx.Response) -> tuple[list[Snapshot], str | None]:
    """One page of `GET /insights/snapshots`: its snapshots, and the `next` page's URL or None.

    Reads `{"items": [...], "next": url}` (pond), `{"snapshots": [...]}` or a bare list.
    """
    raise_for_answer(response, offered="listing snapshots")
    body = _json(response)
    following: Any = None
    if isinstance(body, dict):
        following = body.get("next")
        body = body.get("snapshots", body.get("items"))
    if not isinstance(body, list):
        raise ClientError("the snapshot list is not a list", hint="is this a POND Snapshots API?")
    if following is not None and not (
        isinstance(following, str) and following.startswith(("http://", "https://"))
    ):
        raise ClientError("the snapshot list's `next` is not a URL", hint="report this server")
    return [_snapshot(entry) for entry in body], following


def read_deleted(response: httpx.Response) -> None:
    raise_for_answer(response, offered="deleting snapshots")


def unreachable(url: str, error: httpx.TransportError) -> ServiceUnavailable:
    """The error for a request that failed on the network (named by the request that did)."""
    with contextlib.suppress(RuntimeError):  # raised when the error carries no request
        url = str(error.request.url)  # the token endpoint, when that is what failed
    reason = str(error) or type(error).__name__
    return ServiceUnavailable(
        f"cannot reach {_short(url)}: {reason}",
        hint="check the network and POND_API_URL / POND_TOKEN_URL, then run the command again",
    )


def check_finished(snapshot: Snapshot) -> bool:
    """True when `snapshot` is complete; raises `SnapshotFailed` when it failed."""
    if snapshot.state == "failed":
        reason = snapshot.failure_reason
        raise SnapshotFailed(
            f"snapshot {snapshot.id} failed" + (f": {reason}" if reason else ""),
            hint="schedule it again; if it fails again, report the snapshot href",
        )
    return snapshot.is_complete

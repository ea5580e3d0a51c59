"""The Snapshots API without I/O: which request to send, and when to send it again.

`Call` describes a request; the `*_call` functions build them, `Extensions`
says which of pond's optional parameters this server takes, and
`resend_delay` / `retry_error` decide whether a failed call goes again. What
an answer means is `pond.client.answers`. The sync and async clients only
send calls and sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlencode

import httpx

from pond.client.answers import error_fields
from pond.client.backoff import MAX_SERVER_DELAY, Backoff, next_delay, retry_after
from pond.client.errors import UsageError
from pond.client.models import Snapshot, SnapshotRef
from pond.client.times import as_utc, format_time

USER_AGENT = "pond-client"
SNAPSHOTS_PATH = "/insights/snapshots"
# Answers worth asking again for: the server said "not now" or a proxy failed.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_FORM_VALUE = str | int | float | bool
LONG_POLL = 25.0  # seconds a `?wait=` asks the server to hold a GET (pond allows up to 30)
_LONG_POLL_MARGIN = 15.0  # read timeout beyond the wait asked for
MAX_PAGE = 200  # the largest page `GET /insights/snapshots?limit=` gives


@dataclass(frozen=True)
class Call:
    """One API request: method, URL, form fields and headers.

    `read_timeout` overrides the client's read timeout (a long-poll is held longer).
    """

    method: str
    url: str
    data: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    read_timeout: float | None = None

    @property
    def idempotent(self) -> bool:
        """Safe to send again after an ambiguous failure (a cut connection, a 5xx)."""
        return self.method != "POST" or "Idempotency-Key" in self.headers


def snapshot_href(api_url: str, ref: SnapshotRef) -> str:
    """The snapshot URL for `ref`: a snapshot's href, a full href as it is, or an id under
    the API's snapshots. Raises `UsageError` for anything else."""
    if isinstance(ref, Snapshot):
        return ref.href
    ref = ref.strip()
    if ref.startswith(("http://", "https://")):
        return ref
    if not ref or "/" in ref or ref in (".", ".."):
        raise UsageError(
            f"{ref!r} is neither a snapshot id nor an href", hint="pass the href or id"
        )
    return f"{api_url.rstrip('/')}{SNAPSHOTS_PATH}/{quote(ref, safe='')}"


def create_call(
    api_url: str,
    created_at_from: datetime | str,
    created_at_to: datetime | str,
    entity: str = "event",
    extra: Mapping[str, _FORM_VALUE] | None = None,
    idempotency_key: str | None = None,
) -> Call:
    """`POST /insights/snapshots`, form-encoded as the documentation requires.

    Times must carry a zone (`UsageError` otherwise); `extra` adds fields the
    server may offer (column selection, gzip, ...), passed through as given.
    """
    data = {
        "created_at_from": format_time(as_utc(created_at_from)),
        "created_at_to": format_time(as_utc(created_at_to)),
        "entity": entity,
    }
    for key, value in (extra or {}).items():
        data[key] = str(value).lower() if isinstance(value, bool) else str(value)
    headers = {"Accept": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return Call("POST", f"{api_url.rstrip('/')}{SNAPSHOTS_PATH}", data=data, headers=headers)


def new_idempotency_key() -> str:
    """A fresh `Idempotency-Key`: one per snapshot meant, reused by every retry of its POST."""
    return str(uuid.uuid4())


@dataclass
class Extensions:
    """Which of pond's optional GET parameters the client uses with this server.

    Both start on for any server but the hosted service (which does not know
    them), and each turns off for good the first time the server rejects it
    (400), so an older or foreign server is simply polled as documented.
    """

    details: bool = True  # `?details=true`: `sha256` and `expires_at` on complete items
    long_poll: bool = True  # `?wait=S`: the server holds the GET until the snapshot finishes

    @classmethod
    def for_api(cls, hosted: bool) -> Extensions:
        return cls(details=not hosted, long_poll=not hosted)

    def long_poll_seconds(self, remaining: float | None) -> float | None:
        """The `wait=` to ask for with `remaining` seconds left, or None to poll plainly."""
        if not self.long_poll:
            return None
        seconds = LONG_POLL if remaining is None else min(LONG_POLL, float(int(remaining)))
        return seconds if seconds >= 1 else None

    def drop_rejected(self, call: Call, response: httpx.Response) -> bool:
        """After a 400 to a GET that used extensions, turn off the one refused; True to resend."""
        if response.status_code != 400 or call.method != "GET" or "?" not in call.url:
            return False
        query = call.url.partition("?")[2]
        _, description = error_fields(response)
        said = (description or "").lower()
        if "wait=" in query and self.long_poll and ("wait" in said or not self.details):
            self.long_poll = False
            return True
        if "details=" in query and self.details:
            self.details = False
            return True
        if "wait=" in query and self.long_poll:
            self.long_poll = False
            return True
        return False


def get_call(href: str, *, details: bool = False, wait: float | None = None) -> Call:
    """`GET <href>`, with pond's `details=true` and `wait=S` when asked for."""
    params: list[tuple[str, str]] = []
    if wait is not None:
        params.append(("wait", f"{wait:g}"))
    if details:
        params.append(("details", "true"))
    url = href if not params else f"{href}{'&' if '?' in href else '?'}{urlencode(params)}"
    timeout = None if wait is None else wait + _LONG_POLL_MARGIN
    return Call("GET", url, headers={"Accept": "application/json"}, read_timeout=timeout)


def timeout_for(call: Call, default: httpx.Timeout) -> httpx.Timeout:
    """The client's timeouts, with the read timeout raised for a call held long (a long-poll)."""
    if call.read_timeout is None:
        return default
    read = max(call.read_timeout, default.read or 0.0)
    return httpx.Timeout(default.connect, read=read, write=default.write, pool=default.pool)


def long_poll_held(
    asked: float | None, elapsed: float, previous: str | None, current: Snapshot
) -> bool:
    """Whether an unfinished answer to `?wait=asked` came from a server that held it.

    Then the client asks again at once. An answer much quicker than asked, with
    no change of state, is from a server that ignores `wait`: the client then
    sleeps between polls as usual.
    """
    if asked is None:
        return False
    if previous is not None and current.state != previous:
        return True
    return elapsed >= asked / 2


def list_url(
    api_url: str,
    *,
    state: str | Sequence[str] | None = None,
    created_after: datetime | str | None = None,
    created_before: datetime | str | None = None,
    page_size: int | None = None,
) -> str:
    """The first page of `GET /insights/snapshots` with its filters (then follow `next`)."""
    params: list[tuple[str, str]] = []
    if page_size is not None:
        params.append(("limit", str(max(1, min(MAX_PAGE, page_size)))))
    if state:
        params.append(("state", state if isinstance(state, str) else ",".join(state)))
    if created_after is not None:
        params.append(("created_after", format_time(as_utc(created_after))))
    if created_before is not None:
        params.append(("created_before", format_time(as_utc(created_before))))
    url = f"{api_url.rstrip('/')}{SNAPSHOTS_PATH}"
    return f"{url}?{urlencode(params)}" if params else url


def list_call(url: str) -> Call:
    """`GET` a page of the snapshot list: `list_url(...)`, or a page's `next` URL as is."""
    return Call("GET", url, headers={"Accept": "application/json"})


def delete_call(href: str) -> Call:
    return Call("DELETE", href, headers={"Accept": "application/json"})


def retry_answer(call: Call, status: int) -> bool:
    """Whether an answer `status` to `call` is worth sending again after a pause."""
    if status not in RETRY_STATUSES:
        return False
    # 429 and 503 say the request was not processed; a gateway error might hide one that was.
    return call.idempotent or status in (429, 503)


def resend_delay(
    call: Call, response: httpx.Response, attempt: int, retries: int, backoff: Backoff
) -> float | None:
    """Seconds to pause before sending `call` again after `response`, or None to keep it.

    Retries `RETRY_STATUSES` at most `retries` times, with backoff, never sooner
    than the server's `Retry-After`, and not at all when that is beyond
    `MAX_SERVER_DELAY` (the error then says when to come back).
    """
    if attempt >= retries or not retry_answer(call, response.status_code):
        return None
    hint = retry_after(response.headers)
    if hint is not None and hint > MAX_SERVER_DELAY:
        return None
    return next_delay(backoff, attempt, hint)


def retry_error(call: Call, error: httpx.TransportError) -> bool:
    """Whether a transport failure of `call` is worth sending again after a pause."""
    if isinstance(error, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return False
    # A connection that was never made sent nothing; anything else may have reached the server.
    return call.idempotent or isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)

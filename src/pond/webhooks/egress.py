"""How pond reaches a webhook receiver: the URL checked, the name resolved, the address pinned.

`Egress.target` checks a URL with no I/O: its form, an address written in it
(in any spelling), refused names, and plain http. `Egress.check` adds a best
effort look-up of the name, for registration. `Egress.addresses` is for
delivery: it resolves the name, checks every address it gets, and returns them;
the caller connects to one of those and to nothing else (`Target.url_for`), so
a name that resolves differently a moment later (DNS rebinding) changes nothing.

Errors: `InvalidWebhookUrl` says why a URL or an address is refused. A name that
does not resolve (or not in time) raises `OSError` or `TimeoutError` from
`Egress.addresses`; `Egress.check` lets an https URL through then.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv6Address, ip_address
from urllib.parse import urlsplit

from pond.errors import InvalidWebhookUrl
from pond.settings import Settings
from pond.webhooks.addresses import AddressPolicy, IPAddress, parse_host, refused_name

# Answers a look-up of (host, port) with the addresses of the host; raises OSError if none.
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

MAX_URL = 2048
# A look-up at registration is only a courtesy (delivery checks again): keep it short.
CHECK_RESOLVE_SECONDS = 2.0
DELIVERY_RESOLVE_SECONDS = 5.0
_HINT = (
    "webhooks may only reach public addresses, over https; an operator can allow"
    " chosen ranges with POND_WEBHOOK_ALLOW_CIDRS"
)
_HTTPS_ONLY = "must use https (plain http is accepted only to POND_WEBHOOK_ALLOW_CIDRS)"


async def resolve_system(host: str, port: int) -> list[IPAddress]:
    """The addresses of `host` from the system's resolver, in its order, without repeats."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:  # the name cannot be encoded for DNS
        raise OSError(f"{host} is not a name DNS can look up: {exc}") from None
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class Target:
    """A checked webhook URL, in the parts a pinned request needs."""

    url: str
    scheme: str
    host: str  # lower case, no brackets
    port: int
    path: str  # path and query; "/" at least
    address: IPAddress | None  # when the URL names an address rather than a host name

    @property
    def host_header(self) -> str:
        """The `Host` header: the URL's host (and port, unless the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def tls_name(self) -> str | None:
        """The name TLS must send (SNI) and find in the certificate; None for an address."""
        if self.scheme != "https" or self.address is not None:
            return None
        return self.host.removesuffix(".")

    def url_for(self, address: IPAddress) -> str:
        """The URL that connects to `address`, the path and query unchanged."""
        host = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def _parse(url: object) -> Target:
    """The parts of `url`, or `InvalidWebhookUrl` if it is not a usable absolute URL."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidWebhookUrl("url is required: the https URL that receives the events")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidWebhookUrl(f"url is longer than {MAX_URL} characters")
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise InvalidWebhookUrl(
            f"url {url!r} contains spaces or control characters", hint="percent-encode them"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        raise InvalidWebhookUrl(f"url {url!r} is not a valid URL") from None
    if not host or parts.scheme not in ("http", "https"):
        raise InvalidWebhookUrl(
            f"url {url!r} is not an absolute https URL", hint="for example https://example.com/hook"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("url must not carry credentials; verify the signature instead")
    if parts.fragment:
        raise InvalidWebhookUrl("url must not have a #fragment")
    if not host.isascii():
        raise InvalidWebhookUrl(
            f"url {url!r} has a host name that is not ASCII",
            hint="write an internationalised name in its xn-- (punycode) form",
        )
    try:
        address = parse_host(host)
    except ValueError as exc:
        raise InvalidWebhookUrl(f"url {url!r} is not a valid URL: {exc}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(url, parts.scheme, host, default if port is None else port, path, address)


@dataclass(frozen=True)
class Egress:
    """Where webhooks may go (`policy`) and how names are looked up (`resolver`)."""

    policy: AddressPolicy = field(default_factory=AddressPolicy)
    resolver: Resolver = resolve_system

    @classmethod
    def from_settings(cls, settings: Settings) -> Egress:
        return cls(AddressPolicy(settings.webhook_allow_cidrs))

    def target(self, url: object) -> Target:
        """`url` checked without a look-up; `InvalidWebhookUrl` says why it is refused."""
        target = _parse(url)
        if target.address is not None:
            self._check_address(target, target.address, resolved=False)
            return target
        why = refused_name(target.host)
        if why is not None:
            raise InvalidWebhookUrl(f"url {target.url!r} is refused: {why}", hint=_HINT)
        if target.scheme == "http" and not self.policy.allowed:
            raise InvalidWebhookUrl(f"url {target.url!r} {_HTTPS_ONLY}")
        return target

    async def check(self, url: object) -> Target:
        """`target(url)`, then its name looked up: refused if an address it has is refused.

        A name that does not resolve now is accepted over https (delivery looks it
        up again); plain http needs the name to resolve to allowed addresses.
        """
        target = self.target(url)
        if target.address is None:
            try:
                await self._resolve(target, CHECK_RESOLVE_SECONDS)
            except (OSError, TimeoutError) as exc:
                if target.scheme == "http":
                    raise InvalidWebhookUrl(
                        f"url {target.url!r} {_HTTPS_ONLY}, and {target.host} does not"
                        f" resolve here ({type(exc).__name__})"
                    ) from None
        return target

    async def addresses(self, target: Target) -> list[IPAddress]:
        """The checked addresses to connect to for `target`, for a delivery.

        Raises `InvalidWebhookUrl` if any address is refused, and `OSError` or
        `TimeoutError` if the name does not resolve.
        """
        if target.address is not None:
            self._check_address(target, target.address, resolved=False)
            return [target.address]
        return await self._resolve(target, DELIVERY_RESOLVE_SECONDS)

    async def _resolve(self, target: Target, seconds: float) -> list[IPAddress]:
        async with asyncio.timeout(seconds):
            found = list(await self.resolver(target.host, target.port))
        if not found:
            raise OSError(f"{target.host} has no address")
        for address in found:
            self._check_address(target, address, resolved=True)
        return found

    def _check_address(self, target: Target, address: IPAddress, *, resolved: bool) -> None:
        why = self.policy.refusal(address)
        if why is not None:
            if resolved:
                what = f"{target.host} resolves to {address}, {why}"
            elif ":" not in target.host and target.host != str(address):
                what = f"{target.host} is {address}, {why}"
            else:
                what = f"{target.host} is {why}"
            raise InvalidWebhookUrl(f"url {target.url!r} is refused: {what}", hint=_HINT)
        if target.scheme == "http" and not self.policy.is_allowed(address):
            raise InvalidWebhookUrl(f"url {target.url!r} {_HTTPS_ONLY}")

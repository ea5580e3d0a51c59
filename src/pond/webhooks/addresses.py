"""Which addresses a webhook may reach: public ones, and the ranges an operator allows.

A tenant chooses its webhook URL and pond sends requests to it from inside the
deployment. Unchecked, such a URL points pond at its own database port, the
console, the private network or a cloud metadata service (server-side request
forgery). This module decides, with no I/O:

- what address a host *is*, when it is written as one, in every spelling that
  resolvers and browsers accept (`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`,
  `[::ffff:127.0.0.1]`): IPv4 hosts are read as the WHATWG URL standard reads
  them, the rules `inet_aton` follows too;
- which names are refused whatever they resolve to (`localhost`, metadata
  services);
- whether an address may be reached (`AddressPolicy`): it is public, or inside
  one of the operator's `POND_WEBHOOK_ALLOW_CIDRS`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Names that reach the machine itself or a cloud provider's metadata service.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.platformequinix.com",
    }
)

_V4_REFUSED = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address (cloud metadata services answer there)"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address (IETF protocol assignments)"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address (6to4 relays)"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # 255.255.255.255 (broadcast) included
    )
)
_V6_REFUSED = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
        ("2001::/23", "a reserved address (IETF protocol assignments, Teredo included)"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST = IPv6Network("2000::/3")

_HEX = re.compile(r"0[xX][0-9a-fA-F]*\Z")
_OCTAL = re.compile(r"0[0-7]+\Z")
_DECIMAL = re.compile(r"[0-9]+\Z")
# A host name: dot-separated labels of letters, digits, '-' and '_', maybe one final dot.
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?\Z")


def _ipv4_number(part: str) -> int | None:
    """One dot-separated part of an IPv4 host: decimal, 0x hex or 0-led octal; None if not."""
    if _HEX.match(part):
        return int(part[2:] or "0", 16)
    if _OCTAL.match(part):
        return int(part, 8)
    if _DECIMAL.match(part) and not (len(part) > 1 and part[0] == "0"):
        return int(part)
    return None


def _ipv4(host: str) -> IPv4Address | None:
    """The address of an IPv4 host in any spelling; None if `host` is a name.

    Raises `ValueError` for a host that must be an address but is not a valid one
    (`1.2.3.999`, `08.1`): browsers refuse such URLs too.
    """
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()  # one trailing dot: "127.0.0.1." is 127.0.0.1
    last = parts[-1]
    if not (_DECIMAL.match(last) or _HEX.match(last)):
        return None  # it does not end in a number: a name (WHATWG "ends in a number")
    numbers = [_ipv4_number(p) for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise ValueError(f"{host!r} is neither a host name nor a valid IPv4 address")
    *leading, final = [n for n in numbers if n is not None]
    if any(n > 255 for n in leading) or final >= 256 ** (5 - len(numbers)):
        raise ValueError(f"{host!r} is not a valid IPv4 address: a part is out of range")
    value = final
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def parse_host(host: str) -> IPAddress | None:
    """The address `host` (as `urlsplit` gives it: no brackets) stands for; None for a name.

    Raises `ValueError` when `host` is neither a valid address nor a valid host name.
    """
    if ":" in host:
        try:
            return ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not a valid IPv6 address") from None
    found = _ipv4(host)
    if found is None:
        labels = host.removesuffix(".").split(".")
        if not _NAME.match(host) or len(host) > 254 or any(len(lb) > 63 for lb in labels):
            raise ValueError(f"{host!r} is not a valid host name")
    return found


def refused_name(host: str) -> str | None:
    """Why the name `host` is refused whatever it resolves to; None if it is not."""
    name = host.lower().removesuffix(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return f"{host} names this machine (loopback)"
    if name in _METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    return None


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address carries."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def not_public(address: IPAddress) -> str | None:
    """What `address` is when it is not public (`"a loopback address"`); None if public."""
    if isinstance(address, IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = not_public(inner)
            return f"a form of {inner}, {reason}" if reason else None
        for network, reason in _V6_REFUSED:
            if address in network:
                return reason
        if address not in _GLOBAL_UNICAST:
            return "a reserved address (outside the global unicast range)"
    else:
        for v4net, reason in _V4_REFUSED:
            if address in v4net:
                return reason
    return None if address.is_global else "not a public address"


def parse_networks(items: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (`10.0.0.0/8`, `fd00::/8`, or one address) as networks.

    Raises `ValueError` saying which item is wrong and how to write it.
    """
    networks: list[IPNetwork] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text))
        except ValueError as exc:
            hint = ""
            if "host bits set" in str(exc):
                hint = f": write the network's first address, {ipaddress.ip_network(text, False)}"
            raise ValueError(f"{text!r} is not a CIDR range such as 10.0.0.0/8{hint}") from None
    return tuple(networks)


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses webhooks may reach: public ones, and those inside `allowed`.

    An allowed range may also be reached over plain http; public addresses only
    over https.
    """

    allowed: tuple[IPNetwork, ...] = ()

    def is_allowed(self, address: IPAddress) -> bool:
        """Whether the operator allowed `address` (an IPv4-mapped one by its IPv4 form)."""
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """Why pond may not contact `address` (`"a private address"`); None if it may."""
        return None if self.is_allowed(address) else not_public(address)

"""Which webhook URLs and addresses pond refuses, decided without any I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from ipaddress import IPv4Address, ip_address

import pytest

from pond.errors import InvalidWebhookUrl
from pond.webhooks.addresses import (
    AddressPolicy,
    IPAddress,
    not_public,
    parse_host,
    parse_networks,
)
from pond.webhooks.egress import Egress

LOOPBACK = IPv4Address("127.0.0.1")
UNSPECIFIED = "0.0.0.0"  # noqa: S104 -- an address pond must refuse; nothing binds to it here


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", UNSPECIFIED),
        ("0x", UNSPECIFIED),
        (UNSPECIFIED, UNSPECIFIED),
        ("169.254.43518", "169.254.169.254"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("::1", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_every_spelling_of_an_address_is_read_as_browsers_read_it(host: str, address: str) -> None:
    assert parse_host(host) == ip_address(address)


@pytest.mark.parametrize(
    "host", ["example.com", "hooks.example.com.", "0x7f.example.com", "1e100.net", "a_b.example"]
)
def test_names_are_not_addresses(host: str) -> None:
    assert parse_host(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "1.2.3.999",
        "256.1",
        "08.1",
        "1.2.3.4.5",
        "1..2",
        "0x7g.1",
        "a b",
        "::1::2",
        "ex%41",
        "a..example",
        "a" * 64 + ".example",
        "a." * 130 + "example",
    ],
)
def test_a_host_that_is_neither_name_nor_address_is_an_error(host: str) -> None:
    with pytest.raises(ValueError, match="valid"):
        parse_host(host)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        (UNSPECIFIED, "unspecified"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.10", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.100.100.200", "carrier-grade NAT"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.0.8", "reserved"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("203.0.113.9", "documentation"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fd00::1", "private"),
        ("fd00:ec2::254", "private"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "Teredo"),
        ("100::1", "reserved"),
        ("::7f00:1", "reserved"),
        ("::ffff:127.0.0.1", "form of 127.0.0.1, a loopback"),
        ("::ffff:169.254.169.254", "form of 169.254.169.254, a link-local"),
        ("64:ff9b::a00:5", "form of 10.0.0.5, a private"),
        ("2002:c0a8:10a::", "form of 192.168.1.10, a private"),
        ("64:ff9b:1::1", "NAT64"),
    ],
)
def test_internal_addresses_are_not_public(address: str, kind: str) -> None:
    reason = not_public(ip_address(address))
    assert reason is not None
    assert kind in reason


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_are_public(address: str) -> None:
    assert not_public(ip_address(address)) is None


def test_an_allowed_range_opens_exactly_its_addresses() -> None:
    policy = AddressPolicy(parse_networks(["127.0.0.0/8", "fd00::/8"]))
    assert policy.refusal(LOOPBACK) is None
    assert policy.refusal(ip_address("::ffff:127.0.0.1")) is None  # the same address
    assert policy.refusal(ip_address("fd12::1")) is None
    assert policy.refusal(ip_address("::1")) == "a loopback address"
    assert policy.refusal(ip_address("10.0.0.5")) == "a private address"
    assert policy.is_allowed(LOOPBACK)
    assert not policy.is_allowed(ip_address("8.8.8.8"))  # public: reachable, but not over http


def test_networks_are_written_as_cidrs() -> None:
    assert [str(n) for n in parse_networks(["10.0.0.0/8", " ::1 ", ""])] == [
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ValueError, match=r"write the network's first address, 10\.0\.0\.0/8"):
        parse_networks(["10.0.0.5/8"])
    with pytest.raises(ValueError, match="'intranet' is not a CIDR range"):
        parse_networks(["intranet"])


def test_refused_urls_say_why() -> None:
    egress = Egress()
    cases = {
        "https://127.1/x": "127.1 is 127.0.0.1, a loopback address",
        "https://[::ffff:127.0.0.1]/x": "::ffff:127.0.0.1 is a form of 127.0.0.1, a loopback",
        "https://169.254.169.254/latest/meta-data": "link-local address (cloud metadata",
        "https://metadata.google.internal/computeMetadata/v1/": "a cloud metadata service",
        "https://LOCALHOST./x": "names this machine",
        "https://api.localhost/x": "names this machine",
        "http://hooks.example.com/x": "must use https",
        "http://8.8.8.8/x": "must use https",
        "https://bücher.example/x": "xn--",
        "https://127.0.0.1\\.example.com/x": "not a valid host name",
        "https://example.com\\@127.0.0.1/x": "credentials",
        "https://example.com/a b": "spaces or control characters",
    }
    for url, reason in cases.items():
        with pytest.raises(InvalidWebhookUrl) as refused:
            egress.target(url)
        text = f"{refused.value.message}; {refused.value.hint}"
        assert reason in text, (url, text)


def test_a_target_keeps_the_name_for_host_and_tls_and_connects_to_the_address() -> None:
    target = Egress().target("https://Hooks.Example.com:8443/in?x=1")
    assert target.host_header == "hooks.example.com:8443"
    assert target.tls_name == "hooks.example.com"
    assert target.url_for(ip_address("93.184.215.14")) == "https://93.184.215.14:8443/in?x=1"
    assert target.url_for(ip_address("2606:4700::1")) == "https://[2606:4700::1]:8443/in?x=1"
    literal = Egress().target("https://[2606:4700::1]/")
    assert (literal.host_header, literal.tls_name) == ("[2606:4700::1]", None)


def _resolver(answers: dict[str, Sequence[str]]) -> tuple[Egress, list[str]]:
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        if host not in answers:
            raise OSError(f"{host}: Name or service not known")
        return [ip_address(a) for a in answers[host]]

    return Egress(resolver=resolve), asked


def test_a_name_is_refused_if_any_of_its_addresses_is_internal() -> None:
    egress, _ = _resolver({"mixed.example": ["93.184.215.14", "10.0.0.5"]})
    target = egress.target("https://mixed.example/hook")
    with pytest.raises(
        InvalidWebhookUrl, match=r"mixed\.example resolves to 10\.0\.0\.5, a private"
    ):
        asyncio.run(egress.addresses(target))
    with pytest.raises(InvalidWebhookUrl, match=r"resolves to 10\.0\.0\.5"):
        asyncio.run(egress.check("https://mixed.example/hook"))


def test_registration_lets_an_unresolved_https_name_through_but_not_http() -> None:
    egress, asked = _resolver({})
    assert asyncio.run(egress.check("https://nowhere.example/hook")).host == "nowhere.example"
    assert asked == ["nowhere.example"]
    allowed, _ = _resolver({})
    allowed = Egress(AddressPolicy(parse_networks(["10.0.0.0/8"])), allowed.resolver)
    with pytest.raises(InvalidWebhookUrl, match="does not resolve"):
        asyncio.run(allowed.check("http://nowhere.example/hook"))
    with pytest.raises(OSError, match="not known"):
        asyncio.run(egress.addresses(egress.target("https://nowhere.example/hook")))


def test_plain_http_reaches_allowed_addresses_only() -> None:
    answers = {"intranet.example": ["10.1.2.3"], "public.example": ["93.184.215.14"]}
    egress, _ = _resolver(answers)
    egress = Egress(AddressPolicy(parse_networks(["10.0.0.0/8"])), egress.resolver)
    resolved = asyncio.run(egress.addresses(egress.target("http://intranet.example:8080/h")))
    assert resolved == [ip_address("10.1.2.3")]
    assert asyncio.run(egress.check("http://10.9.9.9/h")).address == ip_address("10.9.9.9")
    with pytest.raises(InvalidWebhookUrl, match="must use https"):
        asyncio.run(egress.check("http://public.example/h"))
    assert asyncio.run(egress.check("https://public.example/h")).host == "public.example"

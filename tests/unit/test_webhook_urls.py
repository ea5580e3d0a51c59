"""A webhook URL at registration: its form (the OpenAPI pattern) first, then where it may reach.

The form is checked with no I/O, so a malformed URL is refused before any name is
looked up; a URL of the right form is then the egress policy's to judge.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from ipaddress import ip_address

import pytest

from pond.errors import InvalidWebhookUrl
from pond.webhooks import service
from pond.webhooks.addresses import AddressPolicy, IPAddress, parse_networks
from pond.webhooks.egress import Egress

PATTERN = re.compile(service.URL_PATTERN)


def _egress(answers: dict[str, Sequence[str]], *allowed: str) -> tuple[Egress, list[str]]:
    """An egress policy whose name look-ups are answered by `answers`, and what it asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        asked.append(host)
        if host not in answers:
            raise OSError(f"{host}: Name or service not known")
        return [ip_address(a) for a in answers[host]]

    return Egress(AddressPolicy(parse_networks(allowed)), resolve), asked


def _validate(url: object, egress: Egress) -> service.NewEndpoint:
    return asyncio.run(service.validate({"url": url}, egress))


def _refusal(url: object, egress: Egress) -> str:
    """What the API answers for `url`: the message, then the hint."""
    with pytest.raises(InvalidWebhookUrl) as refused:
        _validate(url, egress)
    return f"{refused.value.message}; {refused.value.hint}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example.com/x", "not an absolute https URL"),
        ("hooks.example.com/x", "not an absolute https URL"),
        (" https://hooks.example.com/x", "spaces or control characters"),
        ("https://hooks.example.com/a b", "spaces or control characters"),
        ("https://bücher.example/x", "xn--"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com/x#top", "#fragment"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
        ("", "url is required"),
        (None, "url is required"),
        ("https://hooks.example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_a_url_of_the_wrong_form_is_refused_before_any_look_up(url: object, reason: str) -> None:
    egress, asked = _egress({"hooks.example.com": ["93.184.215.14"]})
    assert reason in _refusal(url, egress)
    assert asked == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("http://93.184.215.14/x", "must use https"),
        ("https://127.1/x", "127.1 is 127.0.0.1, a loopback address"),
        ("https://[::ffff:127.0.0.1]/x", "a form of 127.0.0.1"),
        ("https://localhost./x", "names this machine"),
        ("https://inside.example/x", "inside.example resolves to 10.0.0.5, a private address"),
    ],
)
def test_a_url_of_the_right_form_is_then_judged_by_where_it_reaches(url: str, reason: str) -> None:
    assert PATTERN.fullmatch(url)
    egress, _ = _egress({"hooks.example.com": ["93.184.215.14"], "inside.example": ["10.0.0.5"]})
    assert reason in _refusal(url, egress)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/pond",
        "https://hooks.example.com.:8443/in?k=1",
        "https://my_hooks.example.com/x",
        "https://93.184.215.14/hook",
        "https://[2606:4700:4700::1111]:8443/hook",
    ],
)
def test_public_https_urls_pass_both_checks(url: str) -> None:
    egress, _ = _egress({"hooks.example.com": ["93.184.215.14"]})
    assert _validate(url, egress).url == url


def test_plain_http_is_of_the_right_form_and_reaches_an_allowed_range() -> None:
    egress, _ = _egress({}, "127.0.0.1/32")
    assert _validate("http://127.0.0.1:9/hook", egress).url == "http://127.0.0.1:9/hook"
    outside = _refusal("http://127.0.0.2:9/hook", egress)
    assert "127.0.0.2 is a loopback address" in outside
    assert "POND_WEBHOOK_ALLOW_CIDRS" in outside

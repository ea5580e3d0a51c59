from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from pond.downloads.signing import LinkSigner
from pond.errors import LinkRefused

KEY = "0b2f6a2e-6a53-4f7e-9a0c-1d2e3f4a5b6c/event_000"


def sign(signer: LinkSigner, seconds: int = 60) -> dict[str, str]:
    url = signer.url(
        KEY, expires_at=datetime.now(UTC) + timedelta(seconds=seconds), base_url="http://h"
    )
    assert urlsplit(url).path == f"/objects/{KEY}"
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def check(signer: LinkSigner, key: str, q: dict[str, str]) -> None:
    signer.check(key, kid=q.get("KeyId"), expires=q.get("Expires"), signature=q.get("Signature"))


def test_a_fresh_link_passes() -> None:
    signer = LinkSigner("k1", b"x" * 32)
    check(signer, KEY, sign(signer))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"Expires": "9999999999"}, "does not match"),
        ({"Signature": "abc"}, "does not match"),
        ({"KeyId": "k2"}, "unknown"),
        ({"Expires": "soon"}, "Invalid Expires"),
        ({"Signature": ""}, "requires"),
    ],
)
def test_any_change_is_refused(change: dict[str, str], words: str) -> None:
    signer = LinkSigner("k1", b"x" * 32)
    with pytest.raises(LinkRefused, match=words):
        check(signer, KEY, {**sign(signer), **change})


def test_other_keys_and_other_secrets_are_refused() -> None:
    signer = LinkSigner("k1", b"x" * 32)
    query = sign(signer)
    with pytest.raises(LinkRefused):
        check(signer, KEY.replace("event_000", "event_001"), query)
    with pytest.raises(LinkRefused):
        check(LinkSigner("k1", b"y" * 32), KEY, query)


def test_expired_links_are_refused() -> None:
    signer = LinkSigner("k1", b"x" * 32)
    with pytest.raises(LinkRefused, match="expired"):
        check(signer, KEY, sign(signer, seconds=-5))


def test_the_secret_never_shows_in_repr() -> None:
    assert "xxxx" not in repr(LinkSigner("k1", b"x" * 32))


def test_after_a_rotation_new_links_use_the_new_key_and_old_links_still_pass() -> None:
    signer = LinkSigner("k1", b"x" * 32)
    old = sign(signer)
    signer.use("k2", b"y" * 32, verifying={"k1": b"x" * 32})
    new = sign(signer)
    assert (old["KeyId"], new["KeyId"]) == ("k1", "k2")
    check(signer, KEY, old)
    check(signer, KEY, new)
    assert signer.knows("k1")
    assert signer.knows("k2")


def test_once_the_old_key_is_dropped_its_links_are_refused() -> None:
    signer = LinkSigner("k1", b"x" * 32)
    old = sign(signer)
    signer.use("k2", b"y" * 32)
    assert not signer.knows("k1")
    with pytest.raises(LinkRefused, match="unknown"):
        check(signer, KEY, old)
    with pytest.raises(LinkRefused, match="does not match"):
        check(signer, KEY, {**old, "KeyId": "k2"})

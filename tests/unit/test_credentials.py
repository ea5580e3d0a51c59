from __future__ import annotations

import asyncio
import re

from pond.auth import credentials
from pond.auth.credentials import SecretHasher, Verdict

HASHER = SecretHasher("h1", b"k" * 32)


def verify(hasher: SecretHasher, secret: str, stored: str | None) -> Verdict:
    return asyncio.run(hasher.verify(secret, stored))


def test_ids_and_secrets_look_like_cognitos() -> None:
    assert re.fullmatch(r"[a-z0-9]{26}", credentials.new_client_id())
    assert re.fullmatch(r"[a-z0-9]{52}", credentials.new_client_secret())
    assert credentials.new_client_secret() != credentials.new_client_secret()


def test_a_secret_hash_verifies_only_the_right_secret_under_the_same_key() -> None:
    secret = credentials.new_client_secret()
    stored = HASHER.hash(secret)
    assert stored.startswith("hmac-sha256$h1$")
    assert secret not in stored
    assert verify(HASHER, secret, stored) == Verdict(valid=True)
    assert not verify(HASHER, secret + "x", stored).valid
    assert not verify(SecretHasher("h1", b"j" * 32), secret, stored).valid
    assert not verify(SecretHasher("h2", b"k" * 32), secret, stored).valid
    assert not verify(HASHER, secret, "md5$abc").valid
    assert not verify(HASHER, secret, "hmac-sha256$h1$!!!").valid


def test_unknown_clients_are_refused_after_the_same_work() -> None:
    assert verify(HASHER, "anything", None) == Verdict(valid=False)


def test_a_scrypt_hash_still_verifies_and_comes_with_its_replacement() -> None:
    secret = credentials.new_client_secret()
    stored = credentials.hash_password(secret)
    verdict = verify(HASHER, secret, stored)
    assert verdict.valid
    assert verdict.rehashed is not None
    assert verify(HASHER, secret, verdict.rehashed) == Verdict(valid=True)
    assert verify(HASHER, secret + "x", stored) == Verdict(valid=False)


def test_derived_keys_differ_by_purpose_and_from_any_hash() -> None:
    session = HASHER.derive(b"session")
    assert session == SecretHasher("h1", b"k" * 32).derive(b"session")
    assert session != HASHER.derive(b"other")
    assert session != SecretHasher("h1", b"j" * 32).derive(b"session")
    assert "k" * 8 not in repr(HASHER)


def test_password_hash_verifies_only_the_right_password() -> None:
    password = "correct horse battery staple"
    stored = credentials.hash_password(password)
    assert stored.startswith("scrypt$")
    assert password not in stored
    assert credentials.verify_password(password, stored)
    assert not credentials.verify_password(password + "x", stored)
    assert not credentials.verify_password(password, "md5$abc")
    assert credentials.hash_password(password) != stored  # salted


def test_unknown_operators_are_refused_after_the_same_work() -> None:
    assert not credentials.verify_password("anything", None)

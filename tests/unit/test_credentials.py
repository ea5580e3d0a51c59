from __future__ import annotations

import re

from pond.auth import credentials


def test_ids_and_secrets_look_like_cognitos() -> None:
    assert re.fullmatch(r"[a-z0-9]{26}", credentials.new_client_id())
    assert re.fullmatch(r"[a-z0-9]{52}", credentials.new_client_secret())
    assert credentials.new_client_secret() != credentials.new_client_secret()


def test_hash_verifies_only_the_right_secret() -> None:
    secret = credentials.new_client_secret()
    stored = credentials.hash_secret(secret)
    assert secret not in stored
    assert credentials.verify_secret(secret, stored)
    assert not credentials.verify_secret(secret + "x", stored)
    assert not credentials.verify_secret(secret, "md5$abc")
    assert credentials.hash_secret(secret) != stored  # salted


def test_unknown_clients_are_refused_after_the_same_work() -> None:
    assert not credentials.verify_secret("anything", None)

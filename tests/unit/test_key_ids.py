"""Key ids are typed on the command line (`pond keys retire KID`): none may read as an option."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from pond.auth import keys


def test_a_kid_never_begins_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: Iterator[str] = iter(["-eixOenxyjY", "--x", "eixOenxyjY"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(drawn))

    assert keys.new_kid(8) == "eixOenxyjY"


def test_new_keys_have_kids_a_command_line_takes_as_arguments() -> None:
    kids = [keys.new_secret()[0] for _ in range(2000)]

    assert not [k for k in kids if k.startswith("-")]
    assert len(set(kids)) == len(kids)

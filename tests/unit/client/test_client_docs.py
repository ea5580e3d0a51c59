"""docs/client.md cannot drift: its command reference is the commands' `--help`."""

from __future__ import annotations

from pathlib import Path

from pond.cli import client_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "client.md"


def test_the_command_reference_is_current() -> None:
    block = client_reference.current_block(DOC.read_text(encoding="utf-8"))
    assert block == client_reference.render(), (
        "run `python -m pond.cli.client_reference docs/client.md`"
    )


def test_every_exit_code_and_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for code in range(10):
        assert f"| {code} |" in text
    for variable in ("POND_CLIENT_ID", "POND_CLIENT_SECRET", "POND_API_URL", "POND_TOKEN_URL"):
        assert variable in text

"""Docs that cannot drift: the CLI reference and the settings table."""

from __future__ import annotations

from pathlib import Path

from pond.cli.reference import render
from pond.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_cli_reference_is_current() -> None:
    assert (DOCS / "cli.md").read_text() == render(), "run `make docs-cli` and commit docs/cli.md"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "settings.md").read_text()
    missing = [
        f"POND_{name.upper()}"
        for name in Settings.model_fields
        if f"POND_{name.upper()}" not in text
    ]
    assert missing == []

"""The client command reference in docs/client.md, generated from `--help` so it cannot drift.

`python -m pond.cli.client_reference docs/client.md` rewrites the block between
the markers; a test fails when the block is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer.main

from pond.cli.main import app

BEGIN = "<!-- command reference: generated from --help, do not edit by hand -->"
END = "<!-- end of command reference -->"
COMMANDS = (
    ("configure",),
    ("token",),
    ("snapshot", "create"),
    ("snapshot", "show"),
    ("snapshot", "wait"),
    ("snapshot", "download"),
    ("snapshot", "list"),
    ("snapshot", "delete"),
    ("export",),
    ("sync",),
)


def _find(root: Any, path: tuple[str, ...]) -> Any:
    command = root
    for name in path:
        command = command.commands[name]
    return command


def render() -> str:
    """Markdown: the `--help` of every client command, in a reading order."""
    root = typer.main.get_command(app)
    lines = [BEGIN, ""]
    for path in COMMANDS:
        command = _find(root, path)
        name = " ".join(("pond", *path))
        context = command.context_class(command, info_name=name, terminal_width=100)
        lines += [f"### `{name}`", "", "```text", command.get_help(context), "```", ""]
    lines.append(END)
    return "\n".join(lines)


def current_block(text: str) -> str:
    """The generated block of a document (markers included); empty when it has none."""
    start, end = text.find(BEGIN), text.find(END)
    return text[start : end + len(END)] if start >= 0 and end > start else ""


def update(text: str) -> str:
    """`text` with its generated block replaced by a fresh one."""
    block = current_block(text)
    if not block:
        raise ValueError(f"the document has no {BEGIN!r} ... {END!r} block")
    return text.replace(block, render())


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/client.md")
    target.write_text(update(target.read_text(encoding="utf-8")), encoding="utf-8")

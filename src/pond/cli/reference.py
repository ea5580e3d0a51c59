"""The CLI reference, generated from `--help` so it cannot drift: `python -m pond.cli.reference`.

`make docs-cli` writes it to docs/cli.md; a test fails when the file is stale.
"""

from __future__ import annotations

from typing import Any

import typer.main

from pond.cli import output
from pond.cli.main import app


def _commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    found = [(path, command)]
    subcommands: dict[str, Any] = getattr(command, "commands", None) or {}
    for name in subcommands:
        found += _commands(subcommands[name], [*path, name])
    return found


def render() -> str:
    """Markdown: every command's `--help`, in command order."""
    root = typer.main.get_command(app)
    lines = [
        "# Command reference",
        "",
        "Generated from `--help` by `make docs-cli`; do not edit by hand.",
        "",
    ]
    for path, command in _commands(root, ["pond"]):
        context = command.context_class(command, info_name=" ".join(path), terminal_width=100)
        lines += [f"## `{' '.join(path)}`", "", "```text", command.get_help(context), "```", ""]
    lines += ["## Exit codes", "", _exit_codes(), ""]
    return "\n".join(lines)


def _exit_codes() -> str:
    doc = output.__doc__ or ""
    table = doc[doc.index("====") :].strip()
    rows = [line.split(None, 1) for line in table.splitlines() if line and not line.startswith("=")]
    return "\n".join(["| code | meaning |", "|---|---|", *(f"| {c} | {m} |" for c, m in rows)])


if __name__ == "__main__":
    print(render(), end="")

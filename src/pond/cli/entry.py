"""The `pond` command's entry point: a quick start for the most used client commands, else typer.

The typer application (`pond.cli.main`) is built only when a command needs it:
`pond.cli.shortcut` runs a plainly spelt `pond snapshot download` and its like
without it, so that their start-up is the client's own.
"""

from __future__ import annotations

import sys

from pond.cli import shortcut


def main() -> None:
    """Console-script entry point: run the command, turning pond errors into messages."""
    if shortcut.run(sys.argv[1:]):
        return
    from pond.cli.main import main as run_in_typer

    run_in_typer()

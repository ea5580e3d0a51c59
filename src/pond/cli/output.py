"""Where errors become messages and exit codes: the one place for the whole CLI.

Exit codes (stable, documented in docs/cli.md):

====  =====================================================
0     success
1     unexpected failure (a bug: please report it)
2     usage: bad arguments or input
3     authentication or authorisation refused (credentials, token, download links)
4     not found (a snapshot, or an endpoint the server does not offer)
5     the snapshot failed, expired, or is not complete
6     integrity check failed (size, rows or checksum)
7     timed out waiting
8     configuration error
9     service unavailable
====  =====================================================
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from pond.errors import (
    AuthError,
    ConfigError,
    InputError,
    NotFound,
    OAuthError,
    PondError,
    SnapshotGone,
    Unavailable,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_SNAPSHOT_FAILED = 5
EXIT_INTEGRITY = 6
EXIT_TIMEOUT = 7
EXIT_CONFIG = 8
EXIT_UNAVAILABLE = 9

if TYPE_CHECKING:
    from rich.console import Console


@cache
def stderr_console() -> Console:
    """Rich on stderr, made when first needed (Rich takes a while to import)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code_for(error: PondError) -> int:
    """The documented exit code for a pond error."""
    if isinstance(error, ConfigError):
        return EXIT_CONFIG
    if isinstance(error, InputError):
        return EXIT_USAGE
    if isinstance(error, AuthError | OAuthError):
        return EXIT_AUTH
    if isinstance(error, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(error, SnapshotGone):
        return EXIT_SNAPSHOT_FAILED
    if isinstance(error, Unavailable):
        return EXIT_UNAVAILABLE
    return int(getattr(error, "exit_code", EXIT_FAILURE))


def fail(error: PondError) -> None:
    """Print `error` (and its hint) on stderr."""
    stderr = stderr_console()
    stderr.print(f"[bold red]error:[/] {error.message}", markup=True)
    if error.hint:
        stderr.print(f"[dim]hint:[/] {error.hint}", markup=True)


def run(app: Any) -> None:
    """Run a Typer app, mapping `PondError` to a message and its exit code.

    Usage errors, --help and Ctrl-C are handled by Typer itself (exit 2, 0, 1).
    """
    try:
        app()
    except PondError as error:
        fail(error)
        sys.exit(exit_code_for(error))

"""The `pond` command line: thin commands that parse, call the library and print."""

import sys

# httpx imports its own command-line tool (click, Rich's syntax highlighting,
# pygments) whenever those happen to be installed, as they are with pond's CLI:
# tens of milliseconds of every `pond` command, for a tool pond never runs.
# Marking that one module absent makes httpx skip it (`httpx.main` then says the
# tool is not installed). Done here, before any command module imports httpx,
# and only when httpx is not imported yet.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

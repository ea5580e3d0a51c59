"""Generate the sync client's modules from the async ones, or check that they match.

    python scripts/unasync.py           # write src/pond/client/{client,download,follower}.py
    python scripts/unasync.py --check   # exit 1, with a diff, when one differs

The async modules are the only source. Each sync module is its async source
with plain substitutions (`async def` -> `def`, `await ` -> nothing,
`AsyncClient` -> `Client`, `pond.client.async_wire` -> `pond.client.wire`, ...),
formatted with ruff, under a header that says so. What truly differs between
threads and tasks is hand-written twice under the same names:
`pond.client.concurrency` / `async_concurrency` and `pond.client.wire` /
`async_wire`. A substitution that no longer applies anywhere is an error, so
the list below stays exact.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = Path("src/pond/client")
# (async source, generated sync module), relative to the repository root.
PAIRS = [
    (CLIENT / "async_client.py", CLIENT / "client.py"),
    (CLIENT / "async_download.py", CLIENT / "download.py"),
    (CLIENT / "async_follower.py", CLIENT / "follower.py"),
]
# Applied in order to each line of an async source.
SUBS = [
    (r"\bpond\.client\.async_(\w+)", r"pond.client.\1"),  # the sync twin of a module
    (r"  # noqa: ASYNC\d+.*$", ""),  # a rule for async code only, and why it is waived
    (r"^from collections\.abc import Awaitable, ", "from collections.abc import "),
    (r"\bAwaitable\[([^\[\]]*)\]", r"\1"),
    (r"\bAsync([A-Z]\w*)", r"\1"),  # AsyncClient, AsyncIterator, httpx.AsyncBaseTransport...
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\baclose\b", "close"),
    (r"\bafetch\b", "fetch"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
]
COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in SUBS]


def header(source: Path) -> str:
    return (
        f"# Generated from {source.as_posix()} by scripts/unasync.py: do not edit.\n"
        f"# Change the async module, then run `python scripts/unasync.py`.\n"
    )


def unasync(text: str, used: set[int]) -> str:
    """`text` with every substitution applied, line by line; `used` collects which applied."""
    lines = []
    for line in text.splitlines(keepends=True):
        for index, (pattern, replacement) in enumerate(COMPILED):
            line, count = pattern.subn(replacement, line)
            if count:
                used.add(index)
        lines.append(line)
    return "".join(lines)


def ruff(args: list[str], text: str, path: Path) -> str:
    done = subprocess.run(  # noqa: S603 -- this interpreter's ruff, on text we generated
        [sys.executable, "-m", "ruff", *args, "--quiet", "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"ruff {args[0]} failed on the generated {path}:\n{done.stderr}")
    return done.stdout


def formatted(text: str, path: Path) -> str:
    """`text` with its imports sorted and formatted as ruff does: renamed modules sort
    elsewhere, and shortened lines may be joined."""
    return ruff(["format"], ruff(["check", "--select", "I", "--fix"], text, path), path)


def generate(root: Path, source: Path, target: Path, used: set[int]) -> str:
    """The text the sync module `target` should hold."""
    text = unasync((root / source).read_text(encoding="utf-8"), used)
    return formatted(header(source) + text, ROOT / target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a module differs"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository (default: this script's)"
    )
    options = parser.parse_args(argv)
    used: set[int] = set()
    drifted = []
    for source, target in PAIRS:
        expected = generate(options.root, source, target, used)
        path = options.root / target
        actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual == expected:
            continue
        if options.check:
            drifted.append(target)
            diff = difflib.unified_diff(
                actual.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                f"{target} (as it is)",
                f"{target} (as generated from {source})",
            )
            sys.stdout.writelines(diff)
        else:
            path.write_text(expected, encoding="utf-8")
            print(f"wrote {target}")
    unused = [SUBS[index][0] for index in range(len(SUBS)) if index not in used]
    if unused:
        print(f"substitutions that apply nowhere (remove them): {unused}", file=sys.stderr)
        return 1
    if drifted:
        names = ", ".join(str(target) for target in drifted)
        print(
            f"\n{names}: not what scripts/unasync.py generates from the async source."
            "\nEdit the async module only, then run `python scripts/unasync.py`.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`pond.cli.shortcut`: the commands it runs get exactly what typer would give them;
anything it cannot read without doubt goes to typer."""

from __future__ import annotations

import functools
import inspect
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated, Any

import pytest
import typer
import typer.main

from pond.cli import shortcut
from pond.cli.main import app

READ_HERE = [
    shlex.split(words)
    for words in (
        "snapshot download ID --out d",
        "snapshot download --out=d ID",
        "snapshot download ID --out d --merge all.csv --parallel 8 --fsync --timeout 30m --json",
        "snapshot download ID --out d --profile p --api-url http://h --token-url http://h/token",
        "snapshot download --parallel=64 --out a --out b ID",  # the last one wins, as in typer
        "snapshot download --parallel 1 --out d -- http://h/insights/snapshots/ID",
        "snapshot show ID",
        "snapshot show --json ID --profile p",
        "snapshot wait ID --timeout 90s",
        "snapshot wait --json --api-url=http://h ID",
        "export --from 2019-03-13 --to 2019-03-14 --out d",
        "export --from=2019-03-13 --to 2019-03-14 --out d --parallel 2 --merge all.csv --json",
        "export --from 2019-03-13 --to 2019-03-14 --out d --field a=1 --field=b=2 --gzip",
        "export --from 2019-03-13 --to 2019-03-14 --out d --format parquet --columns id,name",
        "export --from 2019-03-13 --to 2019-03-14 --out d --tz Europe/Paris --entity event",
    )
]
LEFT_TO_TYPER = [
    shlex.split(words)
    for words in (
        "",
        "--version",
        "snapshot download --help",
        "snapshot download ID --out d --help",
        "snapshot download ID",  # --out is required
        "snapshot download ID --out",  # without its value
        "snapshot download ID --out d --parallel 0",  # typer names the bounds
        "snapshot download ID --out d --parallel 65",
        "snapshot download ID --out d --parallel four",
        "snapshot download ID --out d --parallel +4",
        "snapshot download ID --out d --paralel 4",  # misspelt
        "snapshot download ID --out d -p 4",
        "snapshot download ID --out d --json=yes",
        "snapshot download ID --out -d",
        "snapshot download ID --out ''",
        "snapshot download ID another --out d",
        "snapshot show",
        "snapshot show -",
        "snapshot --help show ID",
        "snapshot create --from 2019-03-13 --to 2019-03-14",  # not a command read here
        "export --from 2019-03-13 --to 2019-03-14",  # --out is required
        "export --from 2019-03-13 --to 2019-03-14 --out d --field",  # without its value
        "export --from 2019-03-13 --to 2019-03-14 --out d --field -x",
        "export --from 2019-03-13 --to 2019-03-14 --out d --parallel 0",
        "export --from 2019-03-13 --to 2019-03-14 --out d --no-gzip",
    )
]


def _registered(path: tuple[str, ...]) -> Any:
    """The typer registration (`CommandInfo`) of the command at `path`."""
    *groups, name = path
    commands = app.registered_commands
    for group in groups:
        (found,) = [g for g in app.registered_groups if g.name == group]
        commands = found.typer_instance.registered_commands
    (command,) = [c for c in commands if c.name == name]
    return command


def _typer_reads(words: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keyword arguments typer calls the command of `words` with (the command not run)."""
    path = next(path for path in shortcut.COMMANDS if tuple(words[: len(path)]) == path)
    registered = _registered(path)
    seen: dict[str, Any] = {}

    @functools.wraps(registered.callback)
    def record(**arguments: Any) -> None:
        seen.update(arguments)

    monkeypatch.setattr(registered, "callback", record)
    typer.main.get_command(app).main(words, prog_name="pond", standalone_mode=False)
    return seen


def _with_defaults(function: Callable[..., Any], given: dict[str, Any]) -> dict[str, Any]:
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }
    return {**defaults, **given}


def test_each_command_read_here_is_the_function_typer_runs_for_it() -> None:
    for path, target in shortcut.COMMANDS.items():
        module, _, name = target.partition(":")
        assert f"{_registered(path).callback.__module__}:{name}" == target
        assert _registered(path).callback is getattr(sys.modules[module], name)


@pytest.mark.parametrize("words", READ_HERE, ids=" ".join)
def test_the_arguments_read_here_are_those_typer_would_pass(
    words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = shortcut.command(words)
    assert found is not None
    function, given = found
    assert _with_defaults(function, given) == _typer_reads(words, monkeypatch)


@pytest.mark.parametrize("words", LEFT_TO_TYPER, ids=" ".join)
def test_anything_not_plainly_spelt_is_left_to_typer(words: list[str]) -> None:
    assert shortcut.command(words) is None


def _takes_a_number(every: Annotated[float, typer.Option("--every")] = 1.0) -> None:
    """A command with an option of a kind not read here."""


def _takes_a_choice(flag: Annotated[bool, typer.Option("--flag/--no-flag")] = False) -> None:
    """A flag with a second spelling."""


@pytest.mark.parametrize("function", [_takes_a_number, _takes_a_choice])
def test_commands_with_options_of_other_kinds_are_not_read_here(
    function: Callable[..., None],
) -> None:
    with pytest.raises(shortcut.Declined):
        shortcut.signature(function)


def _pond(*words: str, api_url: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("POND_")}
    env.update(POND_CLIENT_ID="id", POND_CLIENT_SECRET="secret", POND_API_URL=api_url)
    argv = [sys.executable, "-X", "importtime", "-m", "pond", *words]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_command_read_here_starts_without_pydantic_and_fails_as_under_typer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))  # bound, not listening: the connection is refused
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        quick = _pond("snapshot", "show", "some-id", api_url=url)
        typed = _pond("snapshot", "show", "some-id", "--tz", "UTC", api_url=url)  # no --tz here
    assert quick.returncode == 9
    assert "error: cannot reach" in quick.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in quick.stderr.splitlines()]
    assert "httpx" in imported  # the client was loaded and ran
    assert not [name for name in imported if name.startswith(("pydantic", "typer._adapters"))]
    assert typed.returncode == 2  # typer read it, and refused the unknown option
    assert "No such option: --tz" in typed.stderr

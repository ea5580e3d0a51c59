"""A quicker start for the client commands run most often: their arguments read without typer.

To run a command, typer builds a pydantic validator for each of its options,
and so imports pydantic first: about a tenth of a second of every start, more
than many a command's own work, spent before a download's first byte
(docs/benchmarks.md, case 7). For the commands in `COMMANDS`, this module
reads the arguments itself, from the same declarations typer reads
(`typer.utils.get_params_from_function`), and calls the same function with the
same values.

It reads only what it can read without doubt: the declared long options,
spelt `--name value` or `--name=value`, whose values are text, paths or
integers within their bounds, repeatable text options, and flags. Anything
else (`--help`, an unknown or misspelt option, a value typer would refuse or
convert differently, an option of any other kind) is declined and goes to
typer, which answers exactly as before.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pond.cli import output
from pond.errors import PondError

# Commands read here, by their words after `pond`, and the functions typer calls for them.
COMMANDS: dict[tuple[str, ...], str] = {
    ("snapshot", "download"): "pond.cli.client_commands:snapshot_download",
    ("snapshot", "show"): "pond.cli.client_commands:snapshot_show",
    ("snapshot", "wait"): "pond.cli.client_commands:snapshot_wait",
    ("export",): "pond.cli.client_export:export",
}
# What an option's declaration may set without changing how its value is read.
_ONLY_SHOWN = frozenset(
    {
        "autocompletion",
        "default",
        "help",
        "hidden",
        "max",
        "metavar",
        "min",
        "param_decls",
        "rich_help_panel",
        "shell_complete",
        "show_choices",
        "show_default",
        "show_envvar",
    }
)
_DIGITS = re.compile(r"[0-9]+")
Reader = Callable[[str], Any]


class Declined(Exception):
    """The arguments are not plainly what this module reads: typer must read them."""


@dataclass(frozen=True)
class Option:
    """One option: the function's parameter it sets, and how its value is read."""

    parameter: str
    read: Reader | None  # None: a flag, True when given
    many: bool = False  # repeatable: each value is added to a list


@dataclass(frozen=True)
class Signature:
    """What a command takes: arguments in order, options by name, and the required options."""

    arguments: tuple[str, ...]
    options: dict[str, Option]
    required: frozenset[str]


def _text(value: str) -> str:
    # An empty value or one that looks like an option: typer decides what it means.
    if not value or value.startswith("-"):
        raise Declined
    return value


def _path(value: str) -> Path:
    return Path(_text(value))


def _integer(lowest: int | None, highest: int | None) -> Reader:
    def read(value: str) -> int:
        if not _DIGITS.fullmatch(value):
            raise Declined
        number = int(value)
        if (lowest is not None and number < lowest) or (highest is not None and number > highest):
            raise Declined  # typer says what the bounds are
        return number

    return read


def _optional(annotation: Any) -> tuple[Any, bool]:
    """`annotation` without `| None`, and whether it had it."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def _plain(info: Any) -> bool:
    """True when the declaration sets nothing that changes how its value is read."""
    fresh = vars(type(info)())
    return all(
        value == fresh.get(name) for name, value in vars(info).items() if name not in _ONLY_SHOWN
    )


def _repeated(annotation: Any, info: Any) -> bool:
    """True for a repeatable text option that is None unless given (`--field`)."""
    kind, optional = _optional(annotation)
    return (
        get_origin(kind) is list and get_args(kind) == (str,) and optional and info.default is None
    )


def _reader(annotation: Any, info: Any) -> Reader | None:
    if _repeated(annotation, info):
        return _text
    kind, optional = _optional(annotation)
    if info.default not in (..., None) and type(info.default) is not kind:
        raise Declined  # typer would convert the default; the function would get it as is
    if kind is str:
        return _text
    if kind is Path:
        return _path
    if kind is int and not optional:
        return _integer(info.min, info.max)
    if kind is bool and not optional and info.default is False:
        return None
    raise Declined


def signature(function: Callable[..., Any]) -> Signature:
    """What `function`, a typer command, takes; `Declined` if it takes a kind not read here."""
    from typer.models import ArgumentInfo, OptionInfo
    from typer.utils import get_params_from_function

    arguments: list[str] = []
    options: dict[str, Option] = {}
    required: set[str] = set()
    for name, meta in get_params_from_function(function).items():
        info = meta.default
        if not _plain(info):
            raise Declined
        if isinstance(info, ArgumentInfo):
            if _optional(meta.annotation) != (str, False) or info.default is not ...:
                raise Declined
            arguments.append(name)
            continue
        if not isinstance(info, OptionInfo) or not info.param_decls:
            raise Declined
        option = Option(name, _reader(meta.annotation, info), _repeated(meta.annotation, info))
        if option.read is None and len(info.param_decls) != 1:
            raise Declined  # a flag with a second spelling (`--no-...`)
        for declared in info.param_decls:
            if "/" in declared or not declared.startswith("--"):
                raise Declined
            options[declared] = option
        if info.default is ...:
            required.add(name)
    return Signature(tuple(arguments), options, frozenset(required))


def parse(takes: Signature, words: list[str]) -> dict[str, Any]:
    """The keyword arguments `words` give, as typer would pass them; `Declined` if in doubt.

    Parameters not given are left out: the function's defaults then apply, as in typer.
    """
    values: dict[str, Any] = {}
    given: list[str] = []
    rest = iter(words)
    for word in rest:
        if word == "--":
            given.extend(rest)
            break
        if not word.startswith("-"):
            given.append(word)
            continue
        name, equals, attached = word.partition("=")
        option = takes.options.get(name)
        if option is None:
            raise Declined
        if option.read is None:
            if equals:
                raise Declined
            values[option.parameter] = True
            continue
        value = option.read(attached if equals else next(rest, ""))
        if option.many:
            values.setdefault(option.parameter, []).append(value)
        else:
            values[option.parameter] = value
    if len(given) != len(takes.arguments) or not takes.required <= values.keys():
        raise Declined
    values.update((name, _text(word)) for name, word in zip(takes.arguments, given, strict=True))
    return values


def command(words: list[str]) -> tuple[Callable[..., Any], dict[str, Any]] | None:
    """The function for `words` (the arguments after `pond`) and its arguments, or None."""
    for path, target in COMMANDS.items():
        if tuple(words[: len(path)]) != path:
            continue
        module, _, name = target.partition(":")
        try:
            function: Callable[..., Any] = getattr(importlib.import_module(module), name)
            return function, parse(signature(function), words[len(path) :])
        except (Declined, ModuleNotFoundError):  # typer says what it makes of them
            return None
    return None


def run(words: list[str]) -> bool:
    """Run `words` here if they are a command read here; False when typer must read them.

    Errors end the process as under typer: a pond error with its message and exit
    code (`pond.cli.output`), Ctrl-C with 130, a closed stdout with 1.
    """
    found = command(words)
    if found is None:
        return False
    function, arguments = found
    try:
        function(**arguments)
    except PondError as error:
        output.fail(error)
        sys.exit(output.exit_code_for(error))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # The reader of stdout is gone: end quietly (Python's own advice, in its signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    return True

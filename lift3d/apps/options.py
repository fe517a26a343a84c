"""How an app declares its options: one `option(...)` per field of its frozen Config dataclass.

Each field carries its default (written once, here or in the one library function that owns it, read with
`default_of`) and its help text; `lift3d.cli` turns the fields into command-line options. The command-line
spelling follows from the field (``threshold_px: float`` -> ``--threshold-px FLOAT``; ``bool`` -> a flag;
``tuple[...]`` -> several words, or a comma list with ``comma=True``; ``Literal[...]`` -> choices); the
metadata below only names what differs (a short option, another flag name, a positional argument).

This module is light (no numpy / jax): the CLI reads every Config to build its help.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["option", "default_of"]

_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    *,
    help: str,
    flag: str | None = None,
    short: str | None = None,
    positional: bool = False,
    metavar: str | None = None,
    comma: bool = False,
    repeat: bool = False,
    cli: bool = True,
) -> Any:
    """A Config field with its help text and how it is spelled on the command line.

    Args:
        default: The default value (omit for a required option); tuples for sequences.
        help: One line for ``--help``; the default is appended by the CLI.
        flag: The option's name when it is not the field's (e.g. ``--no-refine`` for ``refine: bool = True``,
            which then stores False; ``--max-rms`` for ``max_rms_px``).
        short: A short option such as ``-o``.
        positional: A positional argument (a tuple field takes one or more words).
        metavar: The placeholder shown in the help.
        comma: A tuple field written as one comma-separated word (``--subjects S9,S11``).
        repeat: A tuple field given by repeating the option (``-o a.trc -o a.csv``).
        cli: False: not a command-line option (set by the subcommand itself).

    Returns:
        A `dataclasses.field`.
    """
    meta = {"help": help, "flag": flag, "short": short, "positional": positional, "metavar": metavar,
            "comma": comma, "repeat": repeat, "cli": cli}  # fmt: skip
    return dataclasses.field(default=default, metadata=meta)


def default_of(function: Callable, name: str) -> Any:
    """The default of keyword `name` of a library `function`, for a Config field that passes straight to it
    (so that the default is written once, in the function that gives it a meaning)."""
    default = inspect.signature(function).parameters[name].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{function.__qualname__}({name}=...) has no default")
    return default

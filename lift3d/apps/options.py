"""How an app declares its options: one `option(...)` per field of its frozen Config dataclass.

Each field carries its default (written once, here or in the one library function that owns it, read with
`default_of`), its help text and the values it accepts; `lift3d.cli` turns the fields into command-line
options. The command-line spelling follows from the field (``threshold_px: float`` -> ``--threshold-px FLOAT``;
``bool`` -> a flag; ``tuple[...]`` -> several words, or a comma list with ``comma=True``; ``Literal[...]`` ->
choices); the metadata below only names what differs (a short option, another flag name, a positional argument).

Values are checked in one place, `check_options`, which every Config calls from ``__post_init__``: so the
command line and a library caller building a Config get the same one-line `ConfigError` (``--fps must be a
finite number > 0, got -5``) before any work starts. A float is always refused when it is NaN or infinite;
bounds (`gt`, `ge`, `le`), `choices`, `unique` and a `check` function are declared per field. Checks that need
the data (a camera the rig lacks, a cut-off above the Nyquist frequency of the file's frame rate) belong to the
function that has the data.

This module is light (no numpy / jax): the CLI reads every Config to build its help.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from lift3d.errors import ConfigError

__all__ = ["option", "default_of", "check_options", "option_name"]

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
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    choices: Iterable[str] | None = None,
    unique: bool = False,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """A Config field with its help text, how it is spelled on the command line and the values it accepts.

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
        gt: Numbers (each item of a tuple) must be greater than this.
        ge: Numbers (each item of a tuple) must be at least this.
        le: Numbers (each item of a tuple) must be at most this.
        choices: The accepted names of a `str` field (each item of a tuple), when they live in a library
            registry rather than in a ``Literal`` annotation.
        unique: A tuple field must not hold the same item twice.
        check: Called with a value that is not None; a `ValueError` or `KeyError` it raises refuses the value,
            its message shown after the option's name (a `ConfigError`'s message is shown as is). For names
            and specs a library function already parses (``check=get_skeleton``).

    Returns:
        A `dataclasses.field`.
    """
    meta = {"help": help, "flag": flag, "short": short, "positional": positional, "metavar": metavar,
            "comma": comma, "repeat": repeat, "cli": cli, "gt": gt, "ge": ge, "le": le,
            "choices": tuple(choices) if choices is not None else None, "unique": unique,
            "check": check}  # fmt: skip
    return dataclasses.field(default=default, metadata=meta)


def default_of(function: Callable, name: str) -> Any:
    """The default of keyword `name` of a library `function`, for a Config field that passes straight to it
    (so that the default is written once, in the function that gives it a meaning)."""
    default = inspect.signature(function).parameters[name].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{function.__qualname__}({name}=...) has no default")
    return default


def option_name(field: dataclasses.Field) -> str:
    """How a field is named to the user: its long option (``--threshold-px``), or a positional's metavar."""
    meta = field.metadata
    if meta.get("positional") or not meta.get("cli", True):
        return meta.get("metavar") or field.name
    return meta.get("flag") or "--" + field.name.replace("_", "-")


def check_options(config: Any) -> None:
    """Refuse a Config whose values break what its fields declare (call it from ``__post_init__``).

    Args:
        config: A dataclass instance whose fields were made with `option`.

    Raises:
        ConfigError: For the first field in error; one line naming the option, what it accepts and the value.
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        problem = None if value is None else _problem(field, value)
        if problem:
            raise ConfigError(problem)


def _problem(field: dataclasses.Field, value: Any) -> str | None:
    """What is wrong with a (not None) value of a field, naming the option; None if nothing."""
    meta, name = field.metadata, option_name(field)
    items = value if isinstance(value, tuple | list) else (value,)
    numbers_ = [x for x in items if isinstance(x, numbers.Real) and not isinstance(x, bool)]
    bounds = [(op, meta.get(op)) for op in ("gt", "ge", "le") if meta.get(op) is not None]
    if any(not math.isfinite(x) or not all(_OPS[op](x, b) for op, b in bounds) for x in numbers_):
        integers = all(isinstance(x, numbers.Integral) for x in numbers_)
        if isinstance(value, tuple | list):
            kind = "integers" if integers else "finite numbers"
        else:
            kind = "an integer" if integers else "a finite number"
        return f"{name} must be {kind}{_bounds_text(bounds)}, got {_shown(value)}"
    choices = meta.get("choices")
    unknown = [x for x in items if choices and x not in choices]
    if unknown:
        return f"{name} must be one of {', '.join(map(str, choices))}; got {unknown[0]!r}"
    repeated = [x for i, x in enumerate(items) if x in items[:i]] if meta.get("unique") else []
    if repeated:
        return f"{name} names {repeated[0]} twice; give each one once"
    if meta.get("check") is not None:
        try:
            meta["check"](value)
        except ConfigError as err:  # it names the option itself
            return str(err)
        except (ValueError, KeyError) as err:
            return f"{name}: {err.args[0] if isinstance(err, KeyError) and err.args else err}"
    return None


_OPS = {"gt": lambda x, b: x > b, "ge": lambda x, b: x >= b, "le": lambda x, b: x <= b}
_SYMBOLS = {"gt": ">", "ge": ">=", "le": "<="}


def _bounds_text(bounds: list[tuple[str, float]]) -> str:
    """`` > 0``, `` in [0, 1]``, ..."""
    given = dict(bounds)
    if "ge" in given and "le" in given and len(given) == 2:
        return f" in [{_shown(given['ge'])}, {_shown(given['le'])}]"
    return "".join(f" {'and ' if i else ''}{_SYMBOLS[op]} {_shown(b)}" for i, (op, b) in enumerate(bounds))


def _shown(value: Any) -> str:
    """A value as the user would type it: ``-5`` (not ``-5.0``), ``0,0`` for a pair."""
    if isinstance(value, tuple | list):
        return ",".join(map(_shown, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

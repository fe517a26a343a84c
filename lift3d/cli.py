"""The `lift3d` command line, built from the apps' Config dataclasses (`lift3d.apps`).

Each subcommand is one app: its options are the fields of the app's frozen Config (type, default and help
written once, there; see `lift3d.apps.options`), and running it is ``app.run(Config(**options))``. This module
holds the command line's error policy (the command names, descriptions and examples are the table of
`lift3d.apps.commands`):
a `lift3d.errors.Lift3DError` (or an error of the file system: a missing file, a full disk) prints one line
``lift3d COMMAND: error: MESSAGE`` and exits with status 2; `--debug` shows the full traceback instead. Ctrl-C,
at any moment, prints ``lift3d COMMAND: interrupted`` and exits with status 130, no output touched
(`lift3d.io.interrupts`). A usage error (an unknown option, a word that is not
a number) is one line too, from argparse. Option values are checked by the Config itself
(`lift3d.apps.options.check_options`), so a bad value is a `ConfigError` before any work starts.

Only the chosen command's app is imported (``lift3d --help`` stays light); `build_parser()` with no
argument builds every command (tests, docs).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from lift3d.apps.commands import COMMANDS, EPILOG, GROUPS, Command

_PREFIX = "cfg_"  # namespace prefix of Config fields (keeps them apart from argparse's own entries)


class _Parser(argparse.ArgumentParser):
    """argparse with the command's error policy: a usage error is one line, ``lift3d COMMAND: error: MESSAGE``
    (exit status 2), and a word such as ``-5,10`` after an option is its value, not an unknown option."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # any word starting with "-digit" or "-.digit" is a value (the rule of newer Pythons' argparse); no option of
        # lift3d looks like a negative number
        self._negative_number_matcher = re.compile(r"-\.?\d")

    def error(self, message: str) -> typing.NoReturn:
        """Print one line and exit with status 2 (argparse prints the whole usage first)."""
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal; examples (epilogs) kept line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


# --- Config fields -> argparse options ----------------------------------------------------------------------


def load_app(command: Command) -> tuple[types.ModuleType, type]:
    """The app module and its Config class of a command (imported on demand)."""
    module_name, _, config_name = command.app.partition(":")
    module = importlib.import_module(module_name)
    return module, getattr(module, config_name)


@dataclasses.dataclass(frozen=True)
class _FieldType:
    base: Any  # int, float, str, Path, bool
    choices: tuple | None = None
    sequence: bool = False
    length: int | None = None  # fixed-length tuples, e.g. (W, H)
    optional: bool = False


def field_type(annotation: Any) -> _FieldType:
    """What a Config field's annotation means on the command line (see `lift3d.apps.options`)."""
    optional = False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported option type {annotation}")
        annotation, optional = rest[0], True
    sequence, length = False, None
    if typing.get_origin(annotation) in (tuple, list):
        inner = typing.get_args(annotation)
        sequence = True
        if (len(inner) == 2 and inner[1] is Ellipsis) or typing.get_origin(annotation) is list:
            annotation = inner[0]
        else:
            annotation, length = inner[0], len(inner)
    choices = None
    if typing.get_origin(annotation) is typing.Literal:
        choices = typing.get_args(annotation)
        annotation = type(choices[0])
    if annotation not in (int, float, str, Path, bool):
        raise TypeError(f"unsupported option type {annotation}")
    return _FieldType(annotation, choices, sequence, length, optional)


def _comma_list(ft: _FieldType, name: str) -> Callable[[str], tuple]:
    def parse(word: str) -> tuple:
        items = [x.strip() for x in word.split(",") if x.strip()]
        try:
            values = tuple(ft.base(x) for x in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{word!r}: expected comma-separated {ft.base.__name__} values") from None
        if ft.length is not None and len(values) != ft.length:
            raise argparse.ArgumentTypeError(f"{word!r}: expected {ft.length} comma-separated values")
        bad = [v for v in values if ft.choices and v not in ft.choices]
        if bad or not values:
            choose = f"; choose from {', '.join(map(str, ft.choices))}" if ft.choices else ""
            raise argparse.ArgumentTypeError(f"{word!r}: no or unknown values {bad}{choose}")
        return values

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def cli_default(field: dataclasses.Field) -> str | None:
    """The default of a field as the user would type it (None: nothing worth showing)."""
    value = field.default
    if value is dataclasses.MISSING or value is None or isinstance(value, bool):
        return None
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if field.metadata.get("comma") else " ".join(map(str, value)) or None
    return str(value)


def _add_field(parser: argparse.ArgumentParser, field: dataclasses.Field, ft: _FieldType) -> None:
    meta = field.metadata
    help_text = meta.get("help", "")
    shown = cli_default(field)
    if shown is not None and "default" not in help_text:
        help_text += f" (default: {shown})"
    kwargs: dict[str, Any] = {"help": help_text, "dest": _PREFIX + field.name, "default": argparse.SUPPRESS}
    required = field.default is dataclasses.MISSING
    if meta.get("positional"):
        kwargs["metavar"] = meta.get("metavar") or field.name
        if ft.sequence:
            kwargs["nargs"] = "+" if required else "*"
        elif not required:
            kwargs["nargs"] = "?"
        if not required:  # argparse checks an absent positional's default against the choices
            kwargs["default"] = field.default
        kwargs["type"], kwargs["choices"] = ft.base, ft.choices
        parser.add_argument(**kwargs)  # dest names a positional
        return
    names = [n for n in (meta.get("short"), meta.get("flag") or "--" + field.name.replace("_", "-")) if n]
    if ft.base is bool and not ft.sequence:
        if field.default is True and not meta.get("flag"):
            raise TypeError(f"{field.name}: a bool that defaults to True needs flag='--no-...' to turn it off")
        kwargs["action"] = "store_false" if field.default is True else "store_true"
        parser.add_argument(*names, **kwargs)
        return
    kwargs["required"] = required
    spelled = names[-1].lstrip("-").replace("-", "_").upper()
    kwargs["metavar"] = meta.get("metavar") or (None if ft.choices and not meta.get("comma") else spelled)
    if ft.sequence and meta.get("comma"):
        kwargs["type"] = _comma_list(ft, field.name)
    else:
        kwargs["type"], kwargs["choices"] = ft.base, ft.choices
        if ft.sequence:
            kwargs["action" if meta.get("repeat") else "nargs"] = "append" if meta.get("repeat") else "+"
    parser.add_argument(*names, **kwargs)


def add_config_options(parser: argparse.ArgumentParser, config: type) -> None:
    """Add one argument per command-line field of a Config dataclass."""
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):
        if field.metadata.get("cli", True):
            ft = field_type(hints[field.name])
            if field.metadata.get("choices"):  # names from a library registry (`option(choices=...)`)
                ft = dataclasses.replace(ft, choices=field.metadata["choices"])
            _add_field(parser, field, ft)


def config_from_args(config: type, args: argparse.Namespace, fixed: Iterable[tuple[str, Any]] = ()) -> Any:
    """The Config instance of parsed arguments (fields not given keep the Config's defaults)."""
    values = dict(fixed)
    for field in dataclasses.fields(config):
        if hasattr(args, _PREFIX + field.name):
            value = getattr(args, _PREFIX + field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return config(**values)


# --- the parser ---------------------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser, dest: str, metavar: str) -> argparse._SubParsersAction:
    return parser.add_subparsers(dest=dest, metavar=metavar, required=True)


def _group_examples(head: str) -> str:
    lines = [line.strip() for c in COMMANDS if c.words[0] == head for line in c.epilog.splitlines()[-1:]]
    return "examples:\n" + "\n".join("  " + line.removeprefix("example: ") for line in lines)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the `lift3d` command (exposed for tests and docs).

    Args:
        commands: Top-level commands whose options are built (their apps imported); None: all of them.
            The others are listed with their help line only.
    """
    from lift3d import __version__

    wanted = None if commands is None else set(commands)
    parser = _Parser(
        prog="lift3d",
        description="People filmed by several cameras to 3D joints: calibrate, triangulate, lift, evaluate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lift3d {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    top = _subparsers(parser, "command", "COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in COMMANDS:
        head = command.words[0]
        where = top
        if len(command.words) == 2:
            if head not in groups:
                text, metavar = GROUPS[head]
                group = top.add_parser(head, help=text, description=text[0].upper() + text[1:] + ".",
                                       epilog=_group_examples(head), formatter_class=_Formatter)  # fmt: skip
                groups[head] = _subparsers(group, f"{head}_command", metavar)
            where = groups[head]
        p = where.add_parser(
            command.words[-1], help=command.help, description=command.description, epilog=command.epilog or None,
            formatter_class=_Formatter,
        )  # fmt: skip
        p.set_defaults(command_spec=command)
        if wanted is None or head in wanted:
            add_config_options(p, load_app(command)[1])
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The top-level command in argv (global options take no values), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


# --- running ------------------------------------------------------------------------------------------------


def _enable_compilation_cache() -> None:
    """Keep XLA's compiled programs across runs in ``<cache>/jax`` (``LIFT3D_JAX_CACHE=0`` turns it off).

    Compiling dominates a short command on a CPU (e.g. 20-30 s of `calibrate refine`); a second run of the
    same command loads them in well under a second each.
    """
    import os

    if os.environ.get("LIFT3D_JAX_CACHE", "1").strip() in ("0", "") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    from lift3d.datasets.samples import default_cache_dir
    from lift3d.geometry.lazy_jax import after_import

    def configure(jax) -> None:
        jax.config.update("jax_compilation_cache_dir", str(default_cache_dir() / "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

    after_import("jax", configure)  # when a command first needs JAX: short numpy-only runs never import it


@contextlib.contextmanager
def _one_line_warnings(label: str):
    """Within the block, lift3d's own warnings (`lift3d.errors.Lift3DWarning`) print as one line,
    ``LABEL: warning: MESSAGE``; others keep Python's format."""
    import warnings

    from lift3d.errors import Lift3DWarning

    with warnings.catch_warnings():  # restores showwarning afterwards
        default = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, Lift3DWarning):
                return default(message, category, filename, lineno, file, line)
            print(f"{label}: warning: {' '.join(str(message).split())}", file=file or sys.stderr)

        warnings.showwarning = show
        yield


def _interrupted(interrupts) -> int:
    """After Ctrl-C: delete any temporary file left, print one line; the exit status, 130."""
    from lift3d.io.atomic import discard_temporaries

    discard_temporaries()
    interrupts.reported = True
    print(f"{interrupts.label}: interrupted", file=sys.stderr)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lift3d` console script.

    Args:
        argv: Arguments without the program name; `sys.argv[1:]` if None.

    Returns:
        The exit status: 0 on success, 2 on a user error (a `Lift3DError`, a missing file or another error of
        the file system, printed as one line), 130 on Ctrl-C (one line; no output is touched, see
        `lift3d.io.interrupts`).
    """
    from lift3d.errors import Lift3DError
    from lift3d.geometry.lazy_jax import guard_imports
    from lift3d.io.atomic import deferred_interrupts, discard_temporaries
    from lift3d.io.interrupts import InterruptGuard

    guard_imports(deferred_interrupts)  # JAX is imported on first use, mid-command: Ctrl-C waits for it

    argv = list(sys.argv[1:] if argv is None else argv)
    word = _command_word(argv)
    interrupts = InterruptGuard(f"lift3d {word}" if word else "lift3d")
    args = None
    try:
        interrupts.install()  # first: parsing the options imports the app (JAX), seconds on a small machine
        with deferred_interrupts():  # Ctrl-C inside JAX's extension modules' import can crash the process
            args = build_parser([word] if word else []).parse_args(argv)
            command: Command = args.command_spec
            module, config_class = load_app(command)
        config = config_from_args(config_class, args, command.fixed)
        _enable_compilation_cache()
        with _one_line_warnings(interrupts.label):
            module.run(config)
        if interrupts.interrupted:  # caught and dropped somewhere below: still an interrupted command
            raise KeyboardInterrupt
        return 0
    except KeyboardInterrupt:
        return _interrupted(interrupts)
    except (Lift3DError, OSError) as err:
        if interrupts.interrupted:
            return _interrupted(interrupts)
        discard_temporaries()
        if args is not None and args.debug:
            raise
        message = " ".join(str(err).split("\n"))  # one line, whatever the message
        print(f"{interrupts.label}: error: {message}", file=sys.stderr)
        return 2
    except Exception:
        if interrupts.interrupted:  # Ctrl-C turned into another error (an extension module stopped mid-import)
            return _interrupted(interrupts)
        raise
    finally:
        interrupts.uninstall()


def console_main() -> None:
    """The `lift3d` console script: `main`, then exit. After Ctrl-C with JAX loaded the process leaves at once
    (`os._exit`, output flushed, temporary files already gone): a KeyboardInterrupt that stopped an XLA compile
    leaves native threads that crash the interpreter's shutdown (SIGSEGV instead of status 130)."""
    import os

    status = main()
    if status == 130 and "jax" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    console_main()

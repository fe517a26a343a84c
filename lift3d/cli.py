"""The `lift3d` command line: argument parsing only; each command calls one library function.

Errors that come from the user's input (a malformed file, a missing sample) print one line naming the file
and field, and exit with status 2; `--debug` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EPILOG = """\
examples:
  lift3d demo                                   end-to-end on the real Pose2Sim sample (fetched from PyPI)
  lift3d fetch pose2sim                         download the sample capture into the cache, print its paths
  lift3d rig show Calib.qca.txt                 camera table of a rig (TOML, Qualisys .qca.txt, OpenCV YAML)
  lift3d rig convert Calib.qca.txt rig.toml     convert any rig file to the anipose / Pose2Sim TOML layout

Run `lift3d COMMAND --help` for the options of each command.
"""


def _cmd_demo(args: argparse.Namespace) -> int:
    from lift3d.demo import run_demo

    run_demo(args.out, sample_dir=args.sample)
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from lift3d.data.samples import fetch_sample

    sample = fetch_sample(args.name, cache_dir=args.cache)
    print(f"sample: {sample.root}")
    print(f"trials: {', '.join(sample.trial_names)}")
    print(f"calibration: {sample.qca}")
    return 0


def _cmd_rig_show(args: argparse.Namespace) -> int:
    from lift3d.data.rig_io import format_camera_table, load_rig

    rig = load_rig(args.rig)
    print(f"{args.rig}: {len(rig)} cameras")
    print(format_camera_table(rig))
    return 0


def _cmd_rig_convert(args: argparse.Namespace) -> int:
    from lift3d.data.rig_io import load_rig, save_rig

    save_rig(load_rig(args.input), args.output)
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `lift3d` command (exposed for tests and docs)."""
    from lift3d import __version__

    parser = argparse.ArgumentParser(
        prog="lift3d",
        description="People filmed by several cameras to 3D joints: calibrate, triangulate, lift, evaluate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lift3d {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "demo",
        help="run the end-to-end demo on the real Pose2Sim sample capture",
        description="Fetch the Pose2Sim sample capture (pip download from PyPI, cached), load its Qualisys "
        "calibration, print the camera table and write the outputs to --out.",
    )
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    p.add_argument(
        "--sample",
        type=Path,
        default=None,
        help="use a folder laid out like the fetched sample (pose2sim_trials/, pose2sim_calibration/) "
        "instead of downloading, e.g. an offline copy",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "fetch",
        help="download a sample capture into the cache",
        description="Download a public sample capture with pip (your pip configuration applies), check its "
        "sha256 and extract it into $LIFT3D_CACHE or ~/.cache/lift3d.",
    )
    p.add_argument("name", nargs="?", default="pose2sim", choices=["pose2sim"], help="which sample")
    p.add_argument(
        "--cache", type=Path, default=None, help="cache folder (default: $LIFT3D_CACHE or ~/.cache/lift3d)"
    )
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("rig", help="inspect or convert rig (calibration) files")
    rig_sub = p.add_subparsers(dest="rig_command", metavar="ACTION", required=True)
    q = rig_sub.add_parser(
        "show",
        help="print the camera table of a rig file",
        description="Read a rig file (anipose / Pose2Sim TOML, Qualisys .qca.txt, OpenCV YAML/XML) and print "
        "one row per camera: name, image size, fx, centre in the world and distance to the origin.",
    )
    q.add_argument("rig", type=Path, help="rig file")
    q.set_defaults(func=_cmd_rig_show)
    q = rig_sub.add_parser(
        "convert",
        help="convert a rig file to the anipose / Pose2Sim TOML layout",
        description="Read any supported rig file and write it as anipose / Pose2Sim TOML (metres).",
    )
    q.add_argument("input", type=Path, help="rig file to read")
    q.add_argument("output", type=Path, help="TOML file to write (atomically)")
    q.set_defaults(func=_cmd_rig_convert)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from lift3d.data.samples import SampleUnavailableError

    errors: list[type[BaseException]] = [SampleUnavailableError, FileNotFoundError, NotADirectoryError]
    try:
        from lift3d.data.rig_io import RigFileError

        errors.append(RigFileError)
    except ImportError:  # pragma: no cover - rig_io always ships; keep the CLI usable while developing
        pass
    return tuple(errors)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lift3d` console script.

    Args:
        argv: Arguments without the program name; `sys.argv[1:]` if None.

    Returns:
        The exit status: 0 on success, 2 on a user error, 130 on Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("lift3d: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        if args.debug:
            raise
        print(f"lift3d {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

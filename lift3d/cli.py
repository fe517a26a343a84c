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
  lift3d synthetic --out twin --subjects S9,S11 write the synthetic Human3.6M twin (VideoPose3D layout)
  lift3d eval --pred pred.npz --data twin       per-action MPJPE / P-MPJPE table, Human3.6M-style

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


def _cmd_eval(args: argparse.Namespace) -> int:
    from lift3d.data.h36m import load_h36m
    from lift3d.eval.h36m_eval import evaluate_h36m, load_predictions, select_subjects, write_report

    pred = load_predictions(args.pred, units=args.pred_units)
    data = select_subjects(load_h36m(args.data), args.subjects.split(","), source=str(args.data))
    report = evaluate_h36m(
        pred, data, protocols=args.protocol.split(","), every=args.every, drop_damaged=not args.keep_damaged
    )
    print(report.to_markdown())
    prefix = args.out if args.out is not None else args.pred.with_name(args.pred.stem + "_eval")
    md, js = write_report(report, prefix, title=f"{args.pred.name} on {args.data} (every {args.every})")
    if report.ignored_predictions:
        print(f"\n{report.ignored_predictions} prediction rows matched no evaluated pose (ignored)")
    print(f"\nwrote {md} and {js}")
    return 0


def _cmd_synthetic(args: argparse.Namespace) -> int:
    import jax

    from lift3d.data import synthetic

    ds = synthetic.make_dataset(
        jax.random.key(args.seed),
        subjects=args.subjects.split(","),
        trials=args.trials,
        frames_per_sequence=args.frames,
    )
    writers = {
        "videopose3d": lambda: synthetic.write_videopose3d(ds, args.out),
        "martinez": lambda: synthetic.write_martinez(ds, args.out),
        "learnable": lambda: synthetic.write_learnable_triangulation_labels(
            ds, args.out / "human36m-multiview-labels-GTbboxes.npy"
        ),
    }
    for layout in args.layout.split(","):
        if layout not in writers:
            raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(writers)}")
        written = writers[layout]()
        print(f"{layout}: {written}")
    print(f"{ds.num_frames} poses of {len(ds.subjects)} subjects, {len(ds.sequences)} takes -> {args.out}")
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

    p = sub.add_parser(
        "eval",
        help="evaluate 3D predictions Human3.6M-style (per-action MPJPE / P-MPJPE table)",
        description="Match predictions to Human3.6M ground truth (any of the three layouts: VideoPose3D npz, "
        "Martinez h5, learnable-triangulation labels) and print the per-action table of the papers; "
        "writes PREFIX.md and PREFIX.json. PRED.npz holds points_3d (n, 17, 3) in H36M-17 order, subject, "
        "action (take name, e.g. 'Walking 1'), frame, optionally camera (camera-frame predictions), units.",
        epilog="example: lift3d eval --pred pred.npz --data h36m/ --protocol p1,p2 --every 64",
    )
    p.add_argument("--pred", type=Path, required=True, help="predictions .npz (schema above)")
    p.add_argument(
        "--data", type=Path, required=True, help="Human3.6M folder or file, in any supported layout"
    )
    p.add_argument(
        "--protocol", default="p1,p2", help="comma-separated: p1, p2, n, abs, pck, auc (default: p1,p2)"
    )
    p.add_argument("--every", type=int, default=1, help="evaluate every n-th frame (papers: 1 or 64)")
    p.add_argument(
        "--subjects", default="S9,S11", help="subjects to evaluate (default: the test split S9,S11)"
    )
    p.add_argument("--pred-units", choices=["mm", "m"], default=None, help="override the file's units")
    p.add_argument("--keep-damaged", action="store_true", help="keep S9's damaged takes (dropped by default)")
    p.add_argument("-o", "--out", type=Path, default=None, help="output prefix (default: PRED_eval)")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "synthetic",
        help="write the synthetic Human3.6M twin in the real dataset's file layouts",
        description="Generate the synthetic twin (H36M-proportioned bodies, plausible motion, the real H36M "
        "cameras) and write it as VideoPose3D npz, Martinez h5 and/or learnable-triangulation labels.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--layout", default="videopose3d", help="comma-separated: videopose3d, martinez, learnable"
    )
    p.add_argument("--subjects", default="S1,S5,S6,S7,S8,S9,S11", help="comma-separated subjects")
    p.add_argument("--frames", type=int, default=250, help="frames per take (50 Hz)")
    p.add_argument("--trials", type=int, default=2, help="takes per action")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=_cmd_synthetic)

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
    from lift3d.data.h36m_formats import H36MFormatError
    from lift3d.data.samples import SampleUnavailableError
    from lift3d.eval.h36m_eval import EvaluationError

    errors: list[type[BaseException]] = [
        SampleUnavailableError,
        FileNotFoundError,
        NotADirectoryError,
        H36MFormatError,
        EvaluationError,
    ]
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

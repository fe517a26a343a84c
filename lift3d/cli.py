"""The `lift3d` command line: argument parsing only; each command calls one library function.

Errors that come from the user's input (a malformed file, a missing sample) print one line naming the file
and field, and exit with status 2; `--debug` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

EPILOG = """\
examples:
  lift3d demo                                   end-to-end on the real Pose2Sim sample (fetched from PyPI)
  lift3d fetch pose2sim                         download the sample capture into the cache, print its paths
  lift3d rig show Calib.qca.txt                 camera table of a rig (TOML, Qualisys .qca.txt, OpenCV YAML)
  lift3d rig convert Calib.qca.txt rig.toml     convert any rig file to the anipose / Pose2Sim TOML layout
  lift3d calibrate intrinsics cams/ --board calib/boards/B.toml -o intrinsics.toml
  lift3d triangulate --rig Calib.qca.txt --keypoints pose/cam0*_json --skeleton body_25b --fps 60 -o trial.trc
  lift3d lift --keypoints pose/cam01_json --skeleton body_25b --rig Calib.qca.txt -o lifted.npz
  lift3d train lifter --config experiments/lifter_synthetic.py:smoke --workdir runs/smoke
  lift3d synthetic --out twin --subjects S9,S11 write the synthetic Human3.6M twin (VideoPose3D layout)
  lift3d eval --pred pred.npz --data twin       per-action MPJPE / P-MPJPE table, Human3.6M-style
  lift3d view trial.trc --rig Calib.qca.txt --png frame.png    render a frame headless (or a window, --video)

Run `lift3d COMMAND --help` for the options of each command.
"""


def _cmd_demo(args: argparse.Namespace) -> int:
    from lift3d.apps.demo import run_demo

    run_demo(args.out, sample_dir=args.sample)
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from lift3d.datasets.samples import fetch_sample

    sample = fetch_sample(args.name, cache_dir=args.cache)
    print(f"sample: {sample.root}")
    print(f"trials: {', '.join(sample.trial_names)}")
    print(f"calibration: {sample.qca}")
    return 0


def _cmd_rig_show(args: argparse.Namespace) -> int:
    from lift3d.io.rigs import format_camera_table, load_rig

    rig = load_rig(args.rig)
    print(f"{args.rig}: {len(rig)} cameras")
    print(format_camera_table(rig))
    return 0


def _cmd_rig_convert(args: argparse.Namespace) -> int:
    from lift3d.io.rigs import load_rig, save_rig

    save_rig(load_rig(args.input), args.output)
    print(f"wrote {args.output}")
    return 0


def _cmd_triangulate(args: argparse.Namespace) -> int:
    from lift3d.apps.triangulate import format_summary, triangulate_capture

    result = triangulate_capture(
        args.rig,
        args.keypoints,
        out=args.out,
        format=args.format,
        skeleton=args.skeleton,
        people=args.people,
        method=args.method,
        refine=not args.no_refine,
        threshold_px=args.threshold_px,
        min_confidence=args.min_confidence,
        filter=args.filter,
        max_gap=args.max_gap,
        fps=args.fps,
        y_up=args.y_up,
    )
    for note in result.notes:
        print(f"note: {note}")
    for person in range(result.points_3d.shape[1]):
        print(f"\nperson {person + 1}: {len(result.frame_ids)} frames, {len(result.views)} cameras, {args.method}")
        print(format_summary(result, person))
    for path in result.outputs:
        print(f"wrote {path}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from lift3d.apps import calibrate as pipeline
    from lift3d.io.rigs import format_camera_table

    common = dict(
        report=args.report,
        square_size_mm=args.square_size_mm,
        every=args.every,
        detector=args.detector,
        subpix_window=args.subpix_window,
        min_views=args.min_views,
        model=args.model,
        distortion=args.distortion,
    )
    cameras = pipeline.camera_sources_from_args(args.cameras)
    if args.calibrate_command == "intrinsics":
        rig, report = pipeline.calibrate_intrinsics(
            cameras, args.board, args.out, reject_k=None if args.no_reject else args.reject_k,
            fix_aspect=args.fix_aspect, **common,
        )  # fmt: skip
    else:
        rig, report = pipeline.calibrate_extrinsics(
            cameras,
            args.board,
            args.out,
            intrinsics=args.intrinsics,
            world=args.world,
            refine_intrinsics=args.refine_intrinsics,
            max_rms_px=args.max_rms,
            **common,
        )
    print(format_camera_table(rig))
    print(f"\nwrote {args.out} and its report ({args.report or Path(args.out).with_suffix('.json')})")
    return 0


def _cmd_calibrate_refine(args: argparse.Namespace) -> int:
    from lift3d.apps.refine import run_refine
    from lift3d.io.rigs import format_camera_table

    rig, report = run_refine(
        args.rig, args.keypoints, out=args.out, report=args.report, format=args.format, skeleton=args.skeleton,
        people=args.people or None, min_confidence=args.min_confidence, threshold_px=args.threshold_px,
        max_frames=args.max_frames, refine_intrinsics=args.refine_intrinsics, gauge=args.gauge,
        max_rounds=args.max_rounds,
    )  # fmt: skip
    print(format_camera_table(rig))
    err = report["dlt_error_px"]
    print(f"\nmean reprojection error (DLT of all cameras): {err['initial']:.2f} px -> {err['refined']:.2f} px")
    print(f"wrote {args.out} and its report ({args.report or Path(args.out).with_suffix('.json')})")
    return 0


def _cmd_train_lifter(args: argparse.Namespace) -> int:
    from lift3d.train.lifter_trainer import load_config, train_and_evaluate

    summary = train_and_evaluate(load_config(args.config), args.workdir)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _cmd_train_lt(args: argparse.Namespace) -> int:
    from lift3d.train.lt_trainer import load_config, train_and_evaluate

    config = load_config(args.config)
    if config.model != args.expected_model:
        print(f"lift3d train: error: {args.config} is a {config.model!r} config, not {args.expected_model!r}",
              file=sys.stderr)  # fmt: skip
        return 2
    summary = train_and_evaluate(config, args.workdir)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def _cmd_lift(args: argparse.Namespace) -> int:
    from lift3d.predict.lifter import run_lift

    size = tuple(float(x) for x in args.image_size.split(",")) if args.image_size else None
    written = run_lift(
        args.keypoints,
        format=args.format,
        skeleton=args.skeleton,
        checkpoint=args.checkpoint,
        out=args.out,
        rig=args.rig,
        views=args.views.split(",") if args.views else None,
        person=args.person,
        image_size=size,
        focal_px=args.focal_px,
        min_confidence=args.min_confidence,
        fps=args.fps,
        echo=print,
    )
    for path in written:
        print(f"wrote {path}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from lift3d.datasets.h36m import load_h36m
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

    from lift3d.synthetic import twin as synthetic

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


def _cmd_view(args: argparse.Namespace) -> int:
    from lift3d.apps.view import run_view

    size = tuple(int(x) for x in args.size.split(","))
    with warnings.catch_warnings():  # the notes come back in the result and are printed once, below
        warnings.simplefilter("ignore", UserWarning)
        result = _view(run_view, args, size)
    for note in result.get("notes", ()):
        print(f"note: {note}", file=sys.stderr)
    for key in ("png", "video"):
        if result.get(key):
            print(f"wrote {result[key]}")
    return 0


def _view(run_view, args: argparse.Namespace, size: tuple[int, ...]) -> dict:
    return run_view(
        args.results, rig=args.rig, png=args.png, frame=args.frame, video=args.video, skeleton=args.skeleton,
        camera=args.camera, image_size=size, fps=args.fps,
        trajectories=args.trajectories.split(",") if args.trajectories not in (None, "all") else args.trajectories,
    )  # fmt: skip


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
        description="Fetch the Pose2Sim sample capture (pip download from PyPI, cached) and run the whole "
        "chain on it: camera table of its Qualisys calibration; intrinsics from its checkerboard photos vs "
        "Qualisys; robust triangulation of the balancing trial with filtering (TRC + CSV); one camera lifted "
        "with the shipped lifter and compared with the triangulation; Open3D renders (PNG, MP4, GIF), 2D "
        "overlays and plots; all of it on one page, OUT/report.html. About 1.5 minutes on 2 cores.",
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
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default: $LIFT3D_CACHE or ~/.cache/lift3d)")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("calibrate", help="calibrate cameras from checkerboard / ChArUco images or videos")
    cal = p.add_subparsers(dest="calibrate_command", metavar="STEP", required=True)
    for step, text in (
        ("intrinsics", "per-camera intrinsics (focal length, centre, distortion) from close-up board views"),
        ("extrinsics", "the whole rig (poses of all cameras) from synchronised board views + bundle adjustment"),
    ):
        q = cal.add_parser(
            step,
            help=text,
            description=f"Calibrate {text}. CAMERAS is one folder (a subfolder or video per camera) or "
            "NAME=SOURCE words (SOURCE: image folder, quoted glob, video). Writes the anipose / Pose2Sim TOML "
            "(metres) and a JSON report (per image status and error, coverage); on failure no rig is written.",
            epilog=f"example: lift3d calibrate {step} 'left=imgs/left*.jpg' 'right=imgs/right*.jpg' "
            "--board calib/boards/opencv_chessboard_9x6_25mm.toml -o rig.toml",
        )
        q.add_argument("cameras", nargs="+", help="a folder, or NAME=SOURCE per camera")
        q.add_argument("--board", type=Path, required=True, help="board spec TOML (calib/boards/*.toml)")
        q.add_argument("-o", "--out", type=Path, required=True, help="rig TOML to write")
        q.add_argument("--report", type=Path, default=None, help="JSON report (default: OUT with .json)")
        q.add_argument("--square-size-mm", type=float, default=None, help="override the spec's square size")
        q.add_argument("--every", type=int, default=1, help="use every n-th image / video frame")
        q.add_argument("--detector", choices=["auto", "classic", "sb"], default="auto", help="corner detector")
        q.add_argument(
            "--subpix-window", type=int, default=None, metavar="PX",
            help="half side of the sub-pixel corner window (default: 0.3 x the corner spacing; OpenCV's sample: 11)",
        )  # fmt: skip
        q.add_argument("--min-views", type=int, default=4, help="fewest usable views per camera")
        q.add_argument("--model", choices=["pinhole", "fisheye"], default="pinhole", help="lens model")
        q.add_argument(
            "--distortion", choices=["auto", "k1k2", "k1k2p", "full"], default="auto", help="distortion terms"
        )
        if step == "intrinsics":
            q.add_argument("--reject-k", type=float, default=3.0, help="reject views above median + k MAD")
            q.add_argument("--no-reject", action="store_true", help="keep every detected view")
            q.add_argument("--fix-aspect", action="store_true", help="keep fx = fy")
        else:
            q.add_argument("--intrinsics", type=Path, default=None, help="rig TOML with each camera's intrinsics")
            q.add_argument("--world", default=None, help="world frame: camera:NAME (default first) or board:KEY")
            q.add_argument(
                "--refine-intrinsics", choices=["none", "focal", "focal_center", "all"], default="none",
                help="also adjust intrinsics in the bundle adjustment",
            )  # fmt: skip
            q.add_argument("--max-rms", type=float, default=5.0, help="refuse a rig above this RMS error (px)")
        q.set_defaults(func=_cmd_calibrate)

    q = cal.add_parser(
        "refine",
        help="refine a rig's extrinsics on people's 2D keypoints (bundle adjustment, people as the target)",
        description="Refine the camera poses (optionally intrinsics) of RIG by bundle adjustment on the 2D "
        "keypoints of people seen by several cameras: robust loss, frames spread over the capture, people "
        "re-associated with the refined rig between rounds; world frame and scale held by RIG. Writes the "
        "TOML and a JSON report (reprojection error per camera before / after); on failure no rig is written.",
        epilog="example: lift3d calibrate refine --rig Calib.qca.txt --keypoints single_BalancingTrial/pose/"
        "cam0{1,2,3,4}_json --skeleton body_25b -o refined.toml",
    )
    q.add_argument("--rig", type=Path, required=True, help="initial rig (any rig file)")
    q.add_argument("--keypoints", nargs="+", type=Path, required=True, help="keypoint folder / file per camera")
    q.add_argument("-o", "--out", type=Path, required=True, help="refined rig TOML to write")
    q.add_argument("--report", type=Path, default=None, help="JSON report (default: OUT with .json)")
    q.add_argument("--format", default="openpose", help="openpose, coco, dlc, mediapipe or npz")
    q.add_argument("--skeleton", default=None, help="detector skeleton, e.g. body_25b")
    q.add_argument("--people", type=int, default=1, help="people used as the target (0: all)")
    q.add_argument("--min-confidence", type=float, default=0.3, help="detections below are ignored")
    q.add_argument("--threshold-px", type=float, default=20.0, help="inlier threshold of the robust start (px)")
    q.add_argument("--max-frames", type=int, default=300, help="frames used, spread over the capture")
    q.add_argument("--refine-intrinsics", choices=["none", "focal", "focal_center", "all"], default="none",
                   help="also adjust intrinsics (one person rarely pins them down)")
    q.add_argument("--gauge", choices=["similarity", "reference"], default="similarity",
                   help="how RIG holds the world frame: a similarity to all cameras, or the first camera fixed")
    q.add_argument("--max-rounds", type=int, default=8, help="re-association + adjustment rounds")
    q.set_defaults(func=_cmd_calibrate_refine)

    p = sub.add_parser(
        "triangulate",
        help="triangulate multi-camera 2D keypoints into filtered 3D (TRC, C3D, CSV, npz)",
        description="Read 2D keypoints of each camera, match them to the rig's cameras by name (cam01=cam_01), "
        "associate detections into people across views and over time, triangulate robustly, fill short gaps, "
        "filter, and write 3D files with a per-joint summary (reprojection error, cameras used, gaps).",
        epilog="example: lift3d triangulate --rig Calib.qca.txt --keypoints pose/cam0*_json "
        "--skeleton body_25b --fps 60 -o trial.trc -o trial.csv",
    )
    p.add_argument("--rig", type=Path, required=True, help="rig file: TOML, Qualisys .qca.txt or OpenCV YAML")
    p.add_argument("--keypoints", type=Path, nargs="+", required=True, help="one folder or file per camera")
    p.add_argument("--format", default="openpose", help="openpose, coco, dlc, mediapipe or npz (default openpose)")
    p.add_argument("--skeleton", default=None, help="keypoint skeleton, e.g. body_25b, body_25, coco, halpe_26")
    p.add_argument("--people", type=int, default=1, help="people to keep, most complete tracks first (default 1)")
    p.add_argument(
        "--method",
        choices=["ransac", "dlt", "pose2sim"],
        default="ransac",
        help="ransac: robust best subset (default); dlt: all views; pose2sim: Pose2Sim's camera dropping",
    )
    p.add_argument("--threshold-px", type=float, default=20.0, help="inlier / reprojection threshold in px")
    p.add_argument("--min-confidence", type=float, default=0.3, help="ignore detections below this confidence")
    p.add_argument("--no-refine", action="store_true", help="skip the nonlinear refinement of each point")
    p.add_argument(
        "--filter",
        default="butterworth:6",
        help="none, butterworth:CUTOFF_HZ[:ORDER], one-euro:MIN_CUTOFF[:BETA]",
    )
    p.add_argument("--max-gap", type=int, default=10, help="longest gap (frames) filled by interpolation")
    p.add_argument("--fps", type=float, default=None, help="frame rate (needed by filters when files lack it)")
    p.add_argument("--y-up", action="store_true", help="write Y-up axes (OpenSim) instead of the rig's Z-up")
    p.add_argument("-o", "--out", type=Path, action="append", default=[], help="output file; repeat for several")
    p.set_defaults(func=_cmd_triangulate)

    p = sub.add_parser(
        "lift",
        help="lift single-view 2D keypoints to 3D with the residual MLP lifter",
        description="Map the detector's skeleton to H36M-17 and lift every frame of every view (or --views) to "
        "root-relative 3D in the camera frame (mm) with the shipped lifter (trained on the synthetic twin) or "
        "--checkpoint. Missing joints are fed as masked, never zeroed silently. .npz holds everything; "
        ".trc/.c3d/.csv hold one detection slot (--person).",
        epilog="example: lift3d lift --keypoints pose/cam01_json --skeleton body_25b --rig Calib.qca.txt -o lifted.npz",
    )
    p.add_argument("--keypoints", type=Path, nargs="+", required=True, help="keypoint folder(s) or file(s)")
    p.add_argument("--format", default="openpose", help="openpose, coco, dlc, mediapipe or npz")
    p.add_argument("--skeleton", default=None, help="detector skeleton, e.g. body_25b")
    p.add_argument("--checkpoint", type=Path, default=None, help="lifter folder (default: the shipped one)")
    p.add_argument("--rig", type=Path, default=None, help="rig file: intrinsics (and world axes) of the views")
    p.add_argument("--views", default=None, help="comma-separated views to lift (default all)")
    p.add_argument("--person", type=int, default=0, help="detection slot written to .trc/.c3d/.csv")
    p.add_argument("--image-size", default=None, help="W,H when there is no rig")
    p.add_argument("--focal-px", type=float, default=None, help="focal length in px when there is no rig")
    p.add_argument("--min-confidence", type=float, default=0.3, help="joints below are treated as missing")
    p.add_argument("--fps", type=float, default=None, help="frame rate for motion files")
    p.add_argument("-o", "--out", type=Path, required=True, help="output .npz, .trc, .c3d or .csv")
    p.set_defaults(func=_cmd_lift)

    p = sub.add_parser("train", help="train a model (configs are Python files in experiments/)")
    train_sub = p.add_subparsers(dest="model", metavar="MODEL", required=True)
    q = train_sub.add_parser(
        "lifter",
        help="train the residual MLP lifter on the synthetic twin (resumes from WORKDIR)",
        description="Train the lifter from a config file (FILE.py or FILE.py:variant, e.g. "
        "experiments/lifter_synthetic.py:smoke); metrics as JSON lines and orbax checkpoints in WORKDIR; an "
        "interrupted run resumes from its latest checkpoint.",
    )
    q.add_argument("--config", required=True, help="config file, optionally :variant")
    q.add_argument("--workdir", type=Path, required=True, help="run folder (checkpoints, metrics.jsonl)")
    q.set_defaults(func=_cmd_train_lifter)

    for model, text in (("algebraic", "heatmaps + soft-argmax + confidence-weighted DLT"),
                        ("volumetric", "unprojected features + V2V + 3D soft-argmax")):  # fmt: skip
        q = train_sub.add_parser(
            model,
            help=f"train learnable triangulation ({text}) on multi-view images (resumes from WORKDIR)",
            description=f"Train the {model} model of Iskakov et al. 2019 ({text}) from a config file "
            f"(e.g. experiments/lt_synthetic.py:{model}); the synthetic multi-view image set is rendered into "
            "the cache on first use. Metrics as JSON lines, orbax checkpoints (resume), test predictions in "
            "`lift3d eval`'s format in WORKDIR.",
        )
        q.add_argument("--config", required=True, help="config file, optionally :variant")
        q.add_argument("--workdir", type=Path, required=True, help="run folder (checkpoints, metrics.jsonl)")
        q.set_defaults(func=_cmd_train_lt, expected_model=model)

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
    p.add_argument("--data", type=Path, required=True, help="Human3.6M folder or file, in any supported layout")
    p.add_argument("--protocol", default="p1,p2", help="comma-separated: p1, p2, n, abs, pck, auc (default: p1,p2)")
    p.add_argument("--every", type=int, default=1, help="evaluate every n-th frame (papers: 1 or 64)")
    p.add_argument("--subjects", default="S9,S11", help="subjects to evaluate (default: the test split S9,S11)")
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
    p.add_argument("--layout", default="videopose3d", help="comma-separated: videopose3d, martinez, learnable")
    p.add_argument("--subjects", default="S1,S5,S6,S7,S8,S9,S11", help="comma-separated subjects")
    p.add_argument("--frames", type=int, default=250, help="frames per take (50 Hz)")
    p.add_argument("--trials", type=int, default=2, help="takes per action")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=_cmd_synthetic)

    p = sub.add_parser(
        "view",
        help="look at 3D results in Open3D: a window, or headless PNG / MP4",
        description="Show one or more 3D joint files (.trc, .c3d, .csv, .npz; overlaid in distinct colours, "
        "aligned on their frame numbers) with the rig's camera frusta and a floor grid. Without --png or "
        "--video an interactive window opens when a display exists (space: play / pause, left / right "
        "arrows: step). --png and --video render headless (no display needed: EGL + Mesa's software "
        "driver, Debian packages libegl1 libegl-mesa0 libgl1-mesa-dri, which `make` installs).",
        epilog="examples:\n  lift3d view balancing.trc --rig Calib.qca.txt --png frame.png --frame 10\n"
        "  lift3d view balancing.trc lifted.npz --rig Calib.qca.txt --video trial.mp4\n"
        "  lift3d view balancing.trc --rig Calib.qca.txt --camera cam_01 --png from_cam01.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", nargs="+", type=Path, help="3D joint files (.trc, .c3d, .csv, .npz)")
    p.add_argument("--rig", type=Path, default=None, help="rig file: camera frusta with names, world up axis")
    p.add_argument("--png", type=Path, default=None, help="render one frame to this PNG (headless)")
    p.add_argument("--frame", type=int, default=None,
                   help="frame number as stored in the file (TRC Frame#); default the first with joints")
    p.add_argument("--video", type=Path, default=None, help="render every frame to this .mp4 / .avi (headless)")
    p.add_argument("--camera", default=None, help="view from this rig camera (default: a 3/4 view of the scene)")
    p.add_argument("--skeleton", default=None, help="skeleton for the bones (default: from the joint names)")
    p.add_argument("--size", default="960,720", help="render size W,H in px (default 960,720)")
    p.add_argument("--fps", type=float, default=None, help="video frame rate (default: the file's)")
    p.add_argument("--trajectories", default=None, help="comma-separated joints whose paths are drawn, or 'all'")
    p.set_defaults(func=_cmd_view)

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
    from lift3d.apps.triangulate import CaptureInputError
    from lift3d.datasets.samples import SampleUnavailableError
    from lift3d.errors import CalibrationError
    from lift3d.eval.h36m_eval import EvaluationError
    from lift3d.io.h36m_formats import H36MFormatError
    from lift3d.io.keypoints import KeypointFileError
    from lift3d.io.motion import MotionFileError
    from lift3d.predict.lifter import LiftInputError
    from lift3d.train.checkpoint import CheckpointError

    errors: list[type[BaseException]] = [
        KeypointFileError,
        MotionFileError,
        CaptureInputError,
        CalibrationError,
        LiftInputError,
        CheckpointError,
        SampleUnavailableError,
        FileNotFoundError,
        NotADirectoryError,
        H36MFormatError,
        EvaluationError,
    ]
    from lift3d.apps.view import ViewInputError
    from lift3d.viz.render import RendererUnavailable

    errors += [RendererUnavailable, ViewInputError]
    try:
        from lift3d.io.rigs import RigFileError

        errors.append(RigFileError)
    except ImportError:  # pragma: no cover - rig_io always ships; keep the CLI usable while developing
        pass
    return tuple(errors)


def _enable_compilation_cache() -> None:
    """Keep XLA's compiled programs across runs in ``<cache>/jax`` (``LIFT3D_JAX_CACHE=0`` turns it off).

    Compiling dominates a short command on a CPU (e.g. 20-30 s of `calibrate refine`); a second run of the
    same command loads them in well under a second each.
    """
    import os

    if os.environ.get("LIFT3D_JAX_CACHE", "1").strip() in ("0", "") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    from lift3d.datasets.samples import default_cache_dir

    jax.config.update("jax_compilation_cache_dir", str(default_cache_dir() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


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
        _enable_compilation_cache()
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

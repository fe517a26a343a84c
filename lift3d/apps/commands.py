"""The table of `lift3d` subcommands: words, the app each runs, and the texts of ``--help``.

`lift3d.cli` builds the parser from it; each app's options come from its Config (`lift3d.apps.options`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Command", "COMMANDS", "GROUPS", "EPILOG"]

EPILOG = """\
examples:
  lift3d demo                                   end-to-end on the real Pose2Sim sample (fetched from PyPI)
  lift3d fetch pose2sim                         download the sample capture into the cache, print its paths
  lift3d fetch pose2sim-videos                  4-camera videos of two trials (pose2sim 0.10.49)
  lift3d run session/ --jobs 2                  every trial of a session: videos -> 2D -> sync -> 3D -> report
  lift3d rig show Calib.qca.txt                 camera table of a rig (TOML, Qualisys .qca.txt, OpenCV YAML)
  lift3d rig convert Calib.qca.txt rig.toml     convert any rig file to the anipose / Pose2Sim TOML layout
  lift3d rig align Calib.qca.txt --motion trial.trc -o aligned.toml   floor z = 0 under the feet, z up, x forward
  lift3d calibrate intrinsics cams/ --board calib/boards/B.toml -o intrinsics.toml
  lift3d detect session/ --out pose --overlay   2D keypoints of every video in session/videos/ (JSON + npz)
  lift3d triangulate --rig Calib.qca.txt --keypoints pose/cam0*_json --skeleton body_25b --fps 60 -o trial.trc
  lift3d sync --keypoints pose/cam0*_json --skeleton body_25b --fps 60 -o offsets.toml
  lift3d lift --keypoints pose/cam01_json --skeleton body_25b --rig Calib.qca.txt -o lifted.npz
  lift3d train lifter --config experiments/lifter_synthetic.py:smoke --workdir runs/smoke
  lift3d synthetic --out twin --subjects S9,S11 write the synthetic Human3.6M twin (VideoPose3D layout)
  lift3d eval --pred pred.npz --data twin       per-action MPJPE / P-MPJPE table, Human3.6M-style
  lift3d view trial.trc --rig Calib.qca.txt --png frame.png    render a frame headless (or a window, --video)

Run `lift3d COMMAND --help` for the options of each command.
"""


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its words, the app ("module:ConfigClass", run by the module's `run`) and its texts.

    Attributes:
        words: ("triangulate",) or ("calibrate", "intrinsics").
        app: "lift3d.apps.MODULE:CONFIG".
        help: One line in the parent's command list.
        description: The paragraph of ``lift3d ... --help``.
        epilog: Examples shown after the options.
        fixed: Values of the Config's non-option fields (``cli=False``) set by this command.
    """

    words: tuple[str, ...]
    app: str
    help: str
    description: str = ""
    epilog: str = ""
    fixed: tuple[tuple[str, Any], ...] = ()


_CALIBRATE_TEXT = {
    "intrinsics": "per-camera intrinsics (focal length, centre, distortion) from close-up board views",
    "extrinsics": "the whole rig (poses of all cameras) from synchronised board views + bundle adjustment",
}
_LT_TEXT = {"algebraic": "heatmaps + soft-argmax + confidence-weighted DLT",
            "volumetric": "unprojected features + V2V + 3D soft-argmax"}  # fmt: skip

GROUPS = {  # commands with steps: help, destination, metavar
    "calibrate": ("calibrate cameras from checkerboard / ChArUco images or videos", "STEP"),
    "train": ("train a model (configs are Python files in experiments/)", "MODEL"),
    "rig": ("inspect, convert or align rig (calibration) files", "ACTION"),
}

COMMANDS: tuple[Command, ...] = (
    Command(
        ("run",), "lift3d.apps.pipeline:RunConfig",
        "one command from videos to filtered 3D: detect, sync, triangulate, report (resumable, batches)",
        "FOLDER is a trial (videos/cam01.mp4, videos/cam02.mp4, ...: one video per camera, named after it) or a "
        "session holding trials at any depth (Pose2Sim's session/participant/trial: every folder with videos/ is a "
        "trial). The rig is --rig, or the rig file (Calib.qca.txt, a TOML, OpenCV YAML) in calibration/ of the "
        "trial or of a folder above it. Stages, written into TRIAL/lift3d/ (or --out): 1. detect: 2D keypoints "
        "per camera (pose/CAM_json/ OpenPose JSON, pose/keypoints.npz); 2. sync: time offsets from the people's "
        "motion (sync/offsets.toml; a camera keeps offset 0 when its correlation is not confident or when its "
        "detections fit the other cameras' less with the offset than without, and the report says so; --no-sync "
        "for hardware-synchronised cameras); 3. triangulate: association, robust "
        "triangulation, outlier rejection, gap filling, filter (3d/TRIAL.trc .c3d .csv .npz .bvh); 4. report: "
        "report.html (stage times, the sync found, the 3D summary). stages.json records each finished stage "
        "with a fingerprint of its inputs (paths, sizes, modification times) and options: a rerun skips the "
        "stages whose fingerprint is unchanged, reruns from the first that changed, and after Ctrl-C resumes "
        "the stage that was stopped (detect keeps the cameras it had finished). A table of the stages' wall "
        "times ends the run. With several trials, one failing trial does not stop the others; the summary lists "
        "each trial's status and error, and the exit status is 2 if any failed.",
        "examples:\n"
        "  lift3d run trials/video_SinglePerson                 one trial, calibration/ found in it or above\n"
        "  lift3d run trials/video_SinglePerson --no-sync --filter butterworth:4\n"
        "  lift3d run session/ --jobs 4                         4 trials at once, single-threaded processes\n"
        "  lift3d run session/ --scheduler tcp://head:8786      on a Dask cluster (pip install 'lift3d[cluster]')\n"
        "  lift3d run trial/ --rig rig.toml --out results/ --force    another rig, run every stage again",
    ),
    Command(
        ("demo",), "lift3d.apps.demo:DemoConfig",
        "run the end-to-end demo on the real Pose2Sim sample capture",
        "Fetch the Pose2Sim sample capture (pip download from PyPI, cached) and run the whole chain on it: "
        "camera table of its Qualisys calibration; intrinsics from its checkerboard photos vs Qualisys; robust "
        "triangulation of the balancing trial with filtering (TRC + CSV); one camera lifted with the shipped "
        "lifter and compared with the triangulation; Open3D renders (PNG, MP4, GIF), 2D overlays and plots; "
        "all of it on one page, OUT/report.html. About 1.5 minutes on 2 cores.",
        "example: lift3d demo --sample ../shared/data --out demo_out",
    ),
    Command(
        ("fetch",), "lift3d.apps.fetch:FetchConfig",
        "download a sample capture into the cache",
        "Download a public sample capture with pip (your pip configuration applies), check its sha256 and "
        "extract it into $LIFT3D_CACHE or ~/.cache/lift3d.",
        "example: lift3d fetch pose2sim",
    ),
    *(
        Command(
            ("calibrate", step), f"lift3d.apps.calibrate:{step.capitalize()}Config", text,
            f"Calibrate {text}. CAMERAS is one folder (a subfolder or video per camera) or NAME=SOURCE words "
            "(SOURCE: image folder, quoted glob, video). Writes the anipose / Pose2Sim TOML (metres), a JSON "
            "report (per image status and error, coverage; default OUT with .json)"
            + (" and a coverage map per camera beside it (REPORT_coverage_CAMERA.png)" if step == "intrinsics" else "")
            + ", all of them or none. On failure no rig is written; the report says why, unless that would replace "
            "an earlier run's good report.",
            f"example: lift3d calibrate {step} 'left=imgs/left*.jpg' 'right=imgs/right*.jpg' "
            "--board calib/boards/opencv_chessboard_9x6_25mm.toml -o rig.toml",
        )
        for step, text in _CALIBRATE_TEXT.items()
    ),
    Command(
        ("calibrate", "refine"), "lift3d.apps.refine:RefineConfig",
        "refine a rig's extrinsics on people's 2D keypoints (bundle adjustment, people as the target)",
        "Refine the camera poses (optionally intrinsics) of RIG by bundle adjustment on the 2D keypoints of "
        "people seen by several cameras: robust loss, frames spread over the capture, people re-associated with "
        "the refined rig between rounds; world frame and scale held by RIG. Writes the TOML and a JSON report "
        "(reprojection error per camera before / after); on failure no rig is written.",
        "example: lift3d calibrate refine --rig Calib.qca.txt --keypoints single_BalancingTrial/pose/"
        "cam0{1,2,3,4}_json --skeleton body_25b -o refined.toml",
    ),
    Command(
        ("calibrate", "people"), "lift3d.apps.calibrate_people:PeopleConfig",
        "a rig from people alone: no board, no starting rig (pairwise poses from keypoints + bundle adjustment)",
        "Calibrate every camera's pose from the 2D keypoints of people seen by several cameras: intrinsics from "
        "--intrinsics (e.g. lift3d calibrate intrinsics) or, with --focal-guess, the image size with one focal "
        "length estimated; people associated across views by epipolar consistency, pairwise relative poses "
        "(essential matrix, RANSAC) chained over the best-supported camera pairs, then the people bundle adjustment "
        "of calibrate refine. Scale from the subject's height (--height-m) or --distance; world: floor z = 0 under "
        "the feet, z up (as rig align), else the first camera's frame. Writes the TOML and a JSON report (per "
        "camera error, frames, joints, pairs); on failure no rig is written.",
        "example: lift3d calibrate people --keypoints single_BalancingTrial/pose/cam0{1,2,3,4}_json --skeleton "
        "body_25b --intrinsics intrinsics.toml --height-m 1.72 -o rig.toml",
    ),
    Command(
        ("detect",), "lift3d.apps.detect:DetectConfig",
        "2D keypoints of people in each camera's video or image folder (OpenPose JSON + npz)",
        "Run a 2D pose detector on every frame (or every n-th) of each camera's video or image folder (a "
        "session folder: every video of its videos/; the camera's name is the video's stem or the folder's "
        "name) and write OUT/CAM_json/ (OpenPose / Pose2Sim JSON, one file per frame), OUT/keypoints.npz (all "
        "cameras on the union of their frame numbers, with the video's fps) and, with --overlay, OUT/overlay/"
        "CAM.mp4. Detectors: blazepose (MediaPipe's 33 keypoints; models via lift3d fetch blazepose), a .onnx "
        "top-down pose model (RTMPose-style SimCC or heatmaps, COCO-17 joints), or package.module:factory. A "
        "finished camera is marked in OUT/cameras/ and skipped by the next run (--no-resume detects it again); "
        "after an error or Ctrl-C the finished cameras stay. A truncated video is an error naming the frame "
        "where it stops (--max-frames keeps the frames before it). The result feeds sync and triangulate.",
        "example: lift3d detect videos/cam01.mp4 videos/cam02.mp4 --out pose --overlay",
    ),
    Command(
        ("triangulate",), "lift3d.apps.triangulate:TriangulateConfig",
        "triangulate multi-camera 2D keypoints into filtered 3D (TRC, C3D, CSV, npz)",
        "Read 2D keypoints of each camera, match them to the rig's cameras by name (cam01=cam_01), associate "
        "detections into people across views and over time, triangulate robustly, fill short gaps, filter, and "
        "write 3D files with a per-joint summary (reprojection error, cameras used, gaps). The files are written "
        "together at the end, or none of them (an error, Ctrl-C); with --people above 1, one file per person "
        "(NAME_p1.trc, NAME_p2.trc, ...).",
        "example: lift3d triangulate --rig Calib.qca.txt --keypoints pose/cam0*_json --skeleton body_25b "
        "--fps 60 -o trial.trc -o trial.csv",
    ),
    Command(
        ("sync",), "lift3d.apps.sync:SyncConfig",
        "time offsets between cameras from keypoint motion (offsets TOML for triangulate --offsets)",
        "Read 2D keypoints of each camera, take the main person's speed over the most reliable joints "
        "(confidence-masked, low-pass smoothed, normalised), resample cameras to a common frame rate, and "
        "cross-correlate each camera with the reference over the lag range; the best lag, refined to sub-frame "
        "precision, is the camera's offset. Prints a table (offset in frames and seconds, correlation peak, "
        "a flag when the peak is weak or ambiguous) and writes the offsets TOML.",
        "example: lift3d sync --keypoints pose/cam0*_json --skeleton body_25b --fps 60 -o offsets.toml",
    ),
    Command(
        ("lift",), "lift3d.apps.lift:LiftConfig",
        "lift single-view 2D keypoints to 3D with the residual MLP lifter",
        "Map the detector's skeleton to H36M-17 and lift every frame of every view (or --views) to root-relative "
        "3D in the camera frame (mm) with the shipped lifter (trained on the synthetic twin) or --checkpoint. "
        "Missing joints are fed as masked, never zeroed silently. .npz holds everything; .trc/.c3d/.csv hold "
        "one detection slot (--person), and the full result goes beside it as OUT's .npz unless a file of that "
        "name exists (a file that was not named is never replaced).",
        "example: lift3d lift --keypoints pose/cam01_json --skeleton body_25b --rig Calib.qca.txt -o lifted.npz",
    ),
    Command(
        ("train", "lifter"), "lift3d.apps.train:TrainLifterConfig",
        "train the residual MLP lifter on the synthetic twin (resumes from WORKDIR)",
        "Train the lifter from a config file (FILE.py or FILE.py:variant, e.g. experiments/lifter_synthetic.py:"
        "smoke); metrics as JSON lines and orbax checkpoints in WORKDIR; an interrupted run resumes from its "
        "latest checkpoint.",
        "example: lift3d train lifter --config experiments/lifter_synthetic.py:smoke --workdir runs/smoke",
    ),
    Command(
        ("train", "lifter-selfsup"), "lift3d.apps.train:TrainLifterSelfSupConfig",
        "fine-tune the lifter on a calibrated capture's 2D alone (self-supervised, no 3D; resumes from WORKDIR)",
        "Lift each camera's detections, carry the pose into the other cameras with the rig (root triangulated from "
        "the 2D), project and compare with their detections (robust, confidence-weighted), with bone-length "
        "symmetry and temporal smoothness as priors; starts from the shipped lifter (or --init). The config file "
        "(e.g. experiments/lifter_selfsup.py:real) names the training frames and the weights; the others are held "
        "out. Writes WORKDIR/lifter (use with lift3d lift --checkpoint), metrics.jsonl and results.json: each "
        "view's error against the all-view triangulation, before and after, on trained, held-out and all frames.",
        "example: lift3d train lifter-selfsup --config experiments/lifter_selfsup.py:real --keypoints pose "
        "--skeleton body_25b --rig Calib.qca.txt --workdir runs/selfsup",
    ),
    *(
        Command(
            ("train", model), "lift3d.apps.train:TrainTriangulationConfig",
            f"train learnable triangulation ({text}) on multi-view images (resumes from WORKDIR)",
            f"Train the {model} model of Iskakov et al. 2019 ({text}) from a config file (e.g. "
            f"experiments/lt_synthetic.py:{model}); the synthetic multi-view image set is rendered into the cache "
            "on first use. Metrics as JSON lines, orbax checkpoints (resume), test predictions in `lift3d eval`'s "
            "format in WORKDIR.",
            f"example: lift3d train {model} --config experiments/lt_synthetic.py:{model} --workdir runs/{model}",
            fixed=(("model", model),),
        )
        for model, text in _LT_TEXT.items()
    ),
    Command(
        ("eval",), "lift3d.apps.evaluate:EvaluateConfig",
        "evaluate 3D predictions Human3.6M-style (per-action MPJPE / P-MPJPE table)",
        "Match predictions to Human3.6M ground truth (any of the three layouts: VideoPose3D npz, Martinez h5, "
        "learnable-triangulation labels) and print the per-action table of the papers; writes PREFIX.md and "
        "PREFIX.json. PRED.npz holds points_3d (n, 17, 3) in H36M-17 order, subject, action (take name, e.g. "
        "'Walking 1'), frame, optionally camera (camera-frame predictions), units.",
        "example: lift3d eval --pred pred.npz --data h36m/ --protocol p1,p2 --every 64",
    ),
    Command(
        ("synthetic",), "lift3d.apps.synthetic:SyntheticConfig",
        "write the synthetic Human3.6M twin in the real dataset's file layouts",
        "Generate the synthetic twin (H36M-proportioned bodies, plausible motion, the real H36M cameras) and "
        "write it as VideoPose3D npz, Martinez h5 and/or learnable-triangulation labels.",
        "example: lift3d synthetic --out twin --subjects S9,S11 --layout videopose3d,martinez",
    ),
    Command(
        ("view",), "lift3d.apps.view:ViewConfig",
        "look at 3D results in Open3D: a window, or headless PNG / MP4",
        "Show one or more 3D joint files (.trc, .c3d, .csv, .npz; overlaid in distinct colours, aligned on "
        "their frame numbers) with the rig's camera frusta and a floor grid. Without --png or --video an "
        "interactive window opens when a display exists (space: play / pause, left / right arrows: step). "
        "--png and --video render headless (no display needed: EGL + Mesa's software driver, Debian packages "
        "libegl1 libegl-mesa0 libgl1-mesa-dri, which `make` installs).",
        "examples:\n  lift3d view balancing.trc --rig Calib.qca.txt --png frame.png --frame 10\n"
        "  lift3d view balancing.trc lifted.npz --rig Calib.qca.txt --video trial.mp4\n"
        "  lift3d view balancing.trc --rig Calib.qca.txt --camera cam_01 --png from_cam01.png",
    ),
    Command(
        ("rig", "show"), "lift3d.apps.rig:RigShowConfig",
        "print the camera table of a rig file",
        "Read a rig file (anipose / Pose2Sim TOML, Qualisys .qca.txt, OpenCV YAML/XML) and print one row per "
        "camera: name, image size, fx, centre in the world and distance to the origin.",
        "example: lift3d rig show Calib.qca.txt",
    ),
    Command(
        ("rig", "convert"), "lift3d.apps.rig:RigConvertConfig",
        "convert a rig file to the anipose / Pose2Sim TOML layout",
        "Read any supported rig file and write it as anipose / Pose2Sim TOML (metres): OUTPUT ends in .toml "
        "(OpenCV YAML / XML and Qualisys files are read, not written).",
        "example: lift3d rig convert Calib.qca.txt rig.toml",
    ),
    Command(
        ("rig", "align"), "lift3d.apps.rig_align:RigAlignConfig",
        "set a rig's floor and axes from the people: feet on z = 0, z up, x forward",
        "Find the floor from the foot contacts of MOTION (3D joints triangulated with RIG: still, lowest foot "
        "joints; robust plane, or the body's up where the contacts span only a line or a spot), z up towards the "
        "head, x the walking direction (or --forward), origin the contacts' centroid on the floor (--origin keep: "
        "the old one dropped onto it); write RIG re-expressed in that world (images unchanged: triangulating again "
        "puts the feet on z = 0) and, with --motion-out, the motion. z = 0 is the contact keypoints' height.",
        "example: lift3d rig align Calib.qca.txt --motion trial.trc -o aligned.toml --motion-out trial_aligned.trc",
    ),
)

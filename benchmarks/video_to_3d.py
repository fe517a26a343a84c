"""`lift3d run` on the real sample's four videos, stage by stage, and how its 3D agrees with the OpenPose-based 3D.

Data: ``lift3d fetch pose2sim-videos`` (video_SinglePerson: the balancing trial, 4 cameras x 100 frames at 60 fps)
and, for the comparison, the same trial's OpenPose BODY_25B keypoints that ship with pose2sim 0.8.4
(``../shared/data/pose2sim_trials/single_BalancingTrial``, or ``lift3d fetch pose2sim``).

1. Wall time of `lift3d run` (BlazePose, sync, triangulate, report) into a fresh folder, per stage, then of the
   rerun (every stage skipped).
2. Agreement: the run's 3D (BlazePose-33) against lift3d's triangulation of the OpenPose keypoints (BODY_25B),
   both mapped to the 17 Human3.6M joints, world frame, no alignment, no camera picked by hand: mean over the 17
   joints and over the 12 limb joints both detectors place (hips, knees, ankles, shoulders, elbows, wrists; the
   pelvis, spine, thorax, neck and head are derived differently from each skeleton). With and without the
   left/right swap repair (default on), and against two bounds that show what triangulation choices can and
   cannot fix: the 2D disagreement of the two detectors in each camera (median px per limb joint), and an
   oracle that picks, per joint and frame, the subset of views whose weighted DLT lands closest to the
   OpenPose-based point (unfiltered on both sides: no real method can do better with these detections).

Usage: python benchmarks/video_to_3d.py [--out /tmp/video_to_3d]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

import lift3d
from lift3d.apps.demo_steps import compare_reconstructions
from lift3d.apps.pipeline import RunConfig
from lift3d.apps.pipeline_stages import run_trial
from lift3d.apps.triangulate import triangulate_capture
from lift3d.core.skeleton import get_skeleton
from lift3d.datasets.samples import fetch_sample, sample_from_folder
from lift3d.geometry.triangulation.linear import triangulate_dlt
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LIMBS = ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "left_shoulder",
         "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/video_to_3d"))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(machine_info(lift3d=lift3d.__version__))
    videos = fetch_sample("pose2sim-videos")
    openpose = sample_from_folder(SHARED) if (SHARED / "pose2sim_trials").is_dir() else fetch_sample("pose2sim")
    trial = videos.trial("video_SinglePerson")
    shutil.rmtree(args.out, ignore_errors=True)

    print("\n1. lift3d run, 4 cameras x 100 frames (1.67 s of video at 60 fps)")
    first = run_trial(trial, RunConfig(folder=trial), out=args.out, progress=False, log=None)
    t0 = time.perf_counter()
    again = run_trial(trial, RunConfig(folder=trial), out=args.out, progress=False, log=None)
    rerun = time.perf_counter() - t0
    print("| stage | s | x real time |\n|---|---:|---:|")
    for stage in first.stages:
        print(f"| {stage.name} | {stage.seconds:.2f} | {100 / 60 / max(stage.seconds, 1e-9):.2f} |")
    print(f"| total | {first.seconds:.2f} | {100 / 60 / first.seconds:.2f} |")
    print(f"rerun: {rerun:.2f} s, stages run: {list(again.ran) or 'none'}")

    print("\n2. agreement with the OpenPose-based 3D of the same trial (mm)")
    rig = load_rig(trial / "calibration" / "Calib.qca.txt")
    op_dirs = sorted((openpose.trial("single_BalancingTrial") / "pose").iterdir())
    kp_npz = args.out / "pose" / "keypoints.npz"
    op = triangulate_capture(rig, op_dirs, skeleton="body_25b", fps=60, progress=False)
    print("| 3D from BlazePose | 17 joints | 12 limb joints |\n|---|---:|---:|")
    for label, kw in (("lift3d run default (swap repair on)", {}), ("swap repair off (--keep-swaps)",
                      {"swaps": False}), ("plain weighted DLT, no repair", {"method": "dlt", "swaps": False})):
        res = triangulate_capture(rig, [kp_npz], format="npz", fps=60, progress=False, **kw)
        agree = compare_reconstructions(op.points_3d[:, 0], "body_25b", res.points_3d[:, 0], "blazepose", units="m")
        print(f"| {label} | {agree.mean_mm:.1f} | {agree.direct_mean_mm:.1f} |")
        if not kw:
            print("per joint: " + ", ".join(f"{n} {x:.0f}" for n, x in zip(agree.joint_names, agree.per_joint_mm,
                                                                              strict=True)))  # fmt: skip
    bounds(rig, kp_npz, op_dirs, op)


def bounds(rig, kp_npz: Path, op_dirs, op) -> None:
    """The detectors' 2D disagreement per camera, and the oracle view choice (see the module doc)."""
    bp = read_keypoints(kp_npz, format="npz")
    o2d = read_keypoints(op_dirs, format="openpose", skeleton="body_25b")
    bi, oi = bp.skeleton.indices(LIMBS), o2d.skeleton.indices(LIMBS)
    print("\n2D disagreement, BlazePose vs OpenPose, same frames (median px over frames, per limb joint):")
    for v, view in enumerate(o2d.views):
        b = bp.points[:, v, 0][:, bi]  # (t, 12, 2)
        o = o2d.points[:, v][:, :, oi]  # (t, p, 12, 2): the OpenPose person nearest to BlazePose's
        d = np.linalg.norm(o - b[:, None], axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            person = np.nanargmin(np.where(np.isfinite(d).any(-1), np.nanmean(d, -1), np.inf), 1)
        dd = d[np.arange(len(d)), person]
        print(f"  {view}: median {np.nanmedian(dd):.1f} px ({', '.join(f'{x:.0f}' for x in np.nanmedian(dd, 0))})")
    ref = np.asarray(op.raw_points_3d[:, 0][:, get_skeleton("body_25b").indices(LIMBS)])
    uv, cf = bp.points[:, :, 0][:, :, bi], bp.confidence[:, :, 0][:, :, bi]
    best = np.full(ref.shape[:2], np.inf)
    for k in range(2, uv.shape[1] + 1):
        for views in itertools.combinations(range(uv.shape[1]), k):
            mask = np.isin(np.arange(uv.shape[1]), views)[None, :, None]
            X, _ = triangulate_dlt(rig.cameras, uv, np.where(mask, cf, 0))
            d = np.linalg.norm(np.asarray(X) - ref, axis=-1) * 1000
            best = np.fmin(best, np.where(np.isfinite(d), d, np.inf))
    best[np.isinf(best)] = np.nan
    print(f"oracle view choice (unfiltered), 12 limb joints: {np.nanmean(best):.1f} mm")


if __name__ == "__main__":
    main()

"""Lift each view of Pose2Sim's real trials and compare with the 4-view triangulation of the same frames.

Run: ``.venv/bin/python experiments/lifter_pose2sim.py [--checkpoint DIR] [--trials NAME ...] [--modes rig ...]
[--out runs/lifter_pose2sim.json]`` (default: the balancing trial, all three intrinsics modes).

Data: ``shared/data/pose2sim_trials/<trial>`` (OpenPose BODY_25B, 4 portrait cameras; the balancing trial has
100 frames) and the trials' Qualisys calibration. Per frame and view the detection slot with the highest mean
confidence over the mapped H36M-17 joints is the subject (cam01 and cam02 also see a bystander). The
reference is a confidence-weighted DLT (`triangulate_dlt`) of the mapped joints over the 4 views (joints
below confidence 0.3 dropped, as Pose2Sim does), taken into each camera's frame and made root-relative.
It is a detector-based reference, not ground truth (its reprojection error is ~14 px). Both sides use
the same mapped joints, so the mapping's offsets (mid-hip pelvis, etc.) cancel out of the comparison,
but the lifter was trained on H36M's joint definitions, which differ from the mapped ones by a few cm.

Metrics per view: P1 (MPJPE, root-aligned, camera frame), P2 (P-MPJPE), PCK3D@150 mm, over the frames
where both exist; how many frames' lifts stand less than `TILTED_MM` tall in world axes (a body tilted in
depth); the lifter with exact rays (rig), with only the image size, and with no intrinsics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pose2sim_trials"


MODES = ("rig", "image_size", "none")
TILTED_MM = 1200.0
"""A lifted person whose extent along the world's vertical is below this is counted as tilted in depth (the trials'
people stand: their triangulated extent is 1.4-1.6 m)."""


def main(argv=None) -> dict:
    """Run the comparison and print a markdown table per trial; returns the numbers."""
    from lift3d.io.rigs import load_rig
    from lift3d.predict.lifter import load_lifter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="lifter folder (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=DATA, help="pose2sim_trials folder")
    parser.add_argument("--trials", nargs="+", default=["single_BalancingTrial"],
                        help="trial folders in --data, or paths to keypoint folders (CAM_json/ inside)")
    parser.add_argument("--skeleton", default="body_25b", help="the keypoints' skeleton (blazepose: lift3d detect)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, help="intrinsics given")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    rig = load_rig(args.data / "Calib_qualisys_from_v0.4.15.toml").to_units("mm")
    lifter = load_lifter(args.checkpoint)
    print(f"checkpoint: {lifter.path}\n")
    out = {"checkpoint": str(lifter.path), "trials": {}}
    for trial in args.trials:
        folder = Path(trial) if Path(trial).is_dir() else args.data / trial
        folder = folder / "pose" if (folder / "pose").is_dir() else folder
        out["trials"][trial] = score_trial(lifter, folder, rig, args.modes, args.skeleton)
    if len(args.trials) == 1:  # the single-trial layout of earlier runs
        out |= out["trials"][args.trials[0]]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return out


def score_trial(lifter, pose_dir: Path, rig, modes, skeleton: str = "body_25b") -> dict:
    """One trial: every view lifted vs the 4-view triangulation; prints its table, returns its numbers."""
    from lift3d.core.skeleton import H36M_17, map_to_h36m
    from lift3d.eval import metrics
    from lift3d.geometry.triangulation import reprojection_error, triangulate_dlt
    from lift3d.io.keypoints import read_keypoints
    from lift3d.io.keypoints_openpose import read_openpose
    from lift3d.predict.lifter import lift_keypoints

    if (pose_dir / "keypoints.npz").is_file():  # lift3d detect's output
        kp = read_keypoints(pose_dir / "keypoints.npz")
    else:
        kp = read_openpose(pose_dir, skeleton=skeleton, fps=60.0)
    conf = np.where(kp.confidence >= 0.3, kp.confidence, 0.0)
    pts, c = (np.asarray(a) for a in map_to_h36m(kp.points, conf, kp.skeleton))  # (t, v, p, 17, ...)
    slot = np.argmax(c.mean(-1), axis=-1)  # (t, v): the most confident detection
    take = lambda a: np.take_along_axis(a, slot[:, :, None, None, *([None] * (a.ndim - 4))], 2)[:, :, 0]  # noqa: E731
    pts1, c1 = take(pts), take(c)
    X, _ = triangulate_dlt(rig.cameras, np.nan_to_num(pts1), c1)  # (t, 17, 3) world mm
    X = np.asarray(X, np.float64)
    used = np.where(c1 > 0, 1.0, np.nan)
    reproj = float(np.nanmean(np.asarray(reprojection_error(rig.cameras, X, pts1)) * used))
    # joints read straight from the detector joint of that name (the others are derived: pelvis = mid-hips)
    limbs = np.isin(np.asarray(H36M_17.joints), [n for n in H36M_17.joints if n.startswith(("left_", "right_"))])
    R, tvec = np.asarray(rig.cameras.R), np.asarray(rig.cameras.t)
    ref = np.einsum("vik,tjk->tvji", R, X) + tvec[None, :, None]  # (t, v, 17, 3) camera mm
    ref = ref - ref[:, :, :1]

    results, timings = {}, {}
    kwargs = {"rig": {"rig": rig}, "image_size": {"image_size": (1088, 1920)}, "none": {}}
    for mode in modes:
        kw = kwargs[mode]
        t0 = time.perf_counter()
        res = lift_keypoints(kp, checkpoint=lifter, **kw)
        timings[mode] = time.perf_counter() - t0
        lifted = take(res.points_3d)  # (t, v, 17, 3)
        rows = {}
        for v, name in enumerate(kp.views):
            p, g = lifted[:, v], ref[:, v]
            ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
            height = np.einsum("ki,tjk->tji", R[v], p)[..., 2]  # the lift in world axes: its vertical extent
            rows[name] = {
                "tilted": int(((height.max(-1) - height.min(-1)) < TILTED_MM).sum()),
                "p1_mm": float(metrics.mpjpe(p, g, mask=ok)),
                "p2_mm": float(metrics.p_mpjpe(p, g, mask=ok)),
                "pck3d": float(metrics.pck3d(p, g, mask=ok)),
                "p2_limbs_mm": float(metrics.p_mpjpe(p, g, mask=ok & limbs)),
                "frames": int(ok.all(-1).sum()),
            }
        results[mode] = rows
    print(f"{pose_dir}: {len(kp.points)} frames; triangulation: mean reprojection error {reproj:.1f} px "
          "over the views used\n")
    print("| intrinsics | view | frames | P1 mm | P2 mm | PCK3D@150 | P2 limb joints mm | lifts < 1.2 m tall |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, rows in results.items():
        for name, r in rows.items():
            print(
                f"| {mode} | {name} | {r['frames']} | {r['p1_mm']:.1f} | {r['p2_mm']:.1f} "
                f"| {r['pck3d']:.3f} | {r['p2_limbs_mm']:.1f} | {r['tilted']} |"
            )
        mean = {k: np.mean([r[k] for r in rows.values()]) for k in ("p1_mm", "p2_mm", "pck3d", "p2_limbs_mm")}
        print(
            f"| {mode} | mean | | {mean['p1_mm']:.1f} | {mean['p2_mm']:.1f} | {mean['pck3d']:.3f} "
            f"| {mean['p2_limbs_mm']:.1f} | {sum(r['tilted'] for r in rows.values())} |"
        )
    print()
    return {"results": results, "lift_time_s": timings, "reprojection_px": reproj,
            "triangulated_joints": int(np.isfinite(X).all(-1).sum())}  # fmt: skip


if __name__ == "__main__":
    main()

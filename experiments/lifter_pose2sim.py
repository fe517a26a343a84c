"""Lift each view of Pose2Sim's balancing trial and compare with the 4-view triangulation of the same frames.

Run: ``.venv/bin/python experiments/lifter_pose2sim.py [--checkpoint DIR] [--out runs/lifter_pose2sim.json]``

Data: ``shared/data/pose2sim_trials/single_BalancingTrial`` (OpenPose BODY_25B, 4 portrait cameras,
100 frames) and its Qualisys calibration. Per frame and view the detection slot with the highest mean
confidence over the mapped H36M-17 joints is the subject (cam01 and cam02 also see a bystander). The
reference is a confidence-weighted DLT (`triangulate_dlt`) of the mapped joints over the 4 views (joints
below confidence 0.3 dropped, as Pose2Sim does), taken into each camera's frame and made root-relative.
It is a detector-based reference, not ground truth (its reprojection error is ~14 px). Both sides use
the same mapped joints, so the mapping's offsets (mid-hip pelvis, etc.) cancel out of the comparison,
but the lifter was trained on H36M's joint definitions, which differ from the mapped ones by a few cm.

Metrics per view: P1 (MPJPE, root-aligned, camera frame), P2 (P-MPJPE), PCK3D@150 mm, over the frames
where both exist; the lifter with exact rays (rig), with only the image size, and with no intrinsics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "pose2sim_trials"


def main(argv=None) -> dict:
    """Run the comparison and print a markdown table; returns the numbers."""
    from lift3d.core.skeleton import H36M_17, map_to_h36m
    from lift3d.eval import metrics
    from lift3d.geometry.triangulation import reprojection_error, triangulate_dlt
    from lift3d.io.keypoints_openpose import read_openpose
    from lift3d.io.rigs import load_rig
    from lift3d.predict.lifter import lift_keypoints, load_lifter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="lifter folder (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=DATA, help="pose2sim_trials folder")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    kp = read_openpose(args.data / "single_BalancingTrial" / "pose", skeleton="body_25b", fps=60.0)
    rig = load_rig(args.data / "Calib_qualisys_from_v0.4.15.toml").to_units("mm")
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

    lifter = load_lifter(args.checkpoint)
    results, timings = {}, {}
    for mode, kw in (("rig", {"rig": rig}), ("image_size", {"image_size": (1088, 1920)}), ("none", {})):
        t0 = time.perf_counter()
        res = lift_keypoints(kp, checkpoint=lifter, **kw)
        timings[mode] = time.perf_counter() - t0
        lifted = take(res.points_3d)  # (t, v, 17, 3)
        rows = {}
        for v, name in enumerate(kp.views):
            p, g = lifted[:, v], ref[:, v]
            ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
            rows[name] = {
                "p1_mm": float(metrics.mpjpe(p, g, mask=ok)),
                "p2_mm": float(metrics.p_mpjpe(p, g, mask=ok)),
                "pck3d": float(metrics.pck3d(p, g, mask=ok)),
                "p2_limbs_mm": float(metrics.p_mpjpe(p, g, mask=ok & limbs)),
                "frames": int(ok.all(-1).sum()),
            }
        results[mode] = rows
    print(f"checkpoint: {lifter.path}\n")
    print(f"triangulation: mean reprojection error {reproj:.1f} px over the views used\n")
    print("| intrinsics | view | frames | P1 mm | P2 mm | PCK3D@150 | P2 limb joints mm |")
    print("|---|---|---|---|---|---|---|")
    for mode, rows in results.items():
        for name, r in rows.items():
            print(
                f"| {mode} | {name} | {r['frames']} | {r['p1_mm']:.1f} | {r['p2_mm']:.1f} "
                f"| {r['pck3d']:.3f} | {r['p2_limbs_mm']:.1f} |"
            )
        mean = {k: np.mean([r[k] for r in rows.values()]) for k in ("p1_mm", "p2_mm", "pck3d", "p2_limbs_mm")}
        print(
            f"| {mode} | mean | | {mean['p1_mm']:.1f} | {mean['p2_mm']:.1f} | {mean['pck3d']:.3f} "
            f"| {mean['p2_limbs_mm']:.1f} |"
        )
    out = {"checkpoint": str(lifter.path), "results": results, "lift_time_s": timings,
           "reprojection_px": reproj,
           "triangulated_joints": int(np.isfinite(X).all(-1).sum())}  # fmt: skip
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()

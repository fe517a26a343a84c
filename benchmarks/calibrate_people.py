"""`lift3d calibrate people` on Pose2Sim's real trials: the figures of issue 20 (a rig from people alone).

Data: `../shared/data/pose2sim_trials` (OpenPose BODY_25B, 4 portrait cameras 1088 x 1920, 100 frames):
`single_BalancingTrial` (one subject on a beam, 1.72 m, a bystander in cam01 / cam02) and
`multi_Participants1-2` (two participants, 1.21 m and 1.72 m, plus bystanders; the most complete person, the one
used by default, fits a pinhole rig to 0.1 px: it was projected through a rig about 1 deg / 5 cm from Qualisys).
Reference: the Qualisys calibration `Calib.qca.txt`. Cases:

1. balancing trial, intrinsics from the checkerboard photos (`lift3d calibrate intrinsics` on
   `../shared/data/pose2sim_calibration/intrinsics`, run here first, not timed);
2. the same with the Qualisys intrinsics as the intrinsics file (stand-in: separates the intrinsics' share);
3. the same with only the image size (`--focal-guess`: one shared focal length estimated);
4. the two-person trial with the photos' intrinsics, and 5. with `--focal-guess`.

Per case: wall and CPU time of `calibrate_from_people` (the process already warm: imports and reading excluded),
mean DLT reprojection error (all confident detections of the person, no inlier selection), per camera the
rotation and centre errors against Qualisys after the best similarity of the centres, the similarity's scale
(1 = the scale from the subject's height is exact), fx against Qualisys, and the world frame found. For the
photos' intrinsics it also prints how far their principal points are from Qualisys' (as an angle: a rotation
error the rig must carry).

Usage: .venv/bin/python -m benchmarks.calibrate_people [--skip-multi]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine_info
from lift3d.calibration.people_rig import calibrate_from_people, guess_intrinsics, people_report
from lift3d.calibration.solvers.points_bundle import rig_shape_errors
from lift3d.core.keypoints import match_views
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRIALS = DATA / "pose2sim_trials"


def photo_intrinsics(folder: Path):
    """Intrinsics from the checkerboard photos (`calibrate_intrinsics`), as a rig."""
    from lift3d.apps.calibrate import calibrate_intrinsics

    out = folder / "intrinsics.toml"
    board = Path(__file__).resolve().parents[1] / "calib" / "boards" / "pose2sim_checkerboard_4x7_60mm.toml"
    calibrate_intrinsics(DATA / "pose2sim_calibration" / "intrinsics", board, out)
    return load_rig(out)


def run_case(label: str, trial: str, intrinsics, height_m: float) -> None:
    kp = read_keypoints([TRIALS / trial / "pose" / f"cam0{i}_json" for i in range(1, 5)], format="openpose",
                        skeleton="body_25b")  # fmt: skip
    kp, qualisys = match_views(kp, load_rig(TRIALS / "Calib.qca.txt"))
    v = len(qualisys)
    if intrinsics is None:
        cams = guess_intrinsics((1088, 1920), v)
    else:
        cams = intrinsics.match(kp.views).cameras
        cams = cams.replace(R=np.tile(np.eye(3), (v, 1, 1)), t=np.zeros((v, 3)))
    t0, c0 = time.perf_counter(), time.process_time()
    result = calibrate_from_people(qualisys.names, cams, kp.points, kp.confidence, joints=kp.skeleton.joints,
                                   fps=60.0, estimate_focal=intrinsics is None, height_m=height_m)  # fmt: skip
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    err = rig_shape_errors(result.rig.cameras, qualisys.cameras)
    report = people_report(result)
    fx, fq = np.asarray(result.rig.cameras.K)[:, 0, 0], np.asarray(qualisys.cameras.K)[:, 0, 0]
    print(f"\n## {label}: {trial}, height {height_m} m")
    print(f"time {wall:.1f} s wall, {cpu:.1f} s CPU; {report['rounds']} adjustment rounds ({report['status']})")
    print(f"mean DLT reprojection error {report['dlt_error_px']:.2f} px (inliers {report['inlier_error_px']:.2f} px)")
    print(f"vs Qualisys after a similarity: rotation max {err['rotation_deg'].max():.2f} deg, centre max "
          f"{100 * err['centre'].max():.1f} cm; similarity scale {err['scale']:.4f} (scale from the height "
          f"{100 * (1 / err['scale'] - 1):+.1f} %)")  # fmt: skip
    print(f"world: {report['world_note']}")
    if report["focal"]:
        f = report["focal"]
        rel = 100 * (f["estimate_px"] / fq - 1)
        print(f"focal (shared, start {f['initial_px']:.0f} px): {f['estimate_px']:.1f} px, std {f['std_px']:.1f} px; "
              f"vs Qualisys fx {rel.min():+.1f} to {rel.max():+.1f} %")  # fmt: skip
    print("| camera | DLT error (px) | frames | joints | pairs used | rotation vs Qualisys (deg) | centre (cm) | "
          "fx (px) | Qualisys fx |")  # fmt: skip
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for i, (name, cam) in enumerate(report["cameras"].items()):
        print(f"| {name} | {cam['dlt_error_px']:.2f} | {cam['frames']} | {cam['joints']} | "
              f"{', '.join(cam['pairs_used'])} | {err['rotation_deg'][i]:.2f} | {100 * err['centre'][i]:.1f} | "
              f"{fx[i]:.1f} | {fq[i]:.1f} |")  # fmt: skip
    print("pairs: " + "; ".join(
        f"{'-'.join(p['cameras'])} {p['inliers']}/{p['correspondences']} inliers, {p['angle_deg']:.0f} deg"
        + (" (tree)" if p["in_tree"] else "") for p in report["pairs"]))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-multi", action="store_true", help="only the balancing trial")
    args = ap.parse_args()
    import cv2
    import scipy

    print(machine_info(numpy=np.__version__, scipy=scipy.__version__, opencv=cv2.__version__))
    with tempfile.TemporaryDirectory() as tmp:
        photos = photo_intrinsics(Path(tmp))
    qualisys = load_rig(TRIALS / "Calib.qca.txt")
    K, Kq = np.asarray(photos.cameras.K), np.asarray(qualisys.cameras.K)
    angle = np.degrees(np.arctan(np.linalg.norm(K[:, :2, 2] - Kq[:, :2, 2], axis=-1) / Kq[:, 0, 0]))
    print("photos' principal points vs Qualisys, as angles (deg): " + ", ".join(f"{a:.2f}" for a in angle))
    run_case("1. intrinsics from the checkerboard photos", "single_BalancingTrial", photos, 1.72)
    run_case("2. Qualisys intrinsics (stand-in intrinsics file)", "single_BalancingTrial", qualisys, 1.72)
    run_case("3. --focal-guess (image size only)", "single_BalancingTrial", None, 1.72)
    if not args.skip_multi:
        run_case("4. two-person trial, photos' intrinsics", "multi_Participants1-2", photos, 1.21)
        run_case("5. two-person trial, --focal-guess", "multi_Participants1-2", None, 1.21)


if __name__ == "__main__":
    main()

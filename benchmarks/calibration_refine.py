"""`lift3d calibrate refine` on Pose2Sim's real balancing trial: the figures of issue 4 ("people as the target").

Data: `../shared/data/pose2sim_trials/single_BalancingTrial` (OpenPose BODY_25B, 4 portrait cameras, 100 frames,
a bystander in cam01 / cam02) and its Qualisys calibration `Calib.qca.txt`. Sections:
1. time: the first call in the process (nothing is compiled: the association runs on numpy for 100 frames)
   and warm calls (wall and process CPU time), with the load average after each (`--time-only` stops here);
2. start from Qualisys: reprojection error of a confidence-weighted DLT of the subject's confident detections
   (all of them, no inlier selection: the README's 13.7 px figure) with the Qualisys and the refined rig, per
   camera; the refined rig's shape against Qualisys after the best similarity alignment of the centres;
3. starts perturbed by 3 deg / 10 cm and 5 deg / 20 cm per camera (`perturb_cameras`, keys 0-4): distance to the
   optimum reached from Qualisys after a similarity alignment (the gauge of a run is its own initial rig's);
4. synthetic: the subject's DLT points projected through the Qualisys rig, 2 px Gaussian noise per coordinate,
   the real visibility and confidences; rig errors against Qualisys after a similarity alignment;
5. options (focal lengths, weights, losses, thresholds, all people);
6. solvers on one adjustment (the first round's observations): `points_bundle.adjust_cameras_and_points` (Schur
   LM on 3x3 point blocks) vs `bundle.bundle_adjust` (a person joint as a one-corner "board", Schur and scipy
   `least_squares`);
7. `lift3d triangulate` (`triangulate_capture`, no filter) with the Qualisys rig and the rig `run_refine` writes.

Usage: .venv/bin/python -m benchmarks.calibration_refine [--time-only] [--skip-options] [--skip-solvers]
    [--skip-triangulate]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.machine import machine_info
from lift3d.apps.refine import run_refine
from lift3d.calibration import refine as rf
from lift3d.core.keypoints import match_views
from lift3d.geometry.camera import project_points
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

OPTIONS = (
    {},
    {"refine_intrinsics": "focal"},
    {"weight_by_confidence": False},
    {"final_loss": "huber"},
    {"threshold_px": 15.0},
    {"threshold_px": 30.0},
    {"people": None},
    {"gauge": "reference"},
)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim_trials"


def load():
    trial = DATA / "single_BalancingTrial" / "pose"
    kp = read_keypoints([trial / f"cam0{i}_json" for i in range(1, 5)], format="openpose", skeleton="body_25b")
    kp, rig = match_views(kp, load_rig(DATA / "Calib.qca.txt"))
    return rig, kp.points, kp.confidence


def timed(fn, *args, **kwargs):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def shape(res, reference) -> tuple[float, float]:
    e = rf.rig_shape_errors(res.rig.cameras, reference)
    return float(e["rotation_deg"].max()), float(e["centre"].max())


def perturbed(rig, key: int, deg: float, metres: float):
    return dataclasses.replace(rig, cameras=rf.perturb_cameras(jax.random.key(key), rig.cameras, deg, metres))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-only", action="store_true", help="only section 1 (first and warm calls)")
    ap.add_argument("--skip-options", action="store_true")
    ap.add_argument("--skip-solvers", action="store_true")
    ap.add_argument("--skip-triangulate", action="store_true")
    args = ap.parse_args()
    print(machine_info(jax=jax.__version__, numpy=np.__version__))
    rig, uv, conf = load()

    print("\n## 1. time (100 frames, start from Qualisys)")
    base, wall, cpu = timed(rf.refine_rig_from_keypoints, rig, uv, conf)
    print(f"first call in the process: {wall:.2f} s wall, {cpu:.2f} s CPU (load {os.getloadavg()[0]:.1f})")
    for _ in range(3):
        _, wall, cpu = timed(rf.refine_rig_from_keypoints, rig, uv, conf)
        print(f"warm call: {wall:.2f} s wall, {cpu:.2f} s CPU (load {os.getloadavg()[0]:.1f})")
    print(f"rounds {len(base.rounds)} ({base.status}), iterations per round {[r['iterations'] for r in base.rounds]}")
    print(f"DLT error {base.dlt_error_px['initial']['all']:.4f} -> {base.dlt_error_px['refined']['all']:.4f} px")
    if args.time_only:
        return

    print("\n## 2. start from Qualisys")
    e = rf.rig_shape_errors(base.rig.cameras, rig.cameras)
    print(
        "| camera | DLT error Qualisys (px) | DLT error refined (px) | inlier error Qualisys / refined (px) | "
        "observations | rotation vs Qualisys (deg) | centre vs Qualisys (cm) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i, name in enumerate(rig.names):
        print(
            f"| {name} | {base.dlt_error_px['initial']['cameras'][i]:.2f} | "
            f"{base.dlt_error_px['refined']['cameras'][i]:.2f} | {base.camera_error_px['initial'][i]:.2f} / "
            f"{base.camera_error_px['refined'][i]:.2f} | {int(base.used[:, :, i].sum())} | "
            f"{e['rotation_deg'][i]:.3f} | {100 * e['centre'][i]:.2f} |"
        )
    print(
        f"| all | {base.dlt_error_px['initial']['all']:.2f} | {base.dlt_error_px['refined']['all']:.2f} | "
        f"{np.nanmean(base.initial_errors_px):.2f} / {np.nanmean(base.errors_px):.2f} | {int(base.used.sum())} "
        f"| {e['rotation_deg'].max():.3f} (max) | {100 * e['centre'].max():.2f} (max) |"
    )

    print("\n## 3. perturbed starts vs the optimum from Qualisys (max over cameras, after similarity alignment)")
    print("| perturbation | key | rounds | DLT refined (px) | rotation (deg) | centre (mm) | wall (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = {}
    for deg, metres in ((3.0, 0.1), (5.0, 0.2)):
        for k in range(5):
            res, wall, _ = timed(rf.refine_rig_from_keypoints, perturbed(rig, k, deg, metres), uv, conf)
            d, c = shape(res, base.rig.cameras)
            worst[(deg, metres)] = np.maximum(worst.get((deg, metres), 0.0), [d, c])
            print(
                f"| {deg:g} deg / {100 * metres:g} cm | {k} | {len(res.rounds)} | "
                f"{res.dlt_error_px['refined']['all']:.2f} | {d:.4f} | {1000 * c:.2f} | {wall:.1f} |"
            )
    for (deg, metres), (d, c) in worst.items():
        print(f"worst of 5, {deg:g} deg / {100 * metres:g} cm: {d:.4f} deg, {1000 * c:.2f} mm")

    print("\n## 4. synthetic: projected through Qualisys + 2 px noise (errors vs Qualisys, similarity-aligned)")
    people_uv, people_cf = rf._associate(rig.cameras, uv, np.where(conf >= 0.3, conf, 0.0), 1, 50.0, 0.3, 0.5)
    from lift3d.geometry.triangulation import triangulate_dlt

    X = np.asarray(triangulate_dlt(rig.cameras, people_uv, people_cf)[0], np.float64)[:, 0]
    ok = (people_cf[:, 0] > 0) & np.isfinite(X).all(-1)[:, None, :]
    with jax.enable_x64(True):
        proj = np.asarray(project_points(rig.cameras, np.nan_to_num(X)[:, None]), np.float64)
    noisy = np.where(ok[..., None], proj + np.random.default_rng(0).normal(0, 2.0, proj.shape), np.nan)
    syn_conf = np.where(ok, people_cf[:, 0], 0.0)
    print(f"{int(ok.sum())} observations")
    print("| start | rotation (deg) | centre (cm) | DLT refined (px) |")
    print("|---|---:|---:|---:|")
    starts = [("Qualisys", rig)] + [
        (f"{deg:g} deg / {100 * m:g} cm, key {k}", perturbed(rig, k, deg, m)) for deg, m in ((3, 0.1), (5, 0.2))
        for k in range(5)
    ]  # fmt: skip
    for name, start in starts:
        res = rf.refine_rig_from_keypoints(start, noisy, syn_conf)
        d, c = shape(res, rig.cameras)
        print(f"| {name} | {d:.4f} | {100 * c:.3f} | {res.dlt_error_px['refined']['all']:.3f} |")

    if not args.skip_options:
        print("\n## 5. options (start from Qualisys)")
        print(
            "| options | DLT Qualisys -> refined (px) | vs Qualisys deg / cm | vs default deg / cm | fx change (px) |"
        )
        print("|---|---:|---:|---:|---|")
        for opts in OPTIONS:
            res = rf.refine_rig_from_keypoints(rig, uv, conf, **opts)
            d, c = shape(res, rig.cameras)
            d0, c0 = shape(res, base.rig.cameras)
            dfx = np.asarray(res.rig.cameras.K)[:, 0, 0] - np.asarray(rig.cameras.K)[:, 0, 0]
            print(
                f"| {opts or 'default'} | {res.dlt_error_px['initial']['all']:.2f} -> "
                f"{res.dlt_error_px['refined']['all']:.2f} | {d:.3f} / {100 * c:.2f} | {d0:.3f} / {100 * c0:.2f} "
                f"| {', '.join(f'{x:+.0f}' for x in dfx)} |"
            )

    if not args.skip_solvers:
        from lift3d.calibration.solvers import bundle
        from lift3d.calibration.solvers import points_bundle as pb

        print("\n## 6. solvers, one adjustment (the first round's observations, least squares, camera 0 held)")
        r1 = rf.refine_rig_from_keypoints(rig, uv, conf, max_rounds=1, final_loss="linear", loss="linear")
        used = r1.used.reshape(-1, *r1.used.shape[2:])  # (n, v, j)
        pts = np.isfinite(r1.points_3d.reshape(-1, r1.points_3d.shape[-2], 3)).all(-1) & used.any(1)
        n_idx, c_idx, j_idx = np.nonzero(used)
        pid = -np.ones(pts.shape, int)
        pid[pts] = np.arange(pts.sum())
        uv1 = r1.points_2d.reshape(-1, *r1.points_2d.shape[2:])[n_idx, c_idx, j_idx]
        X0 = r1.points_3d.reshape(-1, r1.points_3d.shape[-2], 3)[pts]
        X0 = X0 + np.random.default_rng(1).normal(0, 0.02, X0.shape)
        cams0 = rf.perturb_cameras(jax.random.key(9), rig.cameras, 0.5, 0.02)
        cams0 = cams0.replace(R=np.r_[np.asarray(rig.cameras.R)[:1], np.asarray(cams0.R)[1:]],
                              t=np.r_[np.asarray(rig.cameras.t)[:1], np.asarray(cams0.t)[1:]])  # fmt: skip
        print(f"{len(c_idx)} observations, {len(X0)} points")
        res, wall, _ = timed(pb.adjust_cameras_and_points, cams0, X0, uv1, c_idx, pid[n_idx, j_idx],
                             free=bundle.free_mask(4), loss="linear")  # fmt: skip
        rms = float(np.sqrt(np.mean(res.errors_px**2)))
        print(
            f"| points_bundle.adjust_cameras_and_points (Schur on 3x3 point blocks) | {wall:.2f} s | {res.iterations} "
            f"iterations | RMS {rms:.4f} px |"
        )
        corners = np.full((4, len(X0), 1, 2), np.nan)
        corners[c_idx, pid[n_idx, j_idx], 0] = uv1
        eye = np.broadcast_to(np.eye(3), (len(X0), 3, 3)).copy()
        for method in ("schur", "scipy"):
            out, wall, _ = timed(bundle.bundle_adjust, cams0, eye, X0, np.zeros((1, 3)), corners, loss="linear",
                                 method=method, max_iterations=100 if method == "schur" else 200)  # fmt: skip
            print(
                f"| bundle.bundle_adjust(method={method!r}) (one-corner boards) | {wall:.2f} s | "
                f"{out.iterations} iterations | RMS {out.rms_px:.4f} px | {out.status} |"
            )

    if not args.skip_triangulate:
        import tempfile

        from lift3d.apps.triangulate import triangulate_capture

        print("\n## 7. lift3d triangulate, mean reprojection error (px), Qualisys vs refined rig")
        cams = [DATA / "single_BalancingTrial" / "pose" / f"cam0{i}_json" for i in range(1, 5)]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "refined.toml"
            run_refine(DATA / "Calib.qca.txt", cams, out=out, skeleton="body_25b")
            print("| method | Qualisys | refined |")
            print("|---|---:|---:|")
            for method in ("dlt", "pose2sim", "ransac"):
                errs = [
                    np.nanmean(
                        triangulate_capture(
                            r, cams, skeleton="body_25b", fps=60, method=method, filter="none", progress=False
                        ).error_px
                    )
                    for r in (DATA / "Calib.qca.txt", out)
                ]
                print(f"| {method} | {errs[0]:.2f} | {errs[1]:.2f} |")


if __name__ == "__main__":
    main()

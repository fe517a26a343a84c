"""Bundle adjustment of a synthetic 8-camera, 500-frame board capture: lift3d vs aniposelib 0.8.

The capture: 8 cameras on a ring (radius 3 m, 1280x960 px, fx = fy, radial k1 only so that aniposelib's
camera model can represent it), a 9 x 6 checkerboard (60 mm squares) moving through the volume, detections
= projected corners + Gaussian noise (no rendering). Both solvers start from the same rig (lift3d's per-view
PnP + spanning-tree initialisation) and the same detections, intrinsics fixed (extrinsics only):
- lift3d `bundle_adjust` (Levenberg-Marquardt with the Schur complement; cameras + board poses),
- lift3d `bundle_adjust(method="scipy")` (`scipy.optimize.least_squares`, same model),
- aniposelib `CameraGroup.bundle_adjust_iter(p2ds, extra, only_extrinsics=True)` (cameras + 3D points
  with board constraints, on resampled subsets of points, as `calibrate_rows` calls it).
One run each (timed), then the same final error for all: every corner triangulated (DLT over all views that
see it) with the method's cameras and reprojected, RMS / mean over all observations (px); plus the error of
each camera's rotation (deg) and centre (mm) against the truth after a similarity alignment of the centres.

Usage: .venv/bin/python benchmarks/calibration.py [--frames 500] [--cameras 8] [--noise 0.5] [--skip-scipy]
aniposelib is optional (`.venv/bin/pip install --no-deps aniposelib==0.8.0 numba pandas toml`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import time

import cv2
import jax
import numpy as np
from scipy.spatial.transform import Rotation

from lift3d.calibration.extrinsics import initial_rig, view_poses, world_from_camera
from lift3d.calibration.solvers.bundle import bundle_adjust
from lift3d.geometry.transforms import align_similarity, apply_similarity
from lift3d.io.boards import Board
from lift3d.synthetic import boards as sb


def triangulate_rms(cameras, uv: np.ndarray) -> tuple[float, float]:
    """RMS and mean reprojection error (px) of DLT-triangulated corners, uv (v, f, n, 2) NaN where unseen."""
    v = uv.shape[0]
    pts = uv.reshape(v, -1, 2)
    K, D, R, t = (np.asarray(a, np.float64) for a in (cameras.K, cameras.dist, cameras.R, cameras.t))
    norm = np.stack(
        [cv2.undistortPoints(pts[c].reshape(-1, 1, 2), K[c], D[c]).reshape(-1, 2) for c in range(v)]
    )
    P = np.concatenate([R, t[..., None]], -1)  # normalised projection matrices (v, 3, 4)
    ok = np.isfinite(norm).all(-1)
    two = ok.sum(0) >= 2
    rows = np.stack(
        [norm[..., :1] * P[:, None, 2] - P[:, None, 0], norm[..., 1:] * P[:, None, 2] - P[:, None, 1]], -2
    )  # (v, N, 2, 4): two DLT rows per view
    rows = np.where(ok[..., None, None], rows, 0.0)[:, two]
    A = np.transpose(rows, (1, 0, 2, 3)).reshape(rows.shape[1], -1, 4)
    _, _, Vt = np.linalg.svd(A)
    X = Vt[:, -1, :3] / Vt[:, -1, 3:]
    errs = []
    for c in range(v):
        m = ok[c, two]
        proj, _ = cv2.projectPoints(X[m], cv2.Rodrigues(R[c])[0], t[c], K[c], D[c])
        errs.append(np.linalg.norm(proj.reshape(-1, 2) - pts[c][two][m], axis=1))
    e = np.concatenate(errs)
    return float(np.sqrt(np.mean(e**2))), float(np.mean(e))


def pose_errors(cameras, truth) -> tuple[float, float]:
    """Max rotation error (deg) and max centre error (mm) after a similarity alignment of the centres."""
    R, t = np.asarray(cameras.R), np.asarray(cameras.t)
    Rg, tg = np.asarray(truth.R), np.asarray(truth.t)
    C, Cg = -np.einsum("vji,vj->vi", R, t), -np.einsum("vji,vj->vi", Rg, tg)
    sim = align_similarity(C, Cg, xp=np)  # C aligned = s A (C - mu) + mug
    C_al = apply_similarity(sim, C, xp=np)
    R_al = R @ sim.rotation.T
    rot = np.rad2deg(Rotation.from_matrix(R_al @ np.swapaxes(Rg, 1, 2)).magnitude())
    return float(rot.max()), float(1000 * np.linalg.norm(C_al - Cg, axis=1).max())


def run_aniposelib(cameras, names, uv: np.ndarray, Rv: np.ndarray, tv: np.ndarray, objp: np.ndarray):
    from aniposelib.cameras import Camera as ACamera
    from aniposelib.cameras import CameraGroup

    K, D, R, t = (np.asarray(a, np.float64) for a in (cameras.K, cameras.dist, cameras.R, cameras.t))
    size = np.asarray(cameras.image_size)
    cams = [
        ACamera(
            matrix=K[c],
            dist=D[c],
            size=size[c].astype(int).tolist(),
            rvec=cv2.Rodrigues(R[c])[0].ravel(),
            tvec=t[c],
            name=names[c],
        )
        for c in range(len(names))
    ]
    group = CameraGroup(cams)
    v, f, n, _ = uv.shape
    seen = np.isfinite(uv).all(-1)
    keep = seen.any(2).sum(0) >= 2  # frames seen by >= 2 cameras (aniposelib's min_cameras=2)
    p2ds = uv[:, keep].reshape(v, -1, 2)
    rvecs = np.stack([_rvecs(Rv[c]) for c in range(v)])[:, keep]
    extra = {
        "objp": np.tile(objp, (int(keep.sum()), 1)),
        "ids": np.repeat(np.arange(int(keep.sum())), n),
        "rvecs": np.repeat(rvecs, n, axis=1),
        "tvecs": np.repeat(tv[:, keep], n, axis=1),
    }
    np.random.seed(0)  # noqa: NPY002 - aniposelib resamples points with the global numpy generator
    t0 = time.perf_counter()
    group.bundle_adjust_iter(p2ds, extra, only_extrinsics=True, verbose=False)
    seconds = time.perf_counter() - t0
    Rs = np.stack([cv2.Rodrigues(np.asarray(c.get_rotation()))[0] for c in group.cameras])
    ts = np.stack([np.asarray(c.get_translation()) for c in group.cameras])
    return cameras.replace(R=Rs, t=ts), seconds


def _rvecs(R: np.ndarray) -> np.ndarray:
    out = np.full(R.shape[:-2] + (3,), np.nan)
    ok = np.isfinite(R).all((-1, -2))
    out[ok] = Rotation.from_matrix(R[ok]).as_rotvec()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.5, help="pixel noise per coordinate (std)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-scipy", action="store_true")
    args = ap.parse_args()
    import scipy

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.platform()}"
    )
    print(
        f"date: {datetime.date.today()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"opencv {cv2.__version__}"
    )
    key = jax.random.key(args.seed)
    k1, k2, k3 = (jax.random.fold_in(key, i) for i in range(3))
    board = Board("checkerboard", (9, 6), 60.0, name="9x6_60mm")
    rig = sb.ring_rig(
        k1, args.cameras, radius_m=3.0, fx_px=900.0, image_size=(1280, 960), dist=(-0.1, 0.0, 0.0, 0.0, 0.0)
    )
    K = np.asarray(rig.cameras.K).copy()
    K[:, 1, 1] = K[:, 0, 0]  # fx = fy for aniposelib's single focal length
    rig = dataclasses.replace(rig, cameras=rig.cameras.replace(K=K))
    bR, bt = sb.board_trajectory(k2, args.frames, board, spread_m=(1.0, 1.0, 0.5))
    uv = sb.project_capture(k3, rig, board, bR, bt, noise_px=args.noise)
    objp = board.object_points()
    nobs = int(np.isfinite(uv[..., 0]).sum())
    print(
        f"capture: {args.cameras} cameras, {args.frames} frames, {board.num_corners} corners, "
        f"{nobs} observations,"
        f" noise {args.noise} px"
    )

    t0 = time.perf_counter()
    Rv, tv, rms = view_poses(rig.cameras, uv, objp)
    cams0, R0, t0b, _ = initial_rig(rig.cameras, Rv, tv, rms, rig.names)
    t_init = time.perf_counter() - t0
    truth, _, _ = world_from_camera(rig.cameras, bR, bt, 0)
    seen = np.isfinite(t0b).all(1)
    print(f"initialisation (PnP per view + spanning tree): {t_init:.2f} s")

    rows = []
    init_rms, init_mean = triangulate_rms(cams0, uv)
    rows.append(("initial rig", float("nan"), init_rms, init_mean, *pose_errors(cams0, truth)))
    res = bundle_adjust(cams0, R0[seen], t0b[seen], objp, uv[:, seen])
    rows.append(
        ("lift3d schur LM", res.seconds, *triangulate_rms(res.cameras, uv), *pose_errors(res.cameras, truth))
    )
    print(f"lift3d: {res.status} after {res.iterations} iterations, board-model RMS {res.rms_px:.4f} px")
    if not args.skip_scipy:
        res_s = bundle_adjust(
            cams0, R0[seen], t0b[seen], objp, uv[:, seen], method="scipy", max_iterations=200
        )
        rows.append(
            (
                "lift3d scipy least_squares",
                res_s.seconds,
                *triangulate_rms(res_s.cameras, uv),
                *pose_errors(res_s.cameras, truth),
            )
        )
    try:
        import aniposelib

        cams_a, sec_a = run_aniposelib(cams0, rig.names, uv, Rv, tv, objp)
        rows.append(
            (
                f"aniposelib {aniposelib.__version__} bundle_adjust_iter",
                sec_a,
                *triangulate_rms(cams_a, uv),
                *pose_errors(cams_a, truth),
            )
        )
    except ImportError as err:
        print(f"aniposelib not available: {err}")
    print()
    print(f"| {'method':<40} | time (s) | RMS (px) | mean (px) | rot err max (deg) | centre err max (mm) |")
    print(f"|{'-' * 42}|---------:|---------:|----------:|------------------:|--------------------:|")
    for name, sec, r, m, rot, cen in rows:
        print(f"| {name:<40} | {sec:8.2f} | {r:8.4f} | {m:9.4f} | {rot:17.4f} | {cen:19.2f} |")
    if rows[-1][0].startswith("aniposelib"):
        print(f"\nspeed ratio aniposelib / lift3d: {rows[-1][1] / rows[1][1]:.1f}x")


if __name__ == "__main__":
    main()

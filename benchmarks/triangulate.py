"""Triangulation throughput and accuracy: lift3d against OpenCV, a numpy SVD DLT and (optionally) aniposelib.

Synthetic capture: a 4-camera portrait rig with lens distortion around a 2 m volume, random 3D joints, exact
projection, Gaussian noise of 0.7 px / confidence (confidence uniform in 0.5-1), 2 % gross outliers (30-300
px, as detector confusions), 5 % of the observations missing (NaN, confidence 0). Every method gets the same
distorted pixels and undistorts them itself. Reported: points/s (joints x frames per second, after
compilation) and the 3D error against the truth in mm (mean and median).

Baselines:
- numpy batched SVD DLT: one `np.linalg.svd` over (n, 2v, 4) systems, as EasyMocap's `batch_triangulate`.
- per-point loop of `cv2.SVDecomp` DLT, as Pose2Sim's `weighted_triangulation` (timed on a subset).
- `cv2.triangulatePoints` over all view pairs, then the per-point median (aniposelib's `fast=True` mode).
- aniposelib `CameraGroup.triangulate` (vmapped JAX SVD, float64) if importable (`--aniposelib-path DIR`
  adds a folder holding it to `sys.path`; it enables JAX x64 globally, so it runs last).

Issue benchmark (default, `--mode issue`): 4 views 3-5 m from the subject, 200k points (8000 frames x 25
joints), 1 px Gaussian noise, all observations valid, warm runs: lift3d `triangulate_dlt`, `make_triangulator`
and `triangulate_ransac` against pairwise `cv2.triangulatePoints` and aniposelib, in points/s, with the ratio
to each peer, the 3D error against the truth and the largest deviation from a float64 numpy SVD DLT.
`--mode full` runs the detector-like suite above.

Usage: python benchmarks/triangulate.py [--mode issue|full] [--frames N] [--views 4] [--joints 25] [--repeat 3]
    [--aniposelib-path /tmp/anipose_pkgs]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import cv2
import jax
import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.geometry.camera import Camera, project_points, stack_cameras
from lift3d.geometry.triangulate import (
    refine_points,
    repair_left_right_swaps,
    triangulate_dlt,
    triangulate_pose2sim,
    triangulate_ransac,
    triangulate_sequence,
)
from lift3d.geometry.triangulate_fast import make_triangulator


def make_rig(rng: np.random.Generator, v: int, radius=(4.0, 4.0)) -> Camera:
    cams = []
    target = np.array([0.0, 0.0, 1.0])
    for i in range(v):
        a = 2 * np.pi * i / v + rng.normal(0, 0.2)
        r = rng.uniform(*radius)
        center = target + [r * np.cos(a), r * np.sin(a), rng.uniform(0.2, 1.5)]
        z = target - center
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        f = rng.uniform(1600, 1750)
        K = np.array([[f, 0, 540], [0, f, 960], [0, 0, 1]])
        dist = [rng.uniform(-0.1, -0.02), rng.uniform(0.0, 0.1), 1e-4, -1e-4, 0.0]
        cams.append(Camera.create(K, R=R, t=-R @ center, dist=dist, image_size=[1088, 1920]))
    return stack_cameras(cams)


def best_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def undistorted_pixels(cams: Camera, uv: np.ndarray) -> np.ndarray:
    """(v, n, 2) distorted -> undistorted pixels with OpenCV (what the numpy/OpenCV baselines do first)."""
    out = np.empty_like(uv)
    for i in range(uv.shape[0]):
        good = np.isfinite(uv[i, :, 0])
        out[i] = np.nan
        K, dist = np.asarray(cams.K[i]), np.asarray(cams.dist[i])
        out[i, good] = cv2.undistortPoints(uv[i, good].reshape(-1, 1, 2), K, dist, P=K).reshape(-1, 2)
    return out


def numpy_svd_dlt(P: np.ndarray, und: np.ndarray, w: np.ndarray) -> np.ndarray:
    """EasyMocap-style batched DLT: P (v, 3, 4), undistorted px (v, n, 2), weights (v, n) -> (n, 3)."""
    x = np.nan_to_num(und)
    p1, p2, p3 = P[:, None, 0], P[:, None, 1], P[:, None, 2]
    rows = np.stack([x[..., :1] * p3 - p1, x[..., 1:] * p3 - p2], -2)  # (v, n, 2, 4)
    A = (rows * w[..., None, None]).transpose(1, 0, 2, 3).reshape(und.shape[1], -1, 4)  # (n, 2v, 4)
    h = np.linalg.svd(A)[2][:, -1]
    return np.where((np.sum(w > 0, 0) >= 2)[:, None], h[:, :3] / h[:, 3:], np.nan)


def pose2sim_loop(P: np.ndarray, und: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pose2Sim-style: per point, stack the valid views' rows and take cv2.SVDecomp's last right vector."""
    out = np.full((und.shape[1], 3), np.nan)
    for n in range(und.shape[1]):
        A = []
        for c in range(P.shape[0]):
            if w[c, n] > 0:
                A += [(P[c, 0] - und[c, n, 0] * P[c, 2]) * w[c, n],
                      (P[c, 1] - und[c, n, 1] * P[c, 2]) * w[c, n]]
        if len(A) >= 4:
            vt = cv2.SVDecomp(np.array(A))[2]
            out[n] = vt[3, :3] / vt[3, 3]
    return out


def cv2_pairs_median(P: np.ndarray, und: np.ndarray) -> np.ndarray:
    """aniposelib fast mode: cv2.triangulatePoints for every view pair, then the nan-median over pairs."""
    est = []
    for a, b in itertools.combinations(range(P.shape[0]), 2):
        h = cv2.triangulatePoints(P[a], P[b], und[a].T.copy(), und[b].T.copy())
        est.append((h[:3] / h[3]).T)
    return np.nanmedian(np.array(est), 0)


def aniposelib_group(cams: Camera, path: str | None):
    """aniposelib CameraGroup of the rig, or None (it enables JAX x64 globally: use it last)."""
    if path:
        sys.path.insert(0, path)
    try:
        from aniposelib.cameras import Camera as ACamera
        from aniposelib.cameras import CameraGroup
    except ImportError as exc:
        print(f"aniposelib not available ({exc}); skipped")
        return None
    return CameraGroup([
        ACamera(matrix=np.asarray(cams.K[i]), dist=np.asarray(cams.dist[i]), size=[1088, 1920],
                rvec=cv2.Rodrigues(np.asarray(cams.R[i]))[0].ravel(), tvec=np.asarray(cams.t[i]))
        for i in range(len(cams))
    ])


def issue_benchmark(args) -> None:
    """The issue's benchmark: 4 views at 3-5 m, 1 px noise, all valid, end to end from (..., v, j, 2)."""
    rng = np.random.default_rng(0)
    t, v, j = args.frames, args.views, args.joints
    n = t * j
    cams = make_rig(rng, v, radius=(3.0, 5.0))
    X = np.array([0.0, 0.0, 1.0]) + rng.uniform(-1, 1, (t, j, 3)) * [0.4, 0.4, 0.9]
    with jax.enable_x64(True):
        uv = np.asarray(project_points(cams, X.reshape(1, n, 3))).reshape(v, t, j, 2).transpose(1, 0, 2, 3)
    uv = uv + rng.normal(0, 1.0, uv.shape)
    uv32 = jax.device_put(uv.astype(np.float32))
    conf32 = jax.device_put(np.ones(uv.shape[:-1], np.float32))
    print(f"issue benchmark: {t} frames x {v} views x {j} joints = {n} points, rig 3-5 m, 1 px noise\n")
    uv_vn = uv.transpose(1, 0, 2, 3).reshape(v, n, 2)
    P = np.asarray(cams.K) @ np.concatenate([cams.R, cams.t[..., None]], -1)
    und = undistorted_pixels(cams, uv_vn)
    ref = numpy_svd_dlt(P, und, np.ones((v, n)))  # float64 SVD DLT on OpenCV-undistorted pixels
    rows = []

    def run(name, fn, to_points, repeat=args.repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        first = time.perf_counter() - t0
        rate = n / best_time(fn, repeat)
        pts = np.asarray(to_points(out), np.float64).reshape(-1, 3)
        err = 1000 * np.linalg.norm(pts - X.reshape(-1, 3), axis=-1)
        dev = 1000 * np.nanmax(np.linalg.norm(pts - ref, axis=-1))
        rows.append((name, rate))
        print(f"{name:52s} {rate:12,.0f} points/s  3D error mean {np.nanmean(err):6.3f} mm  max |X - SVD64| "
              f"{dev:8.4f} mm  (first call {first:.1f} s)", flush=True)

    fast = make_triangulator(cams)
    key = jax.random.key(0)
    run("lift3d make_triangulator (float32)", lambda: fast(uv32, conf32), lambda a: a)
    with jax.enable_x64(True):  # the same estimator in float64 (12 Newton steps of undistortion)
        X64 = np.asarray(make_triangulator(cams, num_undistort_iters=12)(uv)).reshape(-1, 3)
    dev64 = 1000 * np.max(np.linalg.norm(np.asarray(fast(uv32, conf32)).reshape(-1, 3) - X64, axis=-1))
    print(f"  make_triangulator float32 vs its float64 evaluation: max deviation {dev64:.5f} mm")
    run("lift3d triangulate_dlt (float32)", lambda: triangulate_dlt(cams, uv32, conf32)[0], lambda a: a)
    run("lift3d triangulate_ransac (all pairs, 10 px)",
        lambda: triangulate_ransac(key, cams, uv32, conf32, threshold_px=10.0)[0], lambda a: a)
    err_ref = 1000 * np.linalg.norm(ref - X.reshape(-1, 3), axis=-1)
    print(f"{'numpy SVD DLT float64 (reference)':52s} {'':12s}           3D error mean {err_ref.mean():6.3f} mm")

    def cv2_pairs():
        return cv2_pairs_median(P, undistorted_pixels(cams, uv_vn))

    run("cv2 undistortPoints + triangulatePoints pairs + median", cv2_pairs, lambda a: a, repeat=1)
    group = aniposelib_group(cams, args.aniposelib_path)
    if group is not None:
        m = min(n, 20000)  # aniposelib is slow: timed on a prefix, rate scaled
        sub = uv_vn[:, :m].copy()
        group.triangulate(sub)
        sec = best_time(lambda: group.triangulate(sub), 1)
        pts = group.triangulate(sub)
        err = 1000 * np.linalg.norm(pts - X.reshape(-1, 3)[:m], axis=-1)
        rows.append(("aniposelib CameraGroup.triangulate", m / sec))
        print(f"{'aniposelib CameraGroup.triangulate (' + str(m) + ' points)':52s} {m / sec:12,.0f} points/s  "
              f"3D error mean {np.nanmean(err):6.3f} mm  max |X - SVD64| "
              f"{1000 * np.nanmax(np.linalg.norm(pts - ref[:m], axis=-1)):8.4f} mm", flush=True)
    print("\nmake_triangulator speed relative to each:")
    for name, rate in rows[1:]:
        print(f"  {name:56s} x{rows[0][1] / rate:8.2f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["issue", "full"], default="issue")
    ap.add_argument("--frames", type=int, default=None, help="default 8000 (issue) or 10000 (full)")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--joints", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--loop-points", type=int, default=5000, help="points timed for the per-point loop")
    ap.add_argument("--outliers", type=float, default=0.02, help="fraction of gross 2D outliers")
    ap.add_argument("--aniposelib-path", default=None, help="folder to add to sys.path for aniposelib")
    args = ap.parse_args(argv)
    print(
        machine_info(
            jax=f"{jax.__version__} ({jax.devices()[0].platform})", numpy=np.__version__, opencv=cv2.__version__
        )
    )
    if args.mode == "issue":
        args.frames = args.frames or 8000
        return issue_benchmark(args)
    args.frames = args.frames or 10000
    rng = np.random.default_rng(0)
    t, v, j = args.frames, args.views, args.joints
    n = t * j
    cams = make_rig(rng, v)
    X = np.array([0.0, 0.0, 1.0]) + rng.uniform(-1, 1, (t, j, 3)) * [0.6, 0.6, 0.9]
    with jax.enable_x64(True):
        uv = np.asarray(project_points(cams, X.reshape(1, n, 3))).reshape(v, t, j, 2).transpose(1, 0, 2, 3)
    # detector-like observations: noise of 0.7 px / confidence, some gross outliers, some missing
    conf = rng.uniform(0.5, 1.0, uv.shape[:-1])
    uv = uv + rng.normal(0, 1.0, uv.shape) * (0.7 / conf[..., None])
    outlier = rng.random(conf.shape) < args.outliers
    uv[outlier] += rng.choice([-1, 1], (outlier.sum(), 2)) * rng.uniform(30, 300, (outlier.sum(), 2))
    missing = rng.random(conf.shape) < 0.05
    uv[missing] = np.nan
    conf[missing] = 0.0
    uv32, conf32 = uv.astype(np.float32), conf.astype(np.float32)
    print(f"data: {t} frames x {v} views x {j} joints = {n} points; noise 0.7 px / confidence (0.5-1); "
          f"{outlier.mean():.1%} outliers (30-300 px); {missing.mean():.1%} missing\n")
    results = []

    def report(name, seconds, points_3d, count=n):
        diff = np.asarray(points_3d, np.float64).reshape(-1, 3) - X.reshape(-1, 3)[:count]
        err_mm = 1000 * np.linalg.norm(diff, axis=-1)
        done = np.mean(np.isfinite(err_mm))
        results.append((name, count / seconds))
        print(f"{name:58s} {count / seconds:11,.0f} points/s  3D error mean {np.nanmean(err_mm):6.2f} median "
              f"{np.nanmedian(err_mm):5.2f} mm ({done:.2%} of points)", flush=True)

    # lift3d, float32 under jit: each function is compiled once (time printed), then timed
    key = jax.random.key(0)
    flip = np.arange(j)  # joints (1, 2), (3, 4), ... as left/right pairs
    for a in range(1, j - 1, 2):
        flip[a], flip[a + 1] = a + 1, a

    def dlt_then_refine():
        return refine_points(cams, triangulate_dlt(cams, uv32, conf32)[0], uv32, conf32)

    def repair_then_dlt():
        rep = repair_left_right_swaps(cams, uv32, conf32, flip)
        return triangulate_dlt(cams, rep.points_2d, rep.confidence)[0]

    lift3d_runs = [
        ("lift3d triangulate_dlt (adjugate, float32)", lambda: triangulate_dlt(cams, uv32, conf32)[0]),
        ("lift3d triangulate_dlt (solver='eigh', float32)",
         lambda: triangulate_dlt(cams, uv32, conf32, solver="eigh")[0]),
        ("lift3d triangulate_sequence (dlt, chunks of 4096 frames)",
         lambda: triangulate_sequence(cams, uv32, conf32, chunk_size=4096).points_3d),
        ("lift3d DLT + refine_points (10 LM iterations)", dlt_then_refine),
        ("lift3d triangulate_ransac (all 6 pairs, 10 px)",
         lambda: triangulate_ransac(key, cams, uv32, conf32, threshold_px=10.0)[0]),
        ("lift3d triangulate_pose2sim (all camera subsets)",
         lambda: triangulate_pose2sim(cams, uv32, conf32)[0]),
        ("lift3d repair_left_right_swaps + DLT", repair_then_dlt),
    ]
    for name, fn in lift3d_runs:
        t0 = time.perf_counter()
        points = jax.block_until_ready(fn())
        compile_s = time.perf_counter() - t0
        print(f"({name}: compile + first run {compile_s:.1f} s)")
        report(name, best_time(fn, args.repeat), points)

    # baselines on undistorted pixels (undistortion time included for all of them, as lift3d includes it)
    uv_vn = uv.transpose(1, 0, 2, 3).reshape(v, n, 2)
    w_vn = conf.transpose(1, 0, 2).reshape(v, n)
    P = np.asarray(cams.K) @ np.concatenate([cams.R, cams.t[..., None]], -1)  # (v, 3, 4)
    t0 = time.perf_counter()
    und = undistorted_pixels(cams, uv_vn)
    t_und = time.perf_counter() - t0
    sec = best_time(lambda: numpy_svd_dlt(P, und, w_vn), args.repeat) + t_und
    report("numpy batched SVD DLT, float64 (EasyMocap style)", sec, numpy_svd_dlt(P, und, w_vn))
    m = min(args.loop_points, n)
    t0 = time.perf_counter()
    X_loop = pose2sim_loop(P, und[:, :m], w_vn[:, :m])
    sec = time.perf_counter() - t0 + t_und * m / n
    report(f"per-point cv2.SVDecomp loop (Pose2Sim style, {m} points)", sec, X_loop, count=m)
    sec = best_time(lambda: cv2_pairs_median(P, und), args.repeat) + t_und
    report("cv2.triangulatePoints over all pairs + median", sec, cv2_pairs_median(P, und))
    ref = results[0][1]

    # aniposelib last: it switches JAX to float64 globally
    if args.aniposelib_path:
        sys.path.insert(0, args.aniposelib_path)
    try:
        from aniposelib.cameras import Camera as ACamera
        from aniposelib.cameras import CameraGroup
    except ImportError as exc:
        print(f"aniposelib not available ({exc}); skipped")
    else:
        group = CameraGroup([
            ACamera(matrix=np.asarray(cams.K[i]), dist=np.asarray(cams.dist[i]), size=[1088, 1920],
                    rvec=cv2.Rodrigues(np.asarray(cams.R[i]))[0].ravel(), tvec=np.asarray(cams.t[i]))
            for i in range(v)
        ])
        group.triangulate(uv_vn.copy())  # compiles its JAX program
        sec = best_time(lambda: group.triangulate(uv_vn.copy()), args.repeat)
        report("aniposelib CameraGroup.triangulate (JAX SVD, float64)", sec, group.triangulate(uv_vn.copy()))
        sec = best_time(lambda: group.triangulate(uv_vn.copy(), fast=True), args.repeat)
        X_fast = group.triangulate(uv_vn.copy(), fast=True)
        report("aniposelib CameraGroup.triangulate(fast=True)", sec, X_fast)
    print("\nspeed of lift3d triangulate_dlt relative to each method:")
    for name, rate in results[1:]:
        print(f"  {name:58s} x{ref / rate:8.1f}")


if __name__ == "__main__":
    main()

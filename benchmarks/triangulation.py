"""Issue benchmark: triangulation throughput and accuracy, lift3d against aniposelib and OpenCV, one run.

Data (the issue's): 4 portrait cameras (1088 x 1920 px, f 1600-1750 px, mild distortion k1 -0.1..-0.02) on a
ring 3-5 m from a human-sized volume, 200k points (8000 frames x 25 joints), exact projection + 1 px Gaussian
noise, all observations valid (confidence 1). Everything starts from keypoints in their natural layout
(frames, views, joints, 2) as numpy float32 and ends with (frames, joints, 3) numpy: layout changes of every
method are timed. Warm runs (compilation excluded): best of `--repeat`; the median is printed too.

Methods:
- lift3d `make_triangulator(cams)`: the fast linear triangulation (float32, structure of arrays), and
  `make_triangulator(cams, robust=True)`: the robust mode (all 6 view pairs, 20 px inliers, re-triangulated);
  `triangulate_dlt` / `triangulate_ransac`: the jit-able core functions, for reference.
- aniposelib 0.8 `CameraGroup.triangulate` (float64 SVD, undistorts with OpenCV) if importable
  (`--aniposelib-path DIR` adds DIR to sys.path; it turns on JAX x64 globally, so it runs last).
- OpenCV: `cv2.undistortPoints` per view, `cv2.triangulatePoints` for every view pair, median over pairs.
Reference: a float64 numpy SVD DLT on OpenCV-undistorted pixels (P = K [R | t], world frame): the maximum
deviation from it and the mean 3D error against the truth are printed for every method. The fast kernel is
also compared with its own float64 evaluation (the same estimator under `jax.enable_x64`, 12 Newton steps).
A second pass repeats the lift3d rows on the same rig without distortion, and a third measures the 3D error
of the linear and robust modes with 5 % gross 2D outliers (30-300 px).

The machine is shared: the load average is printed before and after; CPU seconds of this process are printed
next to wall time (on a loaded machine compare ratios within one run).

Usage: python benchmarks/triangulation.py [--frames 8000] [--repeat 5] [--aniposelib-path /tmp/anipose_pkgs]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

import cv2
import jax
import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.geometry.camera import Camera, project_points, stack_cameras
from lift3d.geometry.triangulation import make_triangulator, newton_steps_for, triangulate_dlt, triangulate_ransac


def make_rig(rng: np.random.Generator, v: int, radius=(3.0, 5.0), distortion: bool = True) -> Camera:
    """v portrait cameras on a ring around (0, 0, 1), looking at it."""
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
        cams.append(Camera.create(K, R=R, t=-R @ center, dist=dist if distortion else None,
                                  image_size=[1088, 1920]))
    return stack_cameras(cams)


def timed(fn, repeat: int):
    """Warm-up call, then `repeat` timed calls: (output, best wall s, median wall s, CPU s of the best)."""
    out = fn()
    runs = []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
    walls = sorted(r[0] for r in runs)
    best = min(runs)
    return out, best[0], walls[len(walls) // 2], best[1]


def undistorted_pixels(cams: Camera, uv_vn: np.ndarray) -> np.ndarray:
    """(v, n, 2) distorted -> undistorted pixels with OpenCV."""
    out = np.empty_like(uv_vn)
    for i in range(uv_vn.shape[0]):
        K, dist = np.asarray(cams.K[i]), np.asarray(cams.dist[i])
        out[i] = cv2.undistortPoints(uv_vn[i].reshape(-1, 1, 2), K, dist, P=K).reshape(-1, 2)
    return out


def numpy_svd_dlt(P: np.ndarray, und: np.ndarray) -> np.ndarray:
    """Float64 SVD DLT: P (v, 3, 4), undistorted px (v, n, 2) -> (n, 3)."""
    x = und.astype(np.float64)
    rows = np.stack([x[..., :1] * P[:, None, 2] - P[:, None, 0], x[..., 1:] * P[:, None, 2] - P[:, None, 1]], -2)
    A = rows.transpose(1, 0, 2, 3).reshape(und.shape[1], -1, 4)
    h = np.linalg.svd(A)[2][:, -1]
    return h[:, :3] / h[:, 3:]


def cv2_pairs(cams: Camera, P: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Natural layout (t, v, j, 2) -> (t, j, 3): undistortPoints, triangulatePoints per pair, median."""
    t, v, j, _ = uv.shape
    und = undistorted_pixels(cams, np.ascontiguousarray(uv.transpose(1, 0, 2, 3)).reshape(v, -1, 2))
    est = []
    for a, b in itertools.combinations(range(v), 2):
        h = cv2.triangulatePoints(P[a], P[b], und[a].T.copy(), und[b].T.copy())
        est.append((h[:3] / h[3]).T)
    return np.median(np.array(est), 0).reshape(t, j, 3)


def aniposelib_group(cams: Camera, path: str | None):
    """aniposelib CameraGroup of the rig, or None with a message."""
    if path:
        sys.path.insert(0, path)
    try:
        from aniposelib.cameras import Camera as ACamera
        from aniposelib.cameras import CameraGroup
    except ImportError as exc:
        print(f"aniposelib not available ({exc}); skipped (pass --aniposelib-path DIR)")
        return None
    return CameraGroup([
        ACamera(matrix=np.asarray(cams.K[i]), dist=np.asarray(cams.dist[i]), size=[1088, 1920],
                rvec=cv2.Rodrigues(np.asarray(cams.R[i]))[0].ravel(), tvec=np.asarray(cams.t[i]))
        for i in range(len(cams))
    ])


def make_data(cams: Camera, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    t, j, _ = X.shape
    v = len(cams)
    with jax.enable_x64(True):
        uv = np.asarray(project_points(cams, X.reshape(1, t * j, 3))).reshape(v, t, j, 2).transpose(1, 0, 2, 3)
    return uv + rng.normal(0, 1.0, uv.shape)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8000)
    ap.add_argument("--joints", type=int, default=25)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--peer-repeat", type=int, default=1, help="timed runs of the (slow) peers")
    ap.add_argument("--aniposelib-path", default=None, help="folder to add to sys.path for aniposelib")
    args = ap.parse_args(argv)
    print(machine_info(jax=f"{jax.__version__} ({jax.devices()[0].platform})", numpy=np.__version__,
                       opencv=cv2.__version__))
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    t, v, j = args.frames, args.views, args.joints
    n = t * j
    cams = make_rig(rng, v)
    X = np.array([0.0, 0.0, 1.0]) + rng.uniform(-1, 1, (t, j, 3)) * [0.4, 0.4, 0.9]
    uv = make_data(cams, X, rng)
    uv32 = uv.astype(np.float32)
    conf32 = np.ones(uv.shape[:-1], np.float32)
    P = np.asarray(cams.K) @ np.concatenate([cams.R, cams.t[..., None]], -1)
    ref = numpy_svd_dlt(P, undistorted_pixels(cams, np.ascontiguousarray(uv.transpose(1, 0, 2, 3)).reshape(v, n, 2)))
    ref = ref.reshape(t, j, 3)
    err_ref = 1000 * np.linalg.norm(ref - X, axis=-1).mean()
    print(f"\n{t} frames x {v} views x {j} joints = {n} points; rig 3-5 m, 1 px noise; newton steps "
          f"{newton_steps_for(cams)}; load average {load_before[0]:.1f}\n")
    print(f"{'method':52s} {'points/s':>12s} {'(median)':>12s} {'CPU s':>7s}  {'3D err mm':>9s}  "
          f"{'max|X-SVD64| mm':>15s}")
    rows = {}

    def report(name, fn, repeat=args.repeat, truth=X, reference=ref, key=None):
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        out, best, median, cpu = timed(fn, repeat)
        pts = np.asarray(out, np.float64).reshape(truth.shape)
        err = 1000 * np.nanmean(np.linalg.norm(pts - truth, axis=-1))
        dev = 1000 * np.nanmax(np.linalg.norm(pts - reference, axis=-1)) if reference is not None else np.nan
        rows[key or name] = n / best
        print(f"{name:52s} {n / best:12,.0f} {n / median:12,.0f} {cpu:7.3f}  {err:9.4f}  {dev:15.4f}"
              f"   (first call {first:.1f} s)", flush=True)
        return pts

    fast, robust = make_triangulator(cams), make_triangulator(cams, robust=True)
    X_fast = report("lift3d make_triangulator (float32)", lambda: np.asarray(fast(uv32, conf32)), key="fast")
    report("lift3d make_triangulator(robust=True) (float32)", lambda: np.asarray(robust(uv32, conf32)),
           key="robust")
    report("lift3d triangulate_dlt (jit core, float32)",
           lambda: np.asarray(triangulate_dlt(cams, uv32, conf32)[0]), repeat=2)
    report("lift3d triangulate_ransac (jit core, float32)",
           lambda: np.asarray(triangulate_ransac(jax.random.key(0), cams, uv32, conf32)[0]), repeat=1)
    print(f"{'numpy SVD DLT float64 (reference)':52s} {'':12s} {'':12s} {'':7s}  {err_ref:9.4f}  {0:15.4f}")
    report("OpenCV undistortPoints + triangulatePoints pairs, median", lambda: cv2_pairs(cams, P, uv),
           repeat=args.peer_repeat, key="cv2")
    with jax.enable_x64(True):  # the same estimator in float64
        X64 = np.asarray(make_triangulator(cams, num_undistort_iters=12)(uv))
    dev64 = 1000 * np.max(np.linalg.norm(X_fast - X64, axis=-1))
    err64 = 1000 * np.linalg.norm(X64 - X, axis=-1).mean()
    err32 = 1000 * np.linalg.norm(X_fast - X, axis=-1).mean()

    # the same rig without distortion
    cams0 = make_rig(np.random.default_rng(0), v, distortion=False)
    uv0 = make_data(cams0, X, np.random.default_rng(1)).astype(np.float32)
    P0 = np.asarray(cams0.K) @ np.concatenate([cams0.R, cams0.t[..., None]], -1)
    ref0 = numpy_svd_dlt(P0, np.ascontiguousarray(uv0.transpose(1, 0, 2, 3)).reshape(v, n, 2)).reshape(t, j, 3)
    fast0, robust0 = make_triangulator(cams0), make_triangulator(cams0, robust=True)
    print("\nsame rig, no distortion:")
    report("lift3d make_triangulator, no distortion", lambda: np.asarray(fast0(uv0, conf32)), reference=ref0,
           key="fast0")
    report("lift3d make_triangulator(robust=True), no distortion", lambda: np.asarray(robust0(uv0, conf32)),
           reference=ref0, key="robust0")

    # 5 % gross outliers: what the robust mode is for
    bad = np.random.default_rng(2).random(uv.shape[:-1]) < 0.05
    uv_out = uv32.copy()
    uv_out[bad] += np.random.default_rng(3).choice([-1, 1], (bad.sum(), 2)) * np.random.default_rng(4).uniform(
        30, 300, (bad.sum(), 2))
    e_lin = 1000 * np.nanmean(np.linalg.norm(np.asarray(fast(uv_out, conf32)) - X, axis=-1))
    e_rob = 1000 * np.nanmean(np.linalg.norm(np.asarray(robust(uv_out, conf32)) - X, axis=-1))

    group = aniposelib_group(cams, args.aniposelib_path)
    if group is not None:
        def anipose():
            return group.triangulate(np.ascontiguousarray(uv.transpose(1, 0, 2, 3)).reshape(v, n, 2))
        report("aniposelib 0.8 CameraGroup.triangulate (float64)", anipose, repeat=args.peer_repeat,
               key="aniposelib")

    load_after = os.getloadavg()
    print(f"\nfloat32 kernel vs its float64 evaluation (same estimator): max {dev64:.5f} mm; mean 3D error "
          f"float32 {err32:.4f} mm, float64 {err64:.4f} mm, float64 SVD DLT {err_ref:.4f} mm "
          f"({100 * (err32 / err_ref - 1):+.3f} %)")
    print(f"with 5 % gross outliers: mean 3D error linear {e_lin:.2f} mm, robust {e_rob:.2f} mm")
    print("\nspeed ratios (lift3d / peer): "
          + "; ".join(f"{mode} vs {peer}: x{rows[mode] / rows[peer]:.1f}"
                      for mode in ("fast", "robust") for peer in ("aniposelib", "cv2") if peer in rows))
    print(f"targets: linear >= 10 M points/s: {rows['fast'] / 1e6:.2f} M/s with distortion, "
          f"{rows['fast0'] / 1e6:.2f} M/s without; robust >= 1 M/s: {rows['robust'] / 1e6:.2f} / "
          f"{rows['robust0'] / 1e6:.2f} M/s")
    print(f"load average before {load_before[0]:.1f} / after {load_after[0]:.1f} (1 min), "
          f"{load_after[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()

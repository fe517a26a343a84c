"""Issue 17 benchmark: fixed-rig kernels (`make_triangulator`) against the jit path, for 4, 8 and 16 cameras.

Data: v portrait cameras on a ring 3-5 m from a human-sized volume (benchmarks/triangulation.py's `make_rig`, mild
distortion), `--frames` x 25 joints, exact projection + 1 px noise, 5 % of the observations moved by 30-300 px
(gross outliers), confidences uniform in [0.5, 1]. Keypoints start as numpy float32 in their natural layout
(frames, views, joints, 2) and end as (frames, joints, 3) numpy: layout changes are timed.

Rows per rig: the linear kernel `make_triangulator(cams)` and its jit peer `triangulate_dlt`; the robust kernel
`make_triangulator(cams, robust=True)` (all pairs up to 8 views, pairs among each point's 8 most confident views
beyond) and its jit peer `triangulate_ransac` (all pairs up to 8 views, 32 random pairs per point beyond);
aniposelib `CameraGroup.triangulate` when importable. Throughput is the best of `--repeat` warm calls (the peers:
`--peer-repeat`); "first call" is the first call of a fresh function (its compilation included). The robust rows
also print the mean 3D error against the truth and the share of points where kernel and jit path use the same
views.

Memory bound of the linear kernel: the bytes it moves per point (the float32 keypoints read and transposed to
structure of arrays, read again with the confidences, the point written as complex X + iY and Z, stacked) are
set against the bandwidth of a plain copy measured in the same run (numpy `copyto` and a jitted `x + 0`).

The machine is shared: the load average is printed before and after; compare ratios within one run.

Usage: python benchmarks/triangulation_cameras.py [--frames 4000] [--views 4 8 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from machine import best_time, machine_info  # sibling module: benchmarks/ is on sys.path when run as a script
from triangulation import make_data, make_rig

from lift3d.geometry.triangulation import make_triangulator, triangulate_dlt, triangulate_ransac


def copy_bandwidth(nbytes: int = 64 << 20) -> tuple[float, float]:
    """GB/s (bytes read + written) of a plain copy: numpy `copyto`, and a jitted `x + 0` (XLA:CPU loop)."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t_np = best_time(lambda: np.copyto(dst, src), 5)
    x = jnp.asarray(src)
    add = jax.jit(lambda a: a + 0.0)
    add(x).block_until_ready()
    t_jax = best_time(lambda: add(x).block_until_ready(), 5)
    return 2 * nbytes / t_np / 1e9, 2 * nbytes / t_jax / 1e9


def linear_bytes_per_point(v: int) -> int:
    """Bytes the linear kernel path moves per point (float32): read 8 v + write 8 v (transpose to structure of
    arrays), read 8 v + 4 v (keypoints and confidences in the kernel), write 8 + 4 (X + iY, Z), read 12 + write
    12 (stack)."""
    return 16 * v + 12 * v + 12 + 24


def aniposelib_group(cams):
    """aniposelib CameraGroup of the rig, or None."""
    try:
        import cv2
        from aniposelib.cameras import Camera as ACamera
        from aniposelib.cameras import CameraGroup
    except ImportError:
        return None
    return CameraGroup([
        ACamera(matrix=np.asarray(cams.K[i]), dist=np.asarray(cams.dist[i]), size=[1088, 1920],
                rvec=cv2.Rodrigues(np.asarray(cams.R[i]))[0].ravel(), tvec=np.asarray(cams.t[i]))
        for i in range(len(cams))
    ])


def bench_rig(v: int, frames: int, joints: int, repeat: int, peer_repeat: int) -> dict:
    """Rows for one v-camera rig: {name: (points/s, first-call s, extra text)}."""
    rng = np.random.default_rng(v)
    cams = make_rig(rng, v)
    X = np.array([0.0, 0.0, 1.0]) + rng.uniform(-1, 1, (frames, joints, 3)) * [0.4, 0.4, 0.9]
    uv = make_data(cams, X, rng)
    bad = rng.random(uv.shape[:-1]) < 0.05
    uv[bad] += rng.choice([-1, 1], (bad.sum(), 2)) * rng.uniform(30, 300, (bad.sum(), 2))
    uv = uv.astype(np.float32)
    conf = rng.uniform(0.5, 1.0, uv.shape[:-1]).astype(np.float32)
    n = frames * joints
    key = jax.random.key(0)
    rows = {}

    def run(name, make, call, reps):
        t0 = time.perf_counter()
        fn = make()
        out = call(fn)
        first = time.perf_counter() - t0
        rows[name] = [n / best_time(lambda: call(fn), reps), first, out]

    run("linear kernel", lambda: make_triangulator(cams), lambda f: np.asarray(f(uv, conf)), repeat)
    def with_views(result):  # (points, views used) as numpy
        return np.asarray(result[0]), np.asarray(result[1].views_used)

    run("robust kernel", lambda: make_triangulator(cams, robust=True),
        lambda f: with_views(f(uv, conf, return_info=True)), repeat)
    run("jit triangulate_dlt", lambda: None, lambda f: np.asarray(triangulate_dlt(cams, uv, conf)[0]), peer_repeat)
    run("jit triangulate_ransac", lambda: None,
        lambda f: with_views(triangulate_ransac(key, cams, uv, conf)), peer_repeat)
    group = aniposelib_group(cams)
    if group is not None:
        uv_vn = np.ascontiguousarray(uv.transpose(1, 0, 2, 3)).reshape(v, n, 2).astype(np.float64)
        run("aniposelib CameraGroup.triangulate", lambda: group, lambda g: g.triangulate(uv_vn), peer_repeat)
    views = {name: rows[name][2][1] for name in ("robust kernel", "jit triangulate_ransac")}
    for name in rows:
        out = rows[name][2]
        pts = out[0] if isinstance(out, tuple) else out
        err = 1000 * np.nanmean(np.linalg.norm(np.asarray(pts, np.float64).reshape(X.shape) - X, axis=-1))
        rows[name][2] = f"3D error {err:6.1f} mm"
    same = np.all(views["robust kernel"] == views["jit triangulate_ransac"], axis=-2).mean()
    rows["robust kernel"][2] += f"; same views as triangulate_ransac: {100 * same:.2f} % of points"
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=4000)
    ap.add_argument("--joints", type=int, default=25)
    ap.add_argument("--views", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-repeat", type=int, default=1)
    args = ap.parse_args(argv)
    print(machine_info(jax=f"{jax.__version__} ({jax.devices()[0].platform})", numpy=np.__version__))
    load_before = os.getloadavg()
    gb_np, gb_jax = copy_bandwidth()
    print(f"{args.frames} frames x {args.joints} joints = {args.frames * args.joints} points per call; 1 px noise, "
          f"5 % gross outliers; plain copy {gb_np:.1f} GB/s (numpy), {gb_jax:.1f} GB/s (jitted x + 0)")
    try:
        import aniposelib  # noqa: F401
    except ImportError:
        print("aniposelib not installed: skipped")
    print(f"\n{'views':>5s}  {'method':36s} {'points/s':>13s} {'first call s':>12s}")
    for v in args.views:
        rows = bench_rig(v, args.frames, args.joints, args.repeat, args.peer_repeat)
        for name, (rate, first, extra) in rows.items():
            print(f"{v:5d}  {name:36s} {rate:13,.0f} {first:12.2f}   {extra}", flush=True)
        lin = rows["linear kernel"][0]
        b = linear_bytes_per_point(v)
        print(f"{v:5d}  linear kernel moves {b} B/point: {lin * b / 1e9:.1f} GB/s at {lin / 1e6:.1f} M points/s "
              f"(copy: {gb_np:.1f} GB/s numpy, {gb_jax:.1f} GB/s XLA; bound {gb_np * 1e9 / b / 1e6:.0f} / "
              f"{gb_jax * 1e9 / b / 1e6:.0f} M points/s)", flush=True)
    load_after = os.getloadavg()
    print(f"\nload average before {load_before[0]:.1f} / after {load_after[0]:.1f} (1 min), "
          f"{load_after[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()

"""Do the two triangulation backends give one answer on real data? `triangulate_sequence` "jax" vs "fixed_rig".

Data: the Pose2Sim balancing trial of `../shared/data` (4 cameras, 100 frames, OpenPose BODY_25B, the subject
only, Pose2Sim's 0.3 likelihood threshold), as `tests/geometry/test_triangulate_real.py` reads it; and a long
version of it (the trial repeated `--repeats` times, each copy with 1 px Gaussian noise added), which gives the
view selection many more joints near its 20 px threshold. Printed (maximum over joints, mm; views = joints whose
view set differs):
- the jitted path against itself with another chunk size (refined RANSAC: what the refinement leaves open);
- the fixed-rig kernels against the jitted path: plain DLT unrefined and refined, RANSAC refined;
- wall time of each backend on the long version (first call = with compilation, then warm).

Usage: python benchmarks/triangulation_backends.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.geometry.triangulation import triangulate_sequence
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

TRIAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "pose2sim_trials"


def load_trial():
    rig = load_rig(TRIAL / "Calib.qca.txt")
    kp = read_keypoints([TRIAL / "single_BalancingTrial" / "pose" / f"cam0{i}_json" for i in range(1, 5)],
                        format="openpose", skeleton="body_25b")
    lik = kp.confidence[:, :, 0]
    return rig.cameras, kp.points[:, :, 0].astype(np.float32), np.where(lik >= 0.3, lik, 0.0).astype(np.float32)


def compare(name, a, b):
    d = 1000 * np.nanmax(np.abs(a.points_3d - b.points_3d))
    views = int(np.sum(np.any(a.views_used != b.views_used, -2)))
    err = np.nanmax(np.abs(a.mean_error_px - b.mean_error_px))
    print(f"{name:58s} max |dX| {d:10.4f} mm   views differ {views:5d}   max |d error| {err:.4f} px")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(machine_info())
    cams, uv, conf = load_trial()
    rng = np.random.default_rng(0)
    long_uv = np.concatenate([uv] + [uv + rng.normal(0, 1.0, uv.shape).astype(np.float32)
                                     for _ in range(args.repeats - 1)])
    long_conf = np.concatenate([conf] * args.repeats)
    ransac = {"method": "ransac", "threshold_px": 20.0}
    for label, (u, c) in (("trial", (uv, conf)), (f"trial x{args.repeats}", (long_uv, long_conf))):
        ref = triangulate_sequence(cams, u, c, refine=True, backend="jax", **ransac)
        compare(f"{label}: jax RANSAC+refine, chunk 32 vs default",
                triangulate_sequence(cams, u, c, refine=True, backend="jax", chunk_size=32, **ransac), ref)
        compare(f"{label}: fixed_rig vs jax, RANSAC+refine",
                triangulate_sequence(cams, u, c, refine=True, backend="fixed_rig", **ransac), ref)
        for refine in (False, True):
            compare(f"{label}: fixed_rig vs jax, DLT refine={refine}",
                    triangulate_sequence(cams, u, c, method="dlt", refine=refine, backend="fixed_rig"),
                    triangulate_sequence(cams, u, c, method="dlt", refine=refine, backend="jax"))
    n = long_uv.shape[0] * long_uv.shape[2]
    for method, opts in (("dlt", {}), ("ransac", {"threshold_px": 20.0})):
        for backend in ("jax", "fixed_rig"):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                triangulate_sequence(cams, long_uv, long_conf, method=method, refine=True, backend=backend,
                                     chunk_size=512, **opts)
                times.append(time.perf_counter() - t0)
            print(f"{method:6s} + refine, {backend:9s}: first {times[0]:6.2f} s, warm {min(times[1:]):6.3f} s "
                  f"({n / min(times[1:]) / 1e6:.2f} M points/s)")


if __name__ == "__main__":
    main()

"""lift3d's ``--method pose2sim`` against Pose2Sim itself on the balancing trial: differences in mm and times.

Runs `pose2sim_reference.py` with a Python that has Pose2Sim (a separate environment: Pose2Sim is no lift3d
dependency), or reads an npz it made, then `lift3d.apps.triangulate.triangulate_capture` with Pose2Sim's
settings (``--method pose2sim --threshold-px 15 --min-confidence 0.3 --no-refine --keep-outliers --filter
none``), and prints over every joint and frame Pose2Sim outputs the max and mean |difference| (mm) of

- the triangulation (lift3d's ``raw_points_3d`` vs Pose2Sim's points before its interpolation; where Pose2Sim
  gives NaN, lift3d must too), and
- the gap-filled output (`interpolate_pose2sim` on lift3d's points vs the TRC Pose2Sim writes),

plus the wall time of each side (lift3d: reading, association, triangulation; Pose2Sim: association and
triangulation, as timed inside the reference script) and their ratio. Usage::

    python benchmarks/pose2sim_match.py --pose2sim-python /tmp/p2senv/bin/python [--pose2sim-path DIR]
    python benchmarks/pose2sim_match.py --reference /tmp/p2s_0.8.4.npz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.apps.triangulate import triangulate_capture
from lift3d.geometry.triangulation.pose2sim import interpolate_pose2sim

ROOT = Path(__file__).resolve().parents[1]
TRIALS = ROOT.parent / "shared" / "data" / "pose2sim_trials"


def reference(args) -> Path:
    """The reference npz: given, or made now by the Pose2Sim environment."""
    if args.reference is not None:
        return args.reference
    out = Path(tempfile.mkdtemp(prefix="p2s_match_")) / "reference.npz"
    env = dict(os.environ)
    if args.pose2sim_path:
        env["PYTHONPATH"] = str(args.pose2sim_path)
    subprocess.run([str(args.pose2sim_python), str(ROOT / "benchmarks" / "pose2sim_reference.py"),
                    "--trial", str(args.trial), "--out", str(out)], check=True, env=env)  # fmt: skip
    return out


def lift3d_points(trial: Path, settings: dict, fps: float):
    """lift3d's raw triangulation (t, 25, 3) of the trial with Pose2Sim's settings, and its wall time."""
    if settings.get("undistort_points") or settings.get("handle_LR_swap"):
        raise SystemExit("Pose2Sim ran with undistort_points or handle_LR_swap: not reproduced by lift3d")
    cams = sorted(p for p in (trial / "pose").iterdir() if p.is_dir())
    t0 = time.perf_counter()
    res = triangulate_capture(
        trial.parent / "Calib.qca.txt", cams, format="openpose", skeleton="body_25b", fps=fps, method="pose2sim",
        threshold_px=float(settings["reproj_error_threshold_triangulation"]),
        min_confidence=float(settings["likelihood_threshold_triangulation"]), refine=False, outliers=False,
        filter="none", progress=False,
    )  # fmt: skip
    return res.raw_points_3d[:, 0], time.perf_counter() - t0


def compare(ref: dict, mine: np.ndarray) -> dict:
    """Max / mean |difference| in mm where Pose2Sim has points, and NaN agreement."""
    ids = list(ref["joint_ids"])
    X = mine[:, ids]
    raw, trc = ref["points_raw"], ref["points"]
    has = np.isfinite(raw[..., 0])
    d_raw = np.abs(X - raw)[has] * 1000
    settings = json.loads(str(ref["settings"]))
    gap = int(settings["interp_if_gap_smaller_than"])
    filled = interpolate_pose2sim(X, kind=settings["interpolation"], max_gap=gap)
    has_trc = np.isfinite(trc[..., 0])
    d_trc = np.abs(filled - trc)[has_trc] * 1000
    return {
        "points": int(has.sum()), "nan_agree": bool((np.isfinite(X[..., 0]) == has).all()),
        "raw_max_mm": float(d_raw.max()), "raw_mean_mm": float(d_raw.mean()),
        "trc_points": int(has_trc.sum()), "trc_max_mm": float(d_trc.max()), "trc_mean_mm": float(d_trc.mean()),
    }


def main(argv=None) -> None:
    """Print the comparison (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trial", type=Path, default=TRIALS / "single_BalancingTrial")
    p.add_argument("--reference", type=Path, default=None, help="npz of pose2sim_reference.py (else run it)")
    p.add_argument("--pose2sim-python", type=Path, default=Path(sys.executable))
    p.add_argument("--pose2sim-path", type=Path, default=None, help="PYTHONPATH holding Pose2Sim, if not installed")
    p.add_argument("--repeat", type=int, default=3, help="lift3d runs; the best time is reported")
    args = p.parse_args(argv)
    ref = dict(np.load(reference(args)))
    settings = json.loads(str(ref["settings"]))
    times = []
    for _ in range(max(1, args.repeat)):
        mine, seconds = lift3d_points(args.trial, settings, float(ref["frame_rate"]))
        times.append(seconds)
    r = compare(ref, mine)
    print(machine_info(numpy=np.__version__, pose2sim=str(ref["version"])))
    p2s = float(ref["seconds_association"]) + float(ref["seconds_triangulation"])
    print(f"pose2sim {ref['version']} vs lift3d --method pose2sim on {args.trial.name}: {r['points']} points "
          f"({mine.shape[0]} frames x {len(ref['joint_ids'])} joints), NaN where Pose2Sim has none: {r['nan_agree']}")
    print(f"  triangulation   max {r['raw_max_mm']:.6f} mm  mean {r['raw_mean_mm']:.6f} mm")
    print(f"  gap-filled TRC  max {r['trc_max_mm']:.6f} mm  mean {r['trc_mean_mm']:.6f} mm  ({r['trc_points']} points)")
    print(f"  time: Pose2Sim {p2s:.2f} s (association {float(ref['seconds_association']):.2f} s + triangulation "
          f"{float(ref['seconds_triangulation']):.2f} s), lift3d {min(times):.2f} s (best of {len(times)}, first "
          f"{times[0]:.2f} s): {p2s / min(times):.1f}x")


if __name__ == "__main__":
    main()

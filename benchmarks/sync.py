"""`lift3d sync` recovery error over a grid of known offsets, on the real balancing trial's keypoints.

Data: the Pose2Sim balancing trial (OpenPose BODY_25B, 4 cameras, 100 frames at 60 fps). Known offsets are
made by shifting a camera's main person by d frames (d = -20..20 in steps of 2.5; whole frames dropped / padded,
half frames by linear interpolation between frames, confidence the lower of the two), then measured with
`lift3d.geometry.sync` at its defaults (6 Hz low-pass, the most confident half of the joints, max lag a third of
the capture, overlap at least half of it). Two settings:

- self: each real view against its own shifted copy (the exact answer is d): the error of the method alone.
- cross: real views against each other (cam02 the reference, cam03 or cam04 shifted); the trial's own offsets
  are not known to a frame, so the error is the change of the measured offset minus d, against the unshifted
  measurement: it adds what differs between views (2D speeds seen from other angles, detector noise).

Usage: python benchmarks/sync.py [--trial ../shared/data/pose2sim_trials/single_BalancingTrial/pose]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.geometry import sync
from lift3d.io.keypoints import read_keypoints
from lift3d.synthetic.delays import delayed_track

FPS = 60.0
TRIAL = Path(__file__).resolve().parents[1].parent / "shared/data/pose2sim_trials/single_BalancingTrial/pose"




def measure(people, joints, views, shifts):
    signals = [
        (*sync.motion_signal(*delayed_track(*people[v], d), FPS, joints=joints), FPS)
        for v, d in zip(views, shifts, strict=True)
    ]
    return sync.synchronize(signals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial", type=Path, default=TRIAL)
    args = parser.parse_args()
    print(machine_info(numpy=np.__version__))
    kp = read_keypoints([args.trial / f"cam0{i}_json" for i in range(1, 5)], format="openpose", skeleton="body_25b")
    joints = sync.reliable_joints(np.nan_to_num(kp.confidence).max(axis=2).mean(axis=(0, 1)))
    people = [sync.main_person(kp.points[:, v], kp.confidence[:, v]) for v in range(kp.num_views)]
    grid = np.arange(-20, 20.01, 2.5)
    start = time.perf_counter()
    rows = {}
    for v in range(4):  # self
        rows[f"self {kp.views[v]}"] = [measure(people, joints, [v, v], [0, d])[1] for d in grid]
    base = [r.offset_frames for r in measure(people, joints, [1, 2, 3], [0, 0, 0])]
    for k in (1, 2):  # cross: cam03 / cam04 shifted against cam02
        rows[f"cross {kp.views[k + 1]} vs {kp.views[1]}"] = [
            measure(people, joints, [1, 2, 3], [0, d if k == 1 else 0, d if k == 2 else 0])[k] for d in grid
        ]
    elapsed = time.perf_counter() - start
    unshifted = ", ".join(f"{kp.views[i + 1]} {b:+.2f}" for i, b in enumerate(base))
    print(f"trial {args.trial}: {kp.num_frames} frames, {FPS:g} fps; unshifted cross offsets vs cam02: {unshifted}")
    print(f"shifts d (frames): {', '.join(f'{d:g}' for d in grid)}\n")
    print("| setting | max abs error (frames) | mean abs error | integer d exact | max error at |d| <= 10 | min peak |")
    print("|---|---|---|---|---|---|")
    for name, results in rows.items():
        got = np.array([r.offset_frames for r in results])
        if name.startswith("cross"):
            got = got - base[1 if "cam03" in name else 2]
        err = np.abs(got - grid)
        whole = grid == np.round(grid)
        exact = int(np.sum(np.round(got[whole]) == grid[whole]))
        near = np.abs(grid) <= 10
        print(
            f"| {name} | {err.max():.2f} | {err.mean():.3f} | {exact}/{whole.sum()} | {err[near].max():.2f} | "
            f"{min(r.peak for r in results):.2f} |"
        )
    for k in (1, 2):
        results = rows[f"cross {kp.views[k + 1]} vs {kp.views[1]}"]
        errors = ", ".join(
            f"{d:g}: {abs(r.offset_frames - base[k] - d):.2f}" for d, r in zip(grid, results, strict=True)
        )
        print(f"\nper-shift error, cross {kp.views[k + 1]} vs {kp.views[1]}: {errors}")
    print(f"\n{len(grid) * 6 + 1} synchronisations in {elapsed:.2f} s")


if __name__ == "__main__":
    main()

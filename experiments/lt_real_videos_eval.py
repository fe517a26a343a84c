"""How close the algebraic model gets to the OpenPose-based 3D on the sample's real videos (issue 19 item 3).

Needs ``python experiments/lt_real_videos_labels.py`` (``runs/lt_real_labels``) and trained models. On the same
frames of the balancing trial (``video_SinglePerson``, 4 cameras, 60 fps), against lift3d's triangulation of the
OpenPose BODY_25B keypoints Pose2Sim ships (world frame, no alignment, mapped to the 17 H36M joints; mean over the
17 joints and over the 12 limb joints, mm, as ``benchmarks/video_to_3d.py``), separately on the held-out block
(frames 70-99: never seen in training) and on the training frames (0-69):

- BlazePose + lift3d's robust triangulation (`lift3d run`'s 3D: RANSAC + refinement, swap repair, outliers,
  Butterworth 6 Hz) = the pseudo-labels, and the same triangulation without the filter (``--filter none``);
- each ``--model`` (a run's ``WORKDIR``): crops placed by BlazePose's 2D joints in each view -> heatmaps ->
  soft-argmax -> DLT weighted by the learned confidences (`lift3d.predict.lt_videos.triangulate_videos`), per
  frame (unfiltered), and with the same Butterworth 6 Hz filter over the 100 frames.

Usage: python experiments/lt_real_videos_eval.py --model runs/lt_alg_short --model runs/lt_real [--labels DIR]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from lift3d.apps.demo_steps import compare_reconstructions
from lift3d.apps.triangulate import triangulate_capture
from lift3d.datasets.video_frames import read_video_labels
from lift3d.geometry.temporal import butterworth
from lift3d.io.rigs import load_rig
from lift3d.predict.lt_videos import triangulate_videos
from lift3d.train.lt_eval import load_model


def _row(name: str, op: np.ndarray, pred_m: np.ndarray, skeleton: str, splits: dict) -> str:
    cells = []
    for sel in splits.values():
        a = compare_reconstructions(op[sel], "body_25b", pred_m[sel], skeleton, units="m")
        cells += [f"{a.mean_mm:.1f}", f"{a.direct_mean_mm:.1f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def _blocks(op: np.ndarray, lab: dict, pred_m: np.ndarray, held: np.ndarray, size: int = 5) -> str:
    """Limb-joint distances to the OpenPose-based 3D per block of `size` held-out frames: BlazePose | model."""
    idx = np.flatnonzero(held)
    out = []
    for s in range(0, len(idx), size):
        sel = idx[s : s + size]
        a = compare_reconstructions(op[sel], "body_25b", lab["joints_3d_mm"][sel] / 1000.0, "h36m_17", units="m")
        b = compare_reconstructions(op[sel], "body_25b", pred_m[sel], "h36m_17", units="m")
        out.append(f"{lab['frames'][sel[0]]}-{lab['frames'][sel[-1]]}: {a.direct_mean_mm:.0f} | {b.direct_mean_mm:.0f}")
    return ", ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=Path("runs/lt_real_labels"))
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--test-frames", type=int, nargs=2, default=(70, 100))
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    lab = read_video_labels(args.labels / "labels.npz")
    rig = load_rig(lab["rig"])
    op_file = np.load(args.labels / "openpose_3d.npz")
    op, frames = op_file["points_3d"], lab["frames"]
    if not np.array_equal(op_file["frames"] - op_file["frames"][0], frames - frames[0]):
        raise SystemExit("OpenPose 3D and labels cover different frames")
    lo, hi = args.test_frames
    held = (frames >= lo) & (frames < hi)
    splits = {"held-out": held, "train": ~held}
    print(f"held-out frames {lo}-{hi - 1} ({held.sum()}), training frames {(~held).sum()}")
    print("| 3D vs the OpenPose-based 3D (mm) | held-out, 17 joints | held-out, 12 limbs | train, 17 joints | "
          "train, 12 limbs |\n|---|---:|---:|---:|---:|")  # fmt: skip
    print(_row("BlazePose + robust triangulation (`lift3d run`, Butterworth 6 Hz) = pseudo-labels", op,
               lab["joints_3d_mm"] / 1000.0, "h36m_17", splits))  # fmt: skip
    raw = triangulate_capture(rig, [args.labels / "run" / "pose" / "keypoints.npz"], format="npz", fps=60,
                              filter="none", progress=False)  # fmt: skip
    print(_row("BlazePose + robust triangulation, no filter", op, raw.points_3d[:, 0], "blazepose", splits))
    for workdir in args.model:
        model, _ = load_model(workdir / "model" if (workdir / "model").is_dir() else workdir)
        t0 = time.perf_counter()
        res = triangulate_videos(model, rig, lab["videos"], frames, lab["detections_2d"], views=lab["views"],
                                 image_size=args.image_size)  # fmt: skip
        secs = time.perf_counter() - t0
        print(_row(f"algebraic model `{workdir}`, per frame", op, res.points_3d, "h36m_17", splits))
        smooth = butterworth(res.points_3d, fps=60, cutoff_hz=6.0)
        print(_row(f"algebraic model `{workdir}` + Butterworth 6 Hz", op, smooth, "h36m_17", splits))
        print(f"  per 5 held-out frames, 12 limbs (BlazePose | model): {_blocks(op, lab, res.points_3d, held)}")
        pseudo = compare_reconstructions(lab["joints_3d_mm"][held] / 1000.0, "h36m_17", res.points_3d[held],
                                         "h36m_17", units="m")  # fmt: skip
        print(f"  ({len(frames)} frames x {len(lab['views'])} views in {secs:.1f} s incl. decoding and compiling; "
              f"held-out distance to the pseudo-labels {pseudo.mean_mm:.1f} mm (17 joints); mean learned weight "
              f"per view {np.round(res.weights[held].mean((0, 2)), 3).tolist()})")  # fmt: skip


if __name__ == "__main__":
    main()

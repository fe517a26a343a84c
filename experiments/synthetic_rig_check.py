"""Calibration end to end on rendered images with a known rig: intrinsics, then the rig; errors vs the truth.

Run: `.venv/bin/python experiments/synthetic_rig_check.py --cameras 8 --intrinsic-views 20 --frames 120 --size 1280x960`
(table in experiments/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from lift3d.apps.calibrate import calibrate_extrinsics, calibrate_intrinsics
from lift3d.calibration.report import compare_rigs
from lift3d.synthetic.boards import render_rig_capture


def synthetic_rig_check(
    key: jax.Array,
    folder: str | os.PathLike,
    *,
    num_cameras: int = 4,
    intrinsic_views: int = 10,
    frames: int = 24,
    image_size: tuple[int, int] = (640, 480),
    refine_intrinsics: str = "none",
    detector: str = "auto",
) -> dict:
    """End to end on rendered images: intrinsics per camera (close-up views), then the rig; errors vs truth.

    Renders with `render_rig_capture`, runs `calibrate_intrinsics` then `calibrate_extrinsics` (with those
    intrinsics), and compares with the true rig (`compare_rigs`).

    Args:
        key: Random key.
        folder: Where images, rig files and reports go.
        num_cameras, intrinsic_views, frames, image_size: See `render_rig_capture`.
        refine_intrinsics: Passed to `calibrate_extrinsics`.
        detector: Passed to both calibrations.

    Returns:
        `compare_rigs`'s errors plus "fx_error_intrinsics_pct" (before the rig), "rms_px" (bundle
        adjustment), "views" (rig-capture views rendered per camera) and "seconds" (calibration only).
    """
    folder = Path(folder)
    cap = render_rig_capture(
        key,
        folder,
        num_cameras=num_cameras,
        intrinsic_views=intrinsic_views,
        frames=frames,
        image_size=image_size,
    )
    board = cap["board"]
    t0 = time.perf_counter()
    intr, _ = calibrate_intrinsics(
        cap["intrinsics"], board, folder / "intrinsics.toml", coverage_png=False, detector=detector
    )
    est, rep = calibrate_extrinsics(
        cap["extrinsics"],
        board,
        folder / "rig.toml",
        intrinsics=intr,
        refine_intrinsics=refine_intrinsics,
        detector=detector,
    )
    seconds = time.perf_counter() - t0
    fx_true = np.asarray(cap["rig"].cameras.K)[:, 0, 0]
    return compare_rigs(est, cap["rig"]) | {
        "fx_error_intrinsics_pct": float(
            100 * np.abs(np.asarray(intr.cameras.K)[:, 0, 0] / fx_true - 1).max()
        ),
        "rms_px": rep["bundle_adjustment"]["rms_px"],
        "views": cap["seen"].sum(1).tolist(),
        "seconds": seconds,
    }


def main(argv=None) -> None:
    """The end-to-end check at a chosen size."""
    ap = argparse.ArgumentParser(description=synthetic_rig_check.__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, default=8)
    ap.add_argument("--intrinsic-views", type=int, default=20)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", default="1280x960", help="image width x height")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--refine-intrinsics", default="none")
    ap.add_argument("--out", default=None, help="folder for images and reports (default: a temporary one)")
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.split("x"))
    folder = args.out or tempfile.mkdtemp(prefix="lift3d_synth_")
    res = synthetic_rig_check(
        jax.random.key(args.seed),
        folder,
        num_cameras=args.cameras,
        intrinsic_views=args.intrinsic_views,
        frames=args.frames,
        image_size=(w, h),
        refine_intrinsics=args.refine_intrinsics,
    )
    print(json.dumps(res, indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()

"""JSON-ready calibration reports and coverage maps (PNG, matplotlib imported lazily)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lift3d.calibration.boards import BoardDetections
from lift3d.calibration.extrinsics import PairPose, world_from_camera
from lift3d.calibration.intrinsics import IntrinsicsResult
from lift3d.calibration.solvers.bundle import BundleResult
from lift3d.core.rig import Rig

__all__ = ["intrinsics_entry", "extrinsics_entry", "plot_coverage", "finite_or_none", "compare_rigs"]


def finite_or_none(x: Any) -> Any:
    """Floats and nested lists with NaN / inf replaced by None (JSON has no NaN)."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [finite_or_none(v) for v in x]
    if isinstance(x, dict):
        return {k: finite_or_none(v) for k, v in x.items()}
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def intrinsics_entry(result: IntrinsicsResult, det: BoardDetections) -> dict[str, Any]:
    """One camera's section of an intrinsics report.

    Args:
        result: The calibration.
        det: The detections it came from.

    Returns:
        Dict: source, image size, model, distortion model, RMS, K, dist, standard deviations, per-image
        status, the unusable images with reasons, the rejection rounds and the coverage grid.
    """
    cam = result.camera
    return finite_or_none(
        {
            "source": det.source,
            "image_size": list(det.image_size),
            "model": result.model,
            "distortion_model": result.distortion,
            "rms_px": result.rms_px,
            "K": np.asarray(cam.K),
            "dist": np.asarray(cam.dist),
            "std": result.std,
            "views_found": int(det.found.sum()),
            "views_used": len(result.used),
            "images": result.views,
            "unusable": [
                {"name": v["name"], "status": v["status"], "reason": v.get("reason", "")}
                for v in result.views
                if v["status"] != "used"
            ],
            "rejection_rounds": result.rounds,
            "coverage": result.coverage,
        }
    )


def extrinsics_entry(
    rig: Rig,
    bundle: BundleResult,
    frames: list[str],
    shared: np.ndarray,
    tree: list[tuple[int, int]],
    pairs: dict[tuple[int, int], PairPose],
) -> dict[str, Any]:
    """The rig part of an extrinsics report.

    Args:
        rig: The final rig (metres).
        bundle: The bundle adjustment.
        frames: Keys of the frames in `bundle.view_rms_px`'s second axis.
        shared: Shared-view counts, shape (v, v).
        tree: Spanning-tree edges (camera index pairs).
        pairs: Pairwise relative poses.

    Returns:
        Dict with the shared-view matrix, the spanning tree with each edge's agreement, the bundle statistics,
        per-camera RMS and centre, the baselines between cameras, and views with outlying errors.
    """
    names = list(rig.names)
    centers = rig.to_units("m").centers
    med = np.nanmedian(bundle.view_rms_px)
    outliers = [
        {"camera": names[c], "frame": frames[f], "rms_px": float(bundle.view_rms_px[c, f])}
        for c, f in zip(*np.nonzero(np.nan_to_num(bundle.view_rms_px) > max(3 * med, 1.0)), strict=True)
    ]
    return finite_or_none(
        {
            "shared_views": {"cameras": names, "counts": shared},
            "spanning_tree": [
                {
                    "cameras": [names[a], names[b]],
                    "shared_views": pairs[(a, b)].shared,
                    "inliers": pairs[(a, b)].inliers,
                    "rotation_spread_deg": pairs[(a, b)].rotation_spread_deg,
                    "translation_spread_m": pairs[(a, b)].translation_spread_m,
                }
                for a, b in tree
            ],
            "bundle_adjustment": {
                "status": bundle.status,
                "reason": bundle.reason,
                "iterations": bundle.iterations,
                "initial_rms_px": bundle.initial_rms_px,
                "rms_px": bundle.rms_px,
                "seconds": bundle.seconds,
                "frames": len(frames),
                "history": bundle.history,
            },
            "cameras": {
                n: {
                    "rms_px": bundle.camera_rms_px[i],
                    "center_m": centers[i],
                    "fx_px": float(rig.cameras.K[i][0, 0]),
                }
                for i, n in enumerate(names)
            },
            "baselines_m": {
                "cameras": names,
                "distances": np.linalg.norm(centers[:, None] - centers[None], axis=-1),
            },
            "outlier_views": outliers,
        }
    )


def plot_coverage(result: IntrinsicsResult, det: BoardDetections, path: str | os.PathLike) -> Path:
    """Save a coverage map: the used corners over the image, with the grid histogram, as a PNG.

    Args:
        result: The camera's calibration.
        det: Its detections.
        path: Destination `.png` (written atomically).

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend or window

    from lift3d.io.atomic import atomic_write

    w, h = det.image_size
    used = [i for i, v in enumerate(result.views) if v["status"] == "used"]
    pts = det.corners[used].reshape(-1, 2)
    counts = np.asarray(result.coverage["counts"], float)
    fig = Figure(figsize=(6, 6 * h / w), dpi=100)
    ax = fig.subplots()
    ax.imshow(
        counts, extent=(-0.5, w - 0.5, h - 0.5, -0.5), cmap="Greens", alpha=0.6, interpolation="nearest"
    )
    ax.scatter(pts[:, 0], pts[:, 1], s=2, c="k")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_title(
        f"{result.name}: {len(used)} views, RMS {result.rms_px:.3f} px, "
        f"{100 * result.coverage['fraction']:.0f}% of cells covered"
    )
    path = Path(path)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", bbox_inches="tight")
    return path


def compare_rigs(estimate: Rig, truth: Rig) -> dict:
    """Errors of an estimated rig against the truth, both expressed in their first camera's frame.

    Args:
        estimate: The calibrated rig (metres).
        truth: The true rig (metres), same camera order.

    Returns:
        Dict: "rotation_error_deg" (largest), "center_error_m" (largest), "rig_size_m" (largest distance
        between two cameras), "center_error_pct" (of the rig size), "fx_error_pct" (largest).
    """
    empty = np.zeros((0, 3, 3)), np.zeros((0, 3))
    est, _, _ = world_from_camera(estimate.cameras, *empty, 0)
    tru, _, _ = world_from_camera(truth.cameras, *empty, 0)
    Re, Rt = np.asarray(est.R), np.asarray(tru.R)
    rot = max(
        float(np.rad2deg(np.linalg.norm(cv2.Rodrigues(a @ b.T)[0]))) for a, b in zip(Re, Rt, strict=True)
    )
    Ce = -np.einsum("vji,vj->vi", Re, np.asarray(est.t))
    Ct = -np.einsum("vji,vj->vi", Rt, np.asarray(tru.t))
    err = float(np.linalg.norm(Ce - Ct, axis=1).max())
    size = float(np.linalg.norm(Ct[:, None] - Ct[None], axis=-1).max())
    fx = np.asarray(est.K)[:, 0, 0] / np.asarray(tru.K)[:, 0, 0] - 1
    return {
        "rotation_error_deg": rot,
        "center_error_m": err,
        "rig_size_m": size,
        "center_error_pct": 100 * err / size,
        "fx_error_pct": float(100 * np.abs(fx).max()),
    }

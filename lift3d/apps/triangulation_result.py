"""What `lift3d triangulate` returns (`TriangulationResult`) and the tables it prints from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from lift3d.core.checks import format_camera_table
from lift3d.geometry import outliers as rules

__all__ = ["TriangulationResult", "REJECTION_REASONS", "format_summary", "format_cameras", "format_rejections"]

REJECTION_REASONS = (*rules.REASONS, "bone length after filtering")
"""Why a point was rejected: `TriangulationResult.rejected` code k (1, 2, ...) is ``REJECTION_REASONS[k - 1]``."""
AFTER_FILTER_CODE = len(REJECTION_REASONS)  # the code of an output sample masked by the final bone check


@dataclasses.dataclass(frozen=True, eq=False)
class TriangulationResult:
    """3D joints of the people of a capture and how they were obtained.

    Attributes:
        points_3d: (t, P, j, 3) world units of the rig (after gap filling and filtering); NaN = missing.
        raw_points_3d: (t, P, j, 3) as triangulated: before outlier rejection, gap filling and filtering.
        error_px: (t, P, j) mean reprojection error over the views used, px (NaN = not triangulated or rejected
            as an outlier: as written to the files).
        num_views: (t, P, j) views used (0 = none or rejected).
        filled: (t, P, j) samples filled by gap filling.
        joint_names: j names.
        views: v camera names (rig order).
        frame_ids: (t,) frame numbers.
        fps: Frame rate, Hz.
        units: World units ("m" or "mm").
        outputs: Files written.
        notes: Warnings from reading (missing frames, skipped files).
        rejected: (t, P, j) int8, why each point is missing from `points_3d` though triangulated (or filled):
            0 kept, k = ``REJECTION_REASONS[k - 1]``; None when rejection was off.
        cameras: Per camera (`CameraUsage.table`): detections offered, used, share behind it, median
            reprojection error; cameras the triangulation (almost) never used are also named in `notes`.
        moved: (t, P, j) bool, output samples moved (at most `rules.MAX_ADJUST_M`) to bring their bones back
            within the tolerance after filtering (`rules.fit_bones`); None when rejection was off.
    """

    points_3d: np.ndarray
    raw_points_3d: np.ndarray
    error_px: np.ndarray
    num_views: np.ndarray
    filled: np.ndarray
    joint_names: tuple[str, ...]
    views: tuple[str, ...]
    frame_ids: np.ndarray
    fps: float
    units: str
    outputs: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()
    rejected: np.ndarray | None = None
    cameras: tuple[dict, ...] = ()
    moved: np.ndarray | None = None


def format_summary(result: TriangulationResult, person: int = 0) -> str:
    """The closing table: per joint mean reprojection error and cameras used (of the points kept), frames missing /
    filled / rejected as outliers (see `format_rejections` for why).

    Args:
        result: From `triangulate_capture`.
        person: Which person slot.

    Returns:
        A plain-text table.
    """
    err, nv = result.error_px[:, person], result.num_views[:, person]
    rejected = np.zeros(err.shape, bool) if result.rejected is None else result.rejected[:, person] > 0
    missing = ~np.isfinite(result.points_3d[:, person]).all(-1)
    filled = result.filled[:, person]
    lines = [f"{'joint':<16}{'error (px)':>11}{'cameras':>9}{'missing':>9}{'filled':>8}{'rejected':>9}"]
    for k, name in enumerate(result.joint_names):
        e = err[:, k][np.isfinite(err[:, k])]
        mean_e = f"{e.mean():.1f}" if len(e) else "-"
        used = nv[:, k][nv[:, k] > 0]
        mean_v = f"{used.mean():.2f}" if len(used) else "-"
        lines.append(
            f"{name:<16}{mean_e:>11}{mean_v:>9}{int(missing[:, k].sum()):>9}{int(filled[:, k].sum()):>8}"
            f"{int(rejected[:, k].sum()):>9}"
        )
    all_e = err[np.isfinite(err)]
    mean_e = f"{all_e.mean():.1f}" if len(all_e) else "-"
    mean_v = f"{nv[nv > 0].mean():.2f}" if (nv > 0).any() else "-"
    lines.append(
        f"{'all':<16}{mean_e:>11}{mean_v:>9}{int(missing.sum()):>9}{int(filled.sum()):>8}{int(rejected.sum()):>9}"
    )
    return "\n".join(lines)


def format_cameras(result: TriangulationResult) -> str:
    """The per-camera table of `result.cameras` (`lift3d.core.checks.format_camera_table`; "" without it)."""
    return format_camera_table(result.cameras)


def format_rejections(result: TriangulationResult, person: int = 0) -> str:
    """One line: how many points were rejected as outliers, per reason, and how many output samples were moved.

    Args:
        result: From `triangulate_capture` (with `outliers` on).
        person: Which person slot.

    Returns:
        E.g. ``"rejected 12 points: 7 two-view reprojection error, 0 jump away from its track, ...; moved 80
        output points (at most 5 cm) to bring their bones within the tolerance"``.
    """
    codes = np.zeros(0, np.int8) if result.rejected is None else result.rejected[:, person]
    counts = [f"{int((codes == k).sum())} {reason}" for k, reason in enumerate(REJECTION_REASONS, 1)]
    line = f"rejected {int((codes > 0).sum())} points: {', '.join(counts)}"
    if result.moved is None:
        return line
    cm = rules.MAX_ADJUST_M * 100.0
    return (f"{line}; moved {int(result.moved[:, person].sum())} output points (at most {cm:g} cm) to bring "
            "their bones within the tolerance")  # fmt: skip

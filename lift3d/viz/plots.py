"""Matplotlib figures of errors and coverage, saved as PNG files of an exact pixel size.

matplotlib is imported inside the functions and only through `matplotlib.figure.Figure` with the Agg canvas: no
pyplot, no global backend, no window. Every PNG is written atomically and is exactly `size` = (width, height)
pixels.

- `plot_reprojection_heatmap`: mean reprojection error per camera and joint (from `reprojection_errors`).
- `plot_mpjpe`: MPJPE (or any protocol of an `EvalReport`) per action and per joint, as bars.
- `plot_calibration_coverage`: where the board corners fell in each camera's image (`coverage_grid`).
- `plot_error_over_time`: an error (reprojection px, or 3D mm) over the frames: mean, spread, worst joints.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.rig import Rig
from lift3d.io.atomic import atomic_write

__all__ = [
    "reprojection_errors",
    "plot_reprojection_heatmap",
    "plot_mpjpe",
    "plot_calibration_coverage",
    "plot_error_over_time",
]

DPI = 100


def _figure(size: Sequence[int]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w, h = (int(s) for s in size)
    if w < 50 or h < 50:
        raise ValueError(f"figure size must be at least 50 x 50 px, got {w} x {h}")
    fig = Figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=DPI)  # no bbox_inches: the file keeps the figure's exact size
    return path


def reprojection_errors(
    rig: Rig,
    points_3d: ArrayLike,
    keypoints: ArrayLike,
    confidence: ArrayLike | None = None,
    *,
    min_confidence: float = 0.0,
) -> np.ndarray:
    """Reprojection error of 3D joints in every camera, with distortion.

    Args:
        rig: The cameras (v), in the units of `points_3d`.
        points_3d: (t, j, 3) joints; NaN where missing.
        keypoints: (t, v, j, 2) detections, px; NaN where missing.
        confidence: (t, v, j) detection confidences; detections at or below `min_confidence` are left out.
        min_confidence: See `confidence`.

    Returns:
        (t, v, j) errors, px; NaN where the joint or the detection is missing.
    """
    from lift3d.geometry.triangulation import reprojection_error

    X = np.asarray(points_3d, np.float64)
    uv = np.asarray(keypoints, np.float64)
    if X.ndim != 3 or uv.ndim != 4 or uv.shape[0] != X.shape[0] or uv.shape[2] != X.shape[1]:
        raise ValueError(f"points_3d (t, j, 3) and keypoints (t, v, j, 2) disagree: {X.shape} vs {uv.shape}")
    if uv.shape[1] != len(rig):
        raise ValueError(f"keypoints have {uv.shape[1]} views, the rig {len(rig)} cameras")
    if confidence is not None:
        uv = np.where((np.asarray(confidence) > min_confidence)[..., None], uv, np.nan)
    return np.asarray(reprojection_error(rig.cameras, X, uv), np.float64)


def plot_reprojection_heatmap(
    errors: ArrayLike,
    path: str | os.PathLike,
    *,
    views: Sequence[str],
    joints: Sequence[str],
    size: Sequence[int] = (1000, 600),
    title: str = "Mean reprojection error (px)",
    annotate: bool = True,
) -> Path:
    """Heatmap of the mean reprojection error per camera (rows) and joint (columns), with a row and column mean.

    Args:
        errors: (t, v, j) or (v, j) errors, px; NaN ignored (a cell with no value stays blank).
        path: Destination `.png`.
        views: v camera names.
        joints: j joint names.
        size: (width, height) of the PNG, px.
        title: Figure title.
        annotate: Write each cell's value (when the cells are large enough).

    Returns:
        The path written.
    """
    E = np.asarray(errors, np.float64)
    if E.ndim == 3:
        with _quiet():
            E = np.nanmean(E, axis=0)
    if E.shape != (len(views), len(joints)):
        raise ValueError(f"errors of shape {E.shape} do not match {len(views)} views x {len(joints)} joints")
    fig = _figure(size)
    ax = fig.subplots()
    im = ax.imshow(np.ma.masked_invalid(E), cmap="magma_r", aspect="auto", interpolation="nearest")
    with _quiet():
        row, col = np.nanmean(E, 1), np.nanmean(E, 0)
    ax.set_yticks(range(len(views)), [f"{v} ({m:.1f})" for v, m in zip(views, row, strict=True)])
    ax.set_xticks(
        range(len(joints)),
        [f"{j} ({m:.1f})" for j, m in zip(joints, col, strict=True)],
        rotation=70,
        ha="right",
        fontsize=7,
    )
    fig.colorbar(im, ax=ax, label="px")
    if annotate and size[0] / max(len(joints), 1) >= 28:
        vmax = np.nanmax(E) if np.isfinite(E).any() else 1.0
        for (i, k), e in np.ndenumerate(E):
            if np.isfinite(e):
                ax.text(
                    k, i, f"{e:.0f}", ha="center", va="center", fontsize=6, color="white" if e > 0.6 * vmax else "black"
                )
    with _quiet():
        ax.set_title(f"{title}: overall {np.nanmean(E):.2f} px")
    return _save(fig, path)


def _report_tables(report: Any, protocol: str) -> tuple[dict, dict, float | None]:
    """(per action, per joint, average) values of one protocol from an `EvalReport` or its JSON dict."""
    get = (lambda k: report[k]) if isinstance(report, Mapping) else (lambda k: getattr(report, k))
    per_action = {a: v[protocol] for a, v in get("per_action").items() if protocol in v}
    per_joint = dict(get("per_joint").get(protocol, {}))
    average = get("average").get(protocol)
    if not per_action and not per_joint:
        raise ValueError(f"the report has no values for protocol {protocol!r}")
    return per_action, per_joint, average


def plot_mpjpe(
    report: Any,
    path: str | os.PathLike,
    *,
    protocol: str = "p1",
    size: Sequence[int] = (1000, 700),
    unit: str = "mm",
    title: str | None = None,
) -> Path:
    """Bars of an evaluation protocol per action (top) and per joint (bottom).

    Args:
        report: An `lift3d.eval.h36m_eval.EvalReport` or its `to_json()` dict; or a dict with "per_action"
            (action -> {protocol: value}), "per_joint" (protocol -> {joint: value}) and "average"
            (protocol -> value).
        path: Destination `.png`.
        protocol: Which protocol, e.g. "p1" (MPJPE) or "p2" (P-MPJPE).
        size: (width, height) of the PNG, px.
        unit: Unit of the values, for the axis.
        title: Figure title; default "<protocol> per action and joint".

    Returns:
        The path written.
    """
    per_action, per_joint, average = _report_tables(report, protocol)
    fig = _figure(size)
    axes = fig.subplots(2, 1) if per_action and per_joint else [fig.subplots()]
    k = 0
    if per_action:
        ax = axes[k]
        k += 1
        names = list(per_action)
        ax.bar(range(len(names)), [per_action[n] for n in names], color="#1f77b4")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        if average is not None:
            ax.axhline(average, color="#d62728", lw=1, ls="--", label=f"average {average:.1f} {unit}")
            ax.legend(fontsize=7, loc="upper right")
        ax.set_ylabel(f"{protocol} ({unit})")
        ax.set_title(title or f"{protocol} per action and joint", fontsize=9)
    if per_joint:
        ax = axes[k]
        names = list(per_joint)
        ax.bar(range(len(names)), [per_joint[n] for n in names], color="#ff7f0e")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(f"{protocol} ({unit})")
        if not per_action:
            ax.set_title(title or f"{protocol} per joint", fontsize=9)
    return _save(fig, path)


def plot_calibration_coverage(
    coverage: Mapping[str, Mapping],
    path: str | os.PathLike,
    *,
    size: Sequence[int] = (1000, 500),
    title: str = "Board coverage per camera",
) -> Path:
    """One panel per camera: how many board corners fell in each cell of its image.

    Args:
        coverage: Camera name -> a `lift3d.calibration.intrinsics.coverage_grid` dict ("counts" rows x columns,
            "fraction", "outer_fraction"), or an intrinsics report entry holding it under "coverage" (and, if
            there, "rms_px").
        path: Destination `.png`.
        size: (width, height) of the PNG, px.
        title: Figure title.

    Returns:
        The path written.
    """
    if not coverage:
        raise ValueError("no camera to plot")
    fig = _figure(size)
    n = len(coverage)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (name, entry) in zip(axes, coverage.items(), strict=False):
        cov = entry.get("coverage", entry)
        if "counts" not in cov:
            raise ValueError(f"camera {name!r}: coverage has no 'counts' grid")
        counts = np.asarray(cov["counts"], float)
        ax.imshow(counts, cmap="Greens", vmin=0, interpolation="nearest")
        for (i, k), c in np.ndenumerate(counts):
            if c == 0:
                ax.add_patch(_empty_cell(k, i))
        ax.set_xticks([])
        ax.set_yticks([])
        rms = entry.get("rms_px")
        label = f"{name}\n{100 * cov.get('fraction', (counts > 0).mean()):.0f}% cells"
        if "outer_fraction" in cov:
            label += f", {100 * cov['outer_fraction']:.0f}% outer"
        if rms is not None:
            label += f"\nRMS {rms:.2f} px"
        ax.set_title(label, fontsize=8)
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _empty_cell(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="///", edgecolor="#d62728", lw=0)


def plot_error_over_time(
    errors: ArrayLike,
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    frame_ids: ArrayLike | None = None,
    joint_names: Sequence[str] | None = None,
    worst: int = 3,
    unit: str = "px",
    size: Sequence[int] = (1000, 400),
    title: str = "Error over time",
) -> Path:
    """Per-frame error: mean over joints, its 10-90 % band over joints, and the `worst` joints on their own.

    Args:
        errors: (t, j) or (t, P, j) errors (e.g. `TriangulationResult.error_px`); NaN ignored; the joints of
            several people are pooled (named "<joint> #<person>").
        path: Destination `.png`.
        fps: Frame rate: the x axis is in seconds when given, frames otherwise.
        frame_ids: (t,) frame numbers (default 0..t-1).
        joint_names: j names, to label the worst joints.
        worst: How many joints with the highest mean error to draw separately.
        unit: Unit of the errors.
        size: (width, height) of the PNG, px.
        title: Figure title.

    Returns:
        The path written.
    """
    E = np.asarray(errors, np.float64)
    if E.ndim == 3:
        n_people = E.shape[1]
        if joint_names is not None and n_people > 1:
            joint_names = [f"{n} #{p + 1}" for p in range(n_people) for n in joint_names]
        E = E.reshape(E.shape[0], -1)
    if E.ndim != 2:
        raise ValueError(f"errors must have shape (t, j) or (t, P, j), got {np.shape(errors)}")
    t, j = E.shape
    if joint_names is not None and len(joint_names) != j:
        raise ValueError(f"{len(joint_names)} joint names for {j} joints")
    x = np.arange(t) if frame_ids is None else np.asarray(frame_ids, np.float64)
    if len(x) != t:
        raise ValueError(f"{len(x)} frame ids for {t} frames")
    if fps:
        x = x / fps
    fig = _figure(size)
    ax = fig.subplots()
    with _quiet():
        mean = np.nanmean(E, 1)
        lo, hi = np.nanpercentile(E, 10, axis=1), np.nanpercentile(E, 90, axis=1)
        per_joint = np.nanmean(E, 0)
    ax.fill_between(x, lo, hi, color="#1f77b4", alpha=0.2, lw=0, label="10-90 % of joints")
    ax.plot(x, mean, color="#1f77b4", lw=1.5, label="mean over joints")
    order = np.argsort(np.nan_to_num(per_joint, nan=-np.inf))[::-1][: max(worst, 0)]
    for k in order:
        if np.isfinite(per_joint[k]):
            name = joint_names[k] if joint_names is not None else f"joint {k}"
            ax.plot(x, E[:, k], lw=0.8, alpha=0.8, label=f"{name} (mean {per_joint[k]:.1f})")
    ax.set_xlabel("time (s)" if fps else "frame")
    ax.set_ylabel(f"error ({unit})")
    with _quiet():
        ax.set_title(f"{title}: mean {np.nanmean(E):.2f} {unit}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


@contextlib.contextmanager
def _quiet():
    """Silence numpy's all-NaN RuntimeWarnings (empty cells are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield

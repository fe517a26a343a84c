"""Pose2Sim's triangulation, computed as Pose2Sim computes it (float64 numpy, all camera subsets at once).

`triangulate_pose2sim_exact` reproduces `Pose2Sim.triangulation.triangulation_from_best_cameras` (pose2sim 0.8.4
and 0.10.x with ``undistort_points = false`` and ``handle_LR_swap = false``, their demo settings) to float64
rounding; `interpolate_pose2sim` reproduces the ``interpolation`` step of its ``triangulate_all``
(``interpolate_zeros_nans`` then forward/backward fill). What Pose2Sim does, and lift3d's own methods do not:

- the DLT rows are ``(P[0] - x P[2]) w`` and ``(P[1] - y P[2]) w`` with ``P = K [R | t]`` in **metres** and the
  raw, still distorted pixel coordinates ``x, y``, weighted by the likelihood ``w`` itself (not its square root),
  with no normalisation; the point is the smallest right singular vector of that matrix, dehomogenised;
- the reprojection error of a subset is the mean over its cameras of the pixel distance to ``P X`` (distortion
  ignored), and observations below the likelihood threshold or of likelihood 0 are left out;
- level k removes k of the v cameras in every way (``itertools.combinations`` order, removing an already
  missing camera included); the first subset of least error wins (ties: the first); levels go on while that
  error is above the threshold and ``v - k >= min_cameras``, and stop (keeping the previous level's answer)
  once some subset of the level would keep fewer than `min_cameras` cameras; a final error above the threshold
  gives NaN.

Shapes: keypoints (..., v, j, 2) px, confidences (..., v, j), points (..., j, 3) world units of the cameras.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from lift3d.geometry.camera import Camera

__all__ = [
    "Pose2SimResult", "rig_metres_per_unit", "pose2sim_projections", "triangulate_pose2sim_exact",
    "associate_pose2sim", "interpolate_pose2sim",
]

# Pose2Sim's default `tracked_keypoint = 'Neck'` in lift3d's joint names; the nose for skeletons without a neck
TRACKED_JOINTS = ("neck", "upper_neck", "nose")
ASSOCIATION_THRESHOLD_PX = 20.0  # Pose2Sim's reproj_error_threshold_association
INTERPOLATION_KINDS = ("linear", "slinear", "quadratic", "cubic", "none")  # Pose2Sim's `interpolation` choices


class Pose2SimResult(NamedTuple):
    """Result of `triangulate_pose2sim_exact`.

    Attributes:
        points_3d: (..., j, 3) world units of the cameras; NaN where Pose2Sim gives no point.
        views_used: (..., v, j) bool, the cameras of the chosen subset (all False where the point is NaN).
        num_views: (..., j) int32, their count.
        mean_error_px: (..., j) Pose2Sim's reprojection error of the chosen subset, px (kept where the point
            is rejected as above the threshold; NaN where no subset could be tried).
    """

    points_3d: np.ndarray
    views_used: np.ndarray
    num_views: np.ndarray
    mean_error_px: np.ndarray


def rig_metres_per_unit(rig) -> float:
    """Metres per world unit of a rig (anything with `units` "m" or "mm")."""
    return 1.0 if rig.units == "m" else 0.001


def pose2sim_projections(cameras: Camera, metres_per_unit: float = 1.0) -> np.ndarray:
    """Pose2Sim's projection matrices ``K [R | t]`` (float64, translation in metres), shape (v, 3, 4).

    Args:
        cameras: Pinhole cameras, batch shape (v,).
        metres_per_unit: Metres per world unit of the cameras (0.001 for a rig in mm).

    Returns:
        (v, 3, 4) matrices mapping homogeneous points in metres to homogeneous pixels.
    """
    K, R, t = (np.asarray(a, np.float64) for a in (cameras.K, cameras.R, cameras.t))
    return K @ np.concatenate([R, t[..., None] * metres_per_unit], -1)


def _subsets(v: int, min_cameras: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep-masks (m, v) in Pose2Sim's order (k cameras removed, itertools order) and their level k (m,)."""
    offs = [(k, off) for k in range(v - min_cameras + 1) for off in itertools.combinations(range(v), k)]
    return np.array([~np.isin(np.arange(v), off) for _, off in offs]), np.array([k for k, _ in offs])


def triangulate_pose2sim_exact(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, *, likelihood_threshold: float = 0.3,
    reprojection_threshold_px: float = 15.0, min_cameras: int = 2, metres_per_unit: float = 1.0,
) -> Pose2SimResult:
    """Pose2Sim's `triangulation_from_best_cameras` for every point, to float64 rounding (see the module doc).

    Args:
        cameras: Pinhole cameras, batch shape (v,), in Pose2Sim's camera order.
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels as detected (NaN = missing).
        confidence: Detector likelihoods, shape (..., v, j) (0 or NaN = missing).
        likelihood_threshold: Observations below it are left out (Pose2Sim's
            ``likelihood_threshold_triangulation``), in [0, 1].
        reprojection_threshold_px: Largest accepted mean reprojection error, px
            (``reproj_error_threshold_triangulation``), > 0.
        min_cameras: Fewest cameras a point may use (``min_cameras_for_triangulation``), 2 <= min_cameras <= v.
        metres_per_unit: Metres per world unit of the cameras: Pose2Sim's DLT is not invariant to the unit, so
            it runs in metres and the points come back in the cameras' units.

    Returns:
        `Pose2SimResult`.

    Raises:
        ValueError: For settings outside their range, shapes that do not fit, or more than 10 cameras.
    """
    if not 0.0 <= likelihood_threshold <= 1.0:
        raise ValueError(f"likelihood_threshold must be in [0, 1], got {likelihood_threshold}")
    if not reprojection_threshold_px > 0:
        raise ValueError(f"reprojection_threshold_px must be > 0, got {reprojection_threshold_px}")
    if not metres_per_unit > 0:
        raise ValueError(f"metres_per_unit must be > 0, got {metres_per_unit}")
    if getattr(cameras, "model", "pinhole") != "pinhole":
        raise ValueError("Pose2Sim's triangulation (undistort_points = false) applies to pinhole cameras only")
    uv = np.asarray(points_2d, np.float64)
    w = np.asarray(confidence, np.float64)
    P = pose2sim_projections(cameras, metres_per_unit)
    v = P.shape[0]
    if uv.shape[-1] != 2 or uv.shape[-3] != v or w.shape != uv.shape[:-1]:
        raise ValueError(f"points_2d (..., {v}, j, 2) and confidence (..., {v}, j) expected for {v} cameras, got "
                         f"{uv.shape} and {w.shape}")
    if isinstance(min_cameras, bool) or not isinstance(min_cameras, int | np.integer) or not 2 <= min_cameras <= v:
        raise ValueError(f"min_cameras must be an integer in [2, {v}], got {min_cameras!r}")
    if v > 10:
        raise ValueError(f"Pose2Sim's rule enumerates all camera subsets; at most 10 cameras, got {v}")
    lead, j = uv.shape[:-3], uv.shape[-2]
    uv = np.moveaxis(uv.reshape(-1, v, j, 2), 2, 1).reshape(-1, v, 2)  # (n, v, 2), n = points
    w = np.moveaxis(w.reshape(-1, v, j), 2, 1).reshape(-1, v)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(uv).all(-1) & np.isfinite(w) & (w >= likelihood_threshold) & (w != 0)
    keep, level = _subsets(v, min_cameras)  # (m, v), (m,)
    n_valid = valid.sum(-1)  # (n,)
    n_levels = v - min_cameras + 1
    # a level is tried while every one of its subsets keeps >= min_cameras: n_valid - k >= min_cameras
    tried = n_valid[None] - np.arange(n_levels)[:, None] >= min_cameras  # (levels, n)
    X_best = np.full((uv.shape[0], 3), np.nan)
    err_best = np.full(uv.shape[0], np.nan)
    used_best = np.zeros((uv.shape[0], v), bool)
    done = np.zeros(uv.shape[0], bool)  # error already within the threshold
    x = np.where(valid, uv[..., 0], 0.0)
    y = np.where(valid, uv[..., 1], 0.0)
    wv = np.where(valid, w, 0.0)
    rows = np.stack([(P[:, 0] - x[..., None] * P[:, 2]) * wv[..., None],
                     (P[:, 1] - y[..., None] * P[:, 2]) * wv[..., None]], -2)  # (n, v, 2, 4); missing: 0
    for k in range(n_levels):
        todo = np.flatnonzero(tried[k] & ~done)
        if todo.size == 0:
            break
        subs = np.flatnonzero(level == k)
        used = keep[subs][:, None] & valid[todo][None]  # (s, n', v)
        A = np.where(used[..., None, None], rows[todo][None], 0.0).reshape(len(subs), todo.size, 2 * v, 4)
        Vt = np.linalg.svd(A)[2]
        Xh = Vt[..., 3, :]  # smallest right singular vector (zero rows of left-out cameras change nothing)
        X = Xh[..., :3] / Xh[..., 3:]
        Xh1 = np.concatenate([X, np.ones(X.shape[:-1] + (1,))], -1)
        proj = np.einsum("vab,snb->snva", P, Xh1)
        d = np.linalg.norm(proj[..., :2] / proj[..., 2:] - uv[todo][None], axis=-1)  # (s, n', v)
        err = np.sum(np.where(used, d, 0.0), -1) / used.sum(-1)
        err = np.where(np.isnan(err), np.inf, err)
        best = np.argmin(err, 0)  # first of least error, as np.nanargmin
        pick = np.arange(todo.size)
        X_best[todo], err_best[todo], used_best[todo] = X[best, pick], err[best, pick], used[best, pick]
        done[todo] = err_best[todo] <= reprojection_threshold_px
    accepted = done
    X_best[~accepted] = np.nan
    used_best &= accepted[:, None]
    unit = 1.0 / metres_per_unit

    def back(a, tail):  # (n, *tail) with n = (*lead, j) -> (*lead, j, *tail) or (*lead, v, j)
        return a.reshape(*lead, j, *tail)

    return Pose2SimResult(
        points_3d=back(X_best * unit, (3,)),
        views_used=np.moveaxis(back(used_best, (v,)), -1, -2),
        num_views=back(used_best.sum(-1).astype(np.int32), ()),
        mean_error_px=back(err_best, ()),
    )


def _dlt_error(P: np.ndarray, obs: np.ndarray) -> float:
    """Pose2Sim's `triangulate_comb` error for observations (c, 3) = (x, y, likelihood) on matrices P (c, 3, 4)."""
    if len(obs) == 0:
        return np.nan  # np.mean of nothing
    if len(obs) < 2:
        return np.inf  # a NaN point: every distance NaN -> inf
    x, y, w = obs.T
    A = np.concatenate([(P[:, 0] - x[:, None] * P[:, 2]) * w[:, None],
                        (P[:, 1] - y[:, None] * P[:, 2]) * w[:, None]])
    Xh = np.linalg.svd(A)[2][3]
    Xh = np.append(Xh[:3] / Xh[3], 1.0)
    proj = P @ Xh
    return float(np.mean(np.hypot(proj[:, 0] / proj[:, 2] - x, proj[:, 1] / proj[:, 2] - y)))


def associate_pose2sim(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, joint_names: tuple[str, ...], *,
    likelihood_threshold: float = 0.3, reprojection_threshold_px: float = ASSOCIATION_THRESHOLD_PX,
    min_cameras: int = 2, metres_per_unit: float = 1.0,
) -> np.ndarray:
    """Pose2Sim's single-person association (`best_persons_and_cameras_combination`, pose2sim 0.10.x).

    Per frame, every combination of one detection per camera (``itertools.product`` order) is scored by the
    reprojection error of its tracked joint (the neck, else the nose) triangulated as in
    `triangulate_pose2sim_exact`; cameras whose tracked joint is below `likelihood_threshold` drop out of the
    combination, and while no combination reaches `reprojection_threshold_px`, 1, 2, ... more of its cameras are
    removed. The best combination found is kept;
    a camera outside it is dropped for the whole frame (all joints), as Pose2Sim writes an empty person there.
    On the balancing trial pose2sim 0.8.4's older loop picks the same detections.

    Args:
        cameras: Pinhole cameras, batch shape (v,).
        points_2d: Detections, shape (t, v, p, j, 2), distorted px (NaN = missing).
        confidence: Their likelihoods, shape (t, v, p, j) (0 = missing).
        joint_names: The j joint names; the tracked joint is the first of `TRACKED_JOINTS` among them.
        likelihood_threshold: Pose2Sim's ``likelihood_threshold_association``.
        reprojection_threshold_px: Pose2Sim's ``reproj_error_threshold_association``, px.
        min_cameras: Pose2Sim's ``min_cameras_for_triangulation``.
        metres_per_unit: Metres per world unit of the cameras.

    Returns:
        (t, v) int, the detection slot kept in each camera, -1 where none.

    Raises:
        ValueError: Without a tracked joint, or for shapes that do not fit.
    """
    tracked = next((joint_names.index(n) for n in TRACKED_JOINTS if n in joint_names), None)
    if tracked is None:
        raise ValueError(f"Pose2Sim's association tracks one joint: none of {TRACKED_JOINTS} in the joints")
    uv = np.asarray(points_2d, np.float64)
    conf = np.asarray(confidence, np.float64)
    P = pose2sim_projections(cameras, metres_per_unit)
    t, v, p = uv.shape[:3]
    if conf.shape != uv.shape[:-1] or v != P.shape[0]:
        raise ValueError(f"points_2d (t, {P.shape[0]}, p, j, 2) and confidence (t, {P.shape[0]}, p, j) expected, "
                         f"got {uv.shape} and {conf.shape}")
    present = (np.isfinite(uv).all(-1) | (conf > 0)).any(-1)  # (t, v, p): a detection in the slot
    out = np.full((t, v), -1)
    for f in range(t):
        n = [int(np.flatnonzero(present[f, c])[-1]) + 1 if present[f, c].any() else 0 for c in range(v)]
        combos = np.array(list(itertools.product(*[range(max(k, 1)) for k in n])), float)
        combos[:, [c for c in range(v) if n[c] == 0]] = np.nan
        neck = np.concatenate([uv[f, :, :, tracked], conf[f, :, :, tracked, None]], -1)  # (v, p, 3)
        missing = int(np.isnan(combos).all(0).sum())
        error_min, extra, best_error, best = np.inf, 0, np.inf, None
        while error_min > reprojection_threshold_px and v - (missing + extra) >= min_cameras:
            for comb in combos:  # rows are updated in place, as in Pose2Sim
                obs = np.array([neck[c, int(k)] if np.isfinite(k) else [np.nan] * 3 for c, k in enumerate(comb)])
                with np.errstate(invalid="ignore"):
                    obs[obs[:, 2] < likelihood_threshold, 2] = 0.0
                comb[obs[:, 2] == 0.0] = np.nan
                active = np.flatnonzero(~np.isnan(comb))
                if len(active) < min_cameras:
                    continue
                errors, kept = [], []
                for off in itertools.combinations(active, extra):
                    on = np.setdiff1d(active, off)
                    errors.append(_dlt_error(P[on], obs[on]))
                    kept.append(np.where(np.isin(np.arange(v), on), comb, np.nan))
                errors = np.array(errors)
                if np.isnan(errors).all():
                    continue
                error_min = np.nanmin(errors)
                i = int(np.argmin(errors))  # np.argmin: the first NaN if any, as Pose2Sim
                if error_min < best_error:
                    best_error, best = error_min, kept[i]
                if error_min < reprojection_threshold_px:
                    break
            extra += 1
        if best is not None:
            out[f] = np.where(np.isnan(best), -1, np.nan_to_num(best)).astype(int)
    return out


def interpolate_pose2sim(points: ArrayLike, *, kind: str = "cubic", max_gap: int = 10) -> np.ndarray:
    """Pose2Sim's gap filling in `triangulate_all`: `interpolate_zeros_nans` per coordinate, then ffill / bfill.

    Each coordinate track is interpolated with ``scipy.interpolate.interp1d(kind=kind, fill_value="extrapolate")``
    through its valid frames (NaN and exact zeros are missing); runs of more than `max_gap` missing frames are set
    back to NaN; then every remaining NaN takes the last valid value before it (the first valid one at the start).
    With ``kind="none"`` only the forward / backward fill runs. A track whose interpolation fails (too few valid
    frames) is left as it is before the fill, as Pose2Sim leaves the whole person then.

    Args:
        points: (t, ..., 3) trajectories, time first.
        kind: "linear", "slinear", "quadratic", "cubic" or "none" (Pose2Sim's ``interpolation``).
        max_gap: Longest run of missing frames interpolated (``interp_if_gap_smaller_than``), >= 0.

    Returns:
        The filled trajectories (float64), shape of `points`.

    Raises:
        ValueError: For an unknown `kind` or a negative `max_gap`.
    """
    if kind not in INTERPOLATION_KINDS:
        raise ValueError(f"kind must be one of {INTERPOLATION_KINDS}, got {kind!r}")
    if isinstance(max_gap, bool) or not isinstance(max_gap, int | np.integer) or max_gap < 0:
        raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
    x = np.array(points, np.float64)
    t = x.shape[0]
    flat = x.reshape(t, -1)
    if kind != "none":
        try:
            filled = np.stack([_interp_column(c, kind, max_gap) for c in flat.T], -1)
        except ValueError:  # as Pose2Sim: "Interpolation was not possible", the data stay as they are
            filled = flat
        flat = filled
    for col in flat.T:  # pandas ffill then bfill
        ok = np.flatnonzero(~np.isnan(col))
        if ok.size:
            idx = np.maximum.accumulate(np.where(~np.isnan(col), np.arange(t), 0))
            col[ok[0]:] = col[idx[ok[0]:]]
            col[: ok[0]] = col[ok[0]]
    return flat.reshape(x.shape)


def _interp_column(col: np.ndarray, kind: str, max_gap: int) -> np.ndarray:
    """Pose2Sim's `interpolate_zeros_nans(col, max_gap, kind)` on one coordinate track."""
    mask = ~(np.isnan(col) | (col == 0))
    good = np.flatnonzero(mask)
    from scipy import interpolate  # on use: 0.2-0.7 s that other methods need not pay

    f = interpolate.interp1d(good, col[good], kind=kind, fill_value="extrapolate", bounds_error=False)
    out = np.where(mask, col, f(np.arange(len(col))))
    bad = np.flatnonzero(~mask)
    for seq in np.split(bad, np.flatnonzero(np.diff(bad) > 1) + 1):
        if len(seq) > max_gap:
            out[seq] = np.nan
    return out

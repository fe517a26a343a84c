"""Robust triangulation: RANSAC over view pairs, Pose2Sim's camera removal, left/right swap repair.

Every method triangulates many view subsets from one set of per-view DLT normal matrices
(`lift3d.geometry.triangulation.linear`): a subset costs one small sum. The inlier rule of `triangulate_ransac`
is written once over an array module (`select_inliers`); `lift3d.geometry.numpy_camera.triangulate_inliers` is
its float64 numpy form with all view pairs (nothing to compile). Shapes as in `linear`: keypoints
(..., v, j, 2) distorted px, confidences (..., v, j), points (..., j, 3) world units.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from lift3d.geometry.camera import Camera, project_points
from lift3d.geometry.lazy_jax import jax, jit, jnp
from lift3d.geometry.triangulation.linear import (
    Solver,
    TriangulationInfo,
    dlt_system,
    mean_over_views,
    normal_matrices,
    observation_weights,
    pixel_errors,
    solve_points,
)

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = [
    "SwapRepair", "pair_masks", "select_inliers", "triangulate_ransac", "triangulate_pose2sim",
    "repair_left_right_swaps", "swap_repair", "swap_options",
]

INLIER_THRESHOLD_PX = 20.0  # default reprojection error (px) under which a view is an inlier


class SwapRepair(NamedTuple):
    """Result of `repair_left_right_swaps`.

    Attributes:
        points_2d: Repaired keypoints, shape (..., v, j, 2).
        confidence: Confidences permuted alike, shape (..., v, j).
        swapped: Where the left/right counterpart was taken, shape (..., v, j), bool
            (`swapped.any(-1)` says which views were touched).
    """

    points_2d: Array
    confidence: Array
    swapped: Array



def _solve_masks(masks, Mv, c, s, solver: Solver, shared: bool = False, power_steps: int = 2, xp: Any = jnp):
    """Points (h, ..., j, 3) under view masks (h, ..., v, j), or if `shared` masks (h, v) for all joints."""
    if shared:
        M = xp.einsum("hv,...vjab->h...jab", masks.astype(Mv.dtype), Mv)
        ok = xp.ones(M.shape[:-2], bool)
    else:
        M = xp.sum(masks[..., None, None] * Mv, -4)
        ok = xp.sum(masks, -2) >= 2
    return solve_points(M, c, s, ok, solver, power_steps, xp)


def pair_masks(v: int) -> np.ndarray:
    """Every pair of v views as view masks (v (v - 1) / 2, v), itertools order."""
    pairs = np.array(list(itertools.combinations(range(v), 2)), dtype=np.int32).reshape(-1, 2)
    return np.eye(v, dtype=bool)[pairs].any(1)


def select_inliers(Mv, valid, c, s, hyp_masks, X_h, errors: Callable, threshold_px: float, solver: Solver,
                   power_steps: int = 2, xp: Any = jnp):
    """The inlier rule shared by `triangulate_ransac` and `numpy_camera.triangulate_inliers`.

    The hypothesis (points X_h (h, ..., j, 3) from view masks (h, ..., v, j)) with most views within
    `threshold_px` wins (ties: smaller truncated error); the point is re-triangulated from its inliers, the
    inliers recomputed once from that point and the point triangulated again.

    Args:
        Mv: Per-view normal matrices, shape (..., v, j, 4, 4) (`normal_matrices`).
        valid: Valid observations, shape (..., v, j), bool.
        c, s: The joints' frames (`dlt_system`), shapes (..., j, 3) and (..., j).
        hyp_masks: The hypotheses' views, shape (h, ..., v, j), bool.
        X_h: Their points, shape (h, ..., j, 3), world units (NaN = no hypothesis).
        errors: Reprojection errors (..., v, j) px of points (..., j, 3) (any leading axes).
        threshold_px: Inlier threshold, px.
        solver: Null-vector solver.
        power_steps: Power steps of the adjugate solver.
        xp: Array module.

    Returns:
        Points (..., j, 3) and the final view masks (..., v, j).
    """
    v = valid.shape[-2]
    err = errors(X_h)  # (h, ..., v, j)
    inl = valid & (err < threshold_px)
    n_inl = xp.sum(inl, -2)
    trunc = xp.sum(xp.where(inl, err, 0.0), -2) / (threshold_px * (v + 1))
    score = xp.where(xp.isfinite(X_h[..., 0]), n_inl - trunc, -xp.inf)
    best = xp.argmax(score, 0)
    pick = lambda a: xp.take_along_axis(a, best[None, ..., None, :], 0)[0]  # noqa: E731
    mask = xp.where(xp.sum(pick(inl), -2, keepdims=True) >= 2, pick(inl), pick(hyp_masks))
    X = _solve_masks(mask, Mv, c, s, solver, power_steps=power_steps, xp=xp)
    new = valid & (errors(X) < threshold_px)
    mask = xp.where(xp.sum(new, -2, keepdims=True) >= 2, new, mask)
    return _solve_masks(mask, Mv, c, s, solver, power_steps=power_steps, xp=xp), mask


@functools.partial(jit, static_argnames=("num_hypotheses", "max_exhaustive_views", "undistort", "solver"))
def triangulate_ransac(
    key: Array, cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike | None = None, *,
    threshold_px: float = INLIER_THRESHOLD_PX, num_hypotheses: int = 32, max_exhaustive_views: int = 8,
    undistort: bool = True, solver: Solver = "adjugate",
) -> tuple[Array, TriangulationInfo]:
    """Robust triangulation: best view pair by inlier count, then a weighted DLT on its inliers.

    Hypotheses are two-view triangulations. With at most `max_exhaustive_views` views all pairs are tried
    (deterministic; `key` unused); with more, `num_hypotheses` pairs of valid views are drawn per joint with
    `key`. A view is an inlier of a hypothesis when its reprojection error is below `threshold_px`; the
    hypothesis with most inliers wins (ties: smaller truncated error). The point is re-triangulated from the
    winner's inliers (confidence-weighted), inliers are recomputed once from that point and the point
    re-triangulated again.

    Args:
        key: `jax.random` key (used only when v > max_exhaustive_views).
        cameras: Cameras, batch shape (v,) or broadcastable (..., v).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 = missing), or None.
        threshold_px: Inlier threshold on the reprojection error, px.
        num_hypotheses: Sampled pairs per joint when v > max_exhaustive_views.
        max_exhaustive_views: Up to this many views, enumerate all v (v - 1) / 2 pairs.
        undistort: Remove lens distortion before the DLT.
        solver: Null-vector solver, see `triangulate_dlt`.

    Returns:
        points_3d (..., j, 3) and `TriangulationInfo` (inlier views, their count, their mean error in px).
    """
    sys_ = dlt_system(cameras, points_2d, confidence, undistort)
    cam, uv, w = sys_.cameras, sys_.uv, sys_.w
    Mv, valid, v = normal_matrices(sys_.rows), w > 0, uv.shape[-3]
    if v < 2:
        raise ValueError(f"triangulate_ransac needs at least 2 views, got {v}")
    if v <= max_exhaustive_views:
        masks = jnp.asarray(pair_masks(v))  # (h, v)
        hyp_masks = masks[(slice(None),) + (None,) * (valid.ndim - 2) + (slice(None), None)] & valid
        X_h = _solve_masks(masks, Mv, sys_.c, sys_.s, solver, shared=True)
        X_h = jnp.where((jnp.sum(hyp_masks, -2) >= 2)[..., None], X_h, jnp.nan)
    else:
        u = jax.random.uniform(key, (num_hypotheses, *valid.shape))
        u = jnp.where(valid, u, -1.0)
        second = jnp.sort(u, axis=-2)[..., -2:-1, :]
        hyp_masks = (u >= second) & valid
        X_h = _solve_masks(hyp_masks, Mv, sys_.c, sys_.s, solver)
    X, mask = select_inliers(Mv, valid, sys_.c, sys_.s, hyp_masks, X_h, lambda X: pixel_errors(cam, X, uv),
                              threshold_px, solver)
    err = pixel_errors(cam, X, uv)
    mask = mask & jnp.isfinite(X[..., None, :, 0])
    n = jnp.sum(mask, -2).astype(jnp.int32)
    return X, TriangulationInfo(views_used=mask, num_views=n, mean_error_px=mean_over_views(err, mask))


def _pose2sim_masks(v: int, min_cameras: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep-masks (m, v) in Pose2Sim's order (k cameras removed, itertools order) and their level k (m,)."""
    offs = [(k, off) for k in range(v - min_cameras + 1) for off in itertools.combinations(range(v), k)]
    return np.array([~np.isin(np.arange(v), off) for _, off in offs]), np.array([k for k, _ in offs])


@functools.partial(jit, static_argnames=("min_cameras", "reject_above_threshold", "undistort", "solver"))
def triangulate_pose2sim(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, *, likelihood_threshold: float = 0.3,
    reprojection_threshold_px: float = 15.0, min_cameras: int = 2, reject_above_threshold: bool = True,
    undistort: bool = True, solver: Solver = "adjugate",
) -> tuple[Array, TriangulationInfo]:
    """Pose2Sim's camera-removal rule (`triangulation_from_best_cameras`), all subsets at once, jitted.

    A jitted, batched variant in lift3d's own DLT: for Pose2Sim's exact numbers use
    `lift3d.geometry.triangulation.pose2sim.triangulate_pose2sim_exact` (what `triangulate_sequence` and
    `lift3d triangulate --method pose2sim` run).

    Observations with confidence below `likelihood_threshold` are dropped. Level k = 0, 1, ... removes k of
    the v cameras in every possible way (removing an already-dropped camera counts, as in Pose2Sim),
    triangulates each subset with the confidence-weighted DLT and scores it by the unweighted mean
    reprojection error over the cameras it used; the best subset of the level is kept. The first level whose
    best error is at most the threshold wins; levels stop once fewer than `min_cameras` valid cameras would
    remain, and the last level's best is then the answer (NaN if `reject_above_threshold`, as Pose2Sim does).
    Differences from Pose2Sim: the DLT uses undistorted normalised rows in a rig frame and errors use the
    distorted projection (Pose2Sim by default uses raw pixels and `K [R|t]`); left/right swap trials are a
    separate step (`repair_left_right_swaps`). v <= 10.

    Args:
        cameras: Cameras, batch shape (v,) or broadcastable (..., v).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Detector likelihoods, shape (..., v, j).
        likelihood_threshold: Observations below it are dropped.
        reprojection_threshold_px: Target mean reprojection error, px.
        min_cameras: Fewest cameras a triangulation may use (>= 2).
        reject_above_threshold: Return NaN where no subset reaches the threshold.
        undistort: Remove lens distortion before the DLT.
        solver: Null-vector solver, see `triangulate_dlt`.

    Returns:
        points_3d (..., j, 3) and `TriangulationInfo` (cameras of the chosen subset, their count, mean error
        px; the error is kept where the point is rejected, for diagnosis).
    """
    if min_cameras < 2:
        raise ValueError(f"min_cameras must be at least 2, got {min_cameras}")
    conf = jnp.asarray(confidence)
    conf = jnp.where(conf >= likelihood_threshold, conf, 0.0)
    cam, uv, w, rows, c, s = dlt_system(cameras, points_2d, conf, undistort)
    Mv, valid, v = normal_matrices(rows), w > 0, uv.shape[-3]
    if v > 10:
        raise ValueError(f"triangulate_pose2sim enumerates all camera subsets; at most 10 views, got {v}")
    if min_cameras > v:
        raise ValueError(f"min_cameras={min_cameras} exceeds the {v} views")
    keep_np, level_np = _pose2sim_masks(v, min_cameras)
    keep = jnp.asarray(keep_np)[(slice(None),) + (None,) * (valid.ndim - 2) + (slice(None), None)]
    used = keep & valid  # (m, ..., v, j)
    X_m = _solve_masks(jnp.asarray(keep_np), Mv, c, s, solver, shared=True)
    E_m = mean_over_views(pixel_errors(cam, X_m, uv), used)  # (m, ..., j)
    n_valid = jnp.sum(valid, -2)
    num_levels = v - min_cameras + 1
    best_idx, best_err = [], []
    for k in range(num_levels):
        idx = np.flatnonzero(level_np == k)
        e = jnp.where(jnp.isnan(E_m[idx]), jnp.inf, E_m[idx])
        i = jnp.argmin(e, 0)
        best_idx.append(jnp.asarray(idx)[i])
        best_err.append(jnp.take_along_axis(e, i[None], 0)[0])
    best_idx, best_err = jnp.stack(best_idx), jnp.stack(best_err)  # (levels, ..., j)
    levels = jnp.arange(num_levels).reshape((-1,) + (1,) * n_valid.ndim)
    allowed = n_valid - levels >= min_cameras
    good = allowed & (best_err <= reprojection_threshold_px)
    last = jnp.clip(n_valid - min_cameras, 0, num_levels - 1)
    level = jnp.where(jnp.any(good, 0), jnp.argmax(good, 0), last)
    m = jnp.take_along_axis(best_idx, level[None], 0)[0]  # (..., j)
    X = jnp.take_along_axis(X_m, m[None, ..., None], 0)[0]
    err = jnp.take_along_axis(E_m, m[None], 0)[0]
    mask = jnp.take_along_axis(used, m[None, ..., None, :], 0)[0]
    possible = jnp.any(allowed, 0)
    accepted = possible & (err <= reprojection_threshold_px)
    X = jnp.where((accepted if reject_above_threshold else possible)[..., None], X, jnp.nan)
    mask = mask & jnp.isfinite(X[..., None, :, 0])
    info = TriangulationInfo(views_used=mask, num_views=jnp.sum(mask, -2).astype(jnp.int32),
                             mean_error_px=jnp.where(possible, err, jnp.nan))
    return X, info


# ------------------------------------------------------------------------------------------ left/right swaps


def swap_repair(xp: Any, cameras: Camera, points_2d: Any, confidence: Any | None, flip_perm: tuple[int, ...],
                granularity: str, max_swapped_views: int, min_gain_px: float, min_relative_gain: float,
                truncate_px: float, undistort: bool, solver: Solver, project: Callable | None = None) -> SwapRepair:
    """`repair_left_right_swaps` over an array module: jax.numpy (jitted there) or float64 numpy.

    Args:
        xp: Array module.
        cameras, points_2d, confidence, flip_perm, granularity, max_swapped_views, min_gain_px,
            min_relative_gain, truncate_px, undistort, solver: As in `repair_left_right_swaps`.
        project: Pixels (..., v, j, 2) of points (..., 1, j, 3) in cameras (v,) (with distortion); None:
            `project_points` (JAX).

    Returns:
        `SwapRepair` of `xp` arrays.
    """
    flip = np.asarray(flip_perm)
    lateral = xp.asarray(flip != np.arange(flip.size))
    uv_raw = xp.asarray(points_2d)
    uv_raw = uv_raw.astype(np.float64 if xp is np else jnp.result_type(uv_raw.dtype, jnp.float32))
    conf_raw = xp.ones(uv_raw.shape[:-1], uv_raw.dtype) if confidence is None else xp.asarray(confidence)
    valid_raw = observation_weights(uv_raw, conf_raw, xp)[0] > 0
    # a joint and its counterpart share one frame (the union of their views), so that rows can be exchanged
    cam, uv, w, rows, c, s = dlt_system(cameras, uv_raw, conf_raw, undistort, valid_raw | valid_raw[..., flip], xp)
    Mv, v = normal_matrices(rows, xp=xp), uv.shape[-3]
    configs = np.array([np.isin(np.arange(v), S) for k in range(max_swapped_views + 1)
                        for S in itertools.combinations(range(v), k)], dtype=bool)  # (C, v); row 0 = no swap
    sw = xp.asarray(configs)[(slice(None),) + (None,) * (uv.ndim - 3) + (slice(None), None)]  # C, ..., v, 1
    valid, valid_f = w > 0, (w > 0)[..., flip]
    M = xp.sum(xp.where(sw[..., None, None], Mv[..., flip, :, :][None], Mv[None]), -4)
    used = xp.where(sw, valid_f, valid)
    X = solve_points(M, c, s, xp.sum(used, -2) >= 2, solver, xp=xp)  # (C, ..., j, 3)
    proj = (project or project_points)(cam, X[..., None, :, :])
    with np.errstate(invalid="ignore"):
        err = xp.linalg.norm(proj - xp.where(sw[..., None], uv[..., flip, :], uv), axis=-1)
    # pooled residual variance: squared (truncated) errors over 2 n - 3 degrees of freedom per joint, so that
    # moving an observation between a joint and its counterpart (one side missing) is not favoured
    ok = xp.isfinite(X[..., 0])
    ssr = xp.where(ok, xp.sum(xp.where(used, xp.minimum(err, truncate_px) ** 2, 0.0), -2), 0.0)
    dof = xp.where(ok, 2 * xp.sum(used, -2) - 3, 0).astype(ssr.dtype)  # (C, ..., j)
    if granularity == "view":
        ssr, dof = (xp.sum(xp.where(lateral, a, 0.0), -1, keepdims=True) for a in (ssr, dof))
    elif granularity == "pair":
        ssr, dof = ssr + ssr[..., flip], dof + dof[..., flip]
    else:
        raise ValueError(f"granularity must be 'view' or 'pair', got {granularity!r}")
    score = xp.sqrt(ssr / xp.maximum(dof, 1.0))
    best = xp.argmin(score, 0)  # (..., 1 or j)
    best_score = xp.take_along_axis(score, best[None], 0)[0]
    convincing = (score[0] - best_score > min_gain_px) & (best_score < (1 - min_relative_gain) * score[0])
    best = xp.where(convincing, best, 0)
    swapped = xp.asarray(configs)[best]  # (..., 1 or j, v)
    swapped = xp.moveaxis(swapped, -1, -2) & lateral  # (..., v, j)
    conf_raw = xp.broadcast_to(conf_raw, uv_raw.shape[:-1])
    return SwapRepair(
        points_2d=xp.where(swapped[..., None], uv_raw[..., flip, :], uv_raw),
        confidence=xp.where(swapped, conf_raw[..., flip], conf_raw),
        swapped=swapped,
    )


@functools.partial(
    jit, static_argnames=("flip_perm", "granularity", "max_swapped_views", "undistort", "solver")
)
def _repair_swaps(cameras, points_2d, confidence, flip_perm, granularity, max_swapped_views, min_gain_px,
                  min_relative_gain, truncate_px, undistort, solver):
    return swap_repair(jnp, cameras, points_2d, confidence, flip_perm, granularity, max_swapped_views, min_gain_px,
                       min_relative_gain, truncate_px, undistort, solver)


def swap_options(v: int, flip_perm: Any, num_joints: int, *, granularity: str = "view",
                 max_swapped_views: int | None = None, min_gain_px: float = 1.0, min_relative_gain: float = 0.5,
                 truncate_px: float = 100.0, undistort: bool = True, solver: Solver = "adjugate") -> tuple:
    """The checked positional options of `swap_repair` after `xp, cameras, points_2d, confidence`
    (defaults: `repair_left_right_swaps`')."""
    flip = tuple(int(i) for i in np.asarray(flip_perm).ravel())
    if len(flip) != num_joints or sorted(flip) != list(range(len(flip))):
        raise ValueError(f"flip_perm must permute the {num_joints} joints, got {flip}")
    k = (v - 1) // 2 if max_swapped_views is None else int(max_swapped_views)
    return (flip, granularity, min(k, v), min_gain_px, min_relative_gain, truncate_px, undistort, solver)


def repair_left_right_swaps(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike | None, flip_perm: ArrayLike, *,
    granularity: Literal["view", "pair"] = "view", max_swapped_views: int | None = None,
    min_gain_px: float = 1.0, min_relative_gain: float = 0.5, truncate_px: float = 100.0,
    undistort: bool = True, solver: Solver = "adjugate",
) -> SwapRepair:
    """Undo detector left/right confusions view by view, by triangulation consistency.

    Every set of at most `max_swapped_views` views is tried as "swapped" (its left and right joints exchanged
    through `flip_perm`); each joint is triangulated (weighted DLT) under each hypothesis, and a hypothesis is
    scored by the pooled RMS reprojection error (errors truncated at `truncate_px`, 2 n - 3 degrees of freedom
    for a joint seen n times). With `granularity="view"` the errors of all lateral joints are summed per frame
    (a whole view is mirrored); with "pair" each left/right pair decides on its own (e.g. crossed legs only).
    The best hypothesis is applied if it beats "no swap" by more than `min_gain_px` and `min_relative_gain`.
    Swapping more than half of the views is the same labelling mirrored, so the default `max_swapped_views` is
    (v - 1) // 2 (none for two views, where the faulty view cannot be told).

    Args:
        cameras: Cameras, batch shape (v,) or broadcastable (..., v).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 = missing), or None.
        flip_perm: Left/right permutation of the joints, shape (j,) (`Skeleton.flip_permutation()`).
        granularity: "view" or "pair".
        max_swapped_views: Largest number of views swapped at once; the cost grows as sum_k C(v, k).
        min_gain_px: Smallest drop of the RMS score (px) that justifies a swap.
        min_relative_gain: Smallest relative drop of the score (0.5: the swap must halve it).
        truncate_px: Per-observation error cap, px (bounds the influence of outliers).
        undistort: Remove lens distortion before the DLT.
        solver: Null-vector solver, see `triangulate_dlt`.

    Returns:
        `SwapRepair` with the repaired points and confidences and the swap mask (..., v, j).
    """
    opts = swap_options(np.shape(points_2d)[-3], flip_perm, np.shape(points_2d)[-2], granularity=granularity,
                        max_swapped_views=max_swapped_views, min_gain_px=min_gain_px,
                        min_relative_gain=min_relative_gain, truncate_px=truncate_px, undistort=undistort,
                        solver=solver)  # fmt: skip
    return _repair_swaps(cameras, points_2d, confidence, *opts)

"""Cross-view person candidates: tuples of one detection (or none) per view, triangulated and scored.

The machinery behind `lift3d.geometry.association.associate` (its module notes describe the method): detections
are prepared once (undistorted, weighted, per-detection DLT normal matrices in the rig frame), candidates come
from the full product of detection slots or from triangulated view pairs, each candidate is triangulated and
scored by its worst view's trimmed reprojection error, and people are accepted greedily. Every function takes
the array module `xp` (jax.numpy under `jit`, numpy for short captures) and keeps the small component axes
first ((2, ...), (3, ...), (10, ...)).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import undistort_points
from lift3d.geometry.triangulation.linear import cramer3, dlt_rows

if TYPE_CHECKING:
    from jax import Array

__all__ = ["prepare_detections", "gather_slots", "product_table", "pair_candidates", "score_candidates",
           "greedy_people"]


# ------------------------------------------------------------------------------------------ scoring
# The hot arrays keep their small component axis first ((2, ...), (3, ...), (10, ...)): elementwise arithmetic
# on contiguous planes is several times faster on CPU than on a trailing axis of 2, 3 or 16.

_PAIRS = [(a, b) for a in range(4) for b in range(a, 4)]  # upper triangle of a symmetric 4x4 matrix


def _entry(M: Array, a: int, b: int) -> Array:
    return M[_PAIRS.index((min(a, b), max(a, b)))]


class _Prepared(NamedTuple):
    R: Array  # (v, 3, 3) world -> camera rotations
    t_frame: Array  # (v, 3) translations for points in the rig frame (world = c + s Y)
    f: Array  # (v, 2) focal lengths fx, fy, px
    xy: Array  # (2, t, v, p, j) undistorted normalised detections, 0 where unused
    w: Array  # (t, v, p, j) scoring weights (0 = unused)
    normals: Array  # (10, t, v, p, j) upper triangles of every detection's DLT normal matrix
    scored: Array  # (t, v, p, j) observations that enter the scores (w > 0 and a scoring joint)
    present: Array  # (t, v, p) detections with at least min_joints scored joints
    c: Array  # (3,) rig-frame centre, world units
    s: Array  # () rig-frame scale, world units
    xp: Any  # the array module computing: jax.numpy (jitted) or numpy (nothing to compile)


def prepare_detections(xp, cameras, points_2d, confidence, joint_mask, min_confidence, min_joints) -> _Prepared:
    """Weights, undistorted coordinates and per-detection DLT normal matrices in the rig frame.

    The rig frame is centred on the camera centres and scaled by their spread (well conditioned in float32).
    A detection's rows `x r3 - r1`, `y r3 - r2` (`r` the rows of `[R | t]` acting on rig-frame points) are
    scaled by `w fx`, `w fy` (`dlt_rows`: pixel-like weighting, as `triangulate_dlt`); with one frame for all
    candidates, the normal matrices of a tuple's detections simply add up.
    """
    uv = xp.asarray(points_2d)
    uv = uv.astype(xp.result_type(uv.dtype, xp.float32))
    conf = xp.asarray(confidence, uv.dtype)
    cam = cameras.map(lambda a: xp.asarray(a, uv.dtype))
    finite = xp.all(xp.isfinite(uv), -1)
    w = xp.where(finite & (conf > 0) & (conf >= min_confidence), conf, 0.0)
    t, v, p, j = w.shape
    uv = xp.where(finite[..., None], uv, 0.0).transpose(1, 0, 2, 3, 4).reshape(v, t * p * j, 2)
    if xp is np:
        xy = numpy_camera.undistort(numpy_camera.camera_params(cameras), uv, cam.model == "fisheye")
    else:
        xy = undistort_points(cam, uv, normalized=True)
    xy = xy.astype(uv.dtype).reshape(v, t, p, j, 2)
    xy = xp.where(w > 0, xp.moveaxis(xy, -1, 0).swapaxes(1, 2), 0.0)  # (2, t, v, p, j)
    centers = -xp.einsum("vji,vj->vi", cam.R, cam.t)
    c = xp.mean(centers, 0)
    s = xp.sqrt(xp.mean(xp.sum((centers - c) ** 2, -1)))
    s = xp.where(s > 0, s, 1.0)
    R = xp.asarray(cam.R)
    t_frame = (R @ c + xp.asarray(cam.t)) / s
    f = xp.asarray(cam.K)[:, [0, 1], [0, 1]]
    rows = dlt_rows(xp.moveaxis(xy, 0, -1), w[..., None] * f[:, None, None], R[:, None, None],
                    t_frame[:, None, None], xp)  # (t, v, p, j, 2, 4), the rows of `dlt_system`
    # the upper triangle of `normal_matrices(rows)`, entry by entry: no 4x4 einsum over every detection
    normals = xp.stack([rows[..., 0, a] * rows[..., 0, b] + rows[..., 1, a] * rows[..., 1, b] for a, b in _PAIRS])
    scored = (w > 0) & (joint_mask > 0)
    present = xp.sum(scored, -1) >= min_joints
    return _Prepared(R, t_frame, f, xy, w, normals, scored, present, c, s, xp)


def gather_slots(xp, a: Array, tuples: Array) -> Array:
    """a (t, v, p, ...) gathered by tuples (C, v) or (t, C, v) -> (t, C, v, ...), -1 gives slot 0."""
    idx = xp.maximum(tuples, 0)
    t, v = a.shape[:2]
    if tuples.ndim == 2:
        return a[:, xp.arange(v)[None, :], idx]
    return a[xp.arange(t)[:, None, None], xp.arange(v)[None, None, :], idx]


def product_table(num_views: int, num_detections: int) -> np.ndarray:
    """Every tuple of {none (-1), 0, ..., p - 1}^v, (p + 1)^v rows in C order (view 0 slowest)."""
    return np.array(list(itertools.product(range(-1, num_detections), repeat=num_views)), np.int32)


class _ViewTerms(NamedTuple):
    """One view's share of every candidate (C of them), component axes first."""

    normals: Array  # (10, t, C, j), or for the product (10, t, *(p + 1,) * v, j) (summed, then flattened)
    weighted: Array  # (t, C, j) observations in the triangulation
    scored: Array  # (t, C, j) observations in the score
    xy: Array  # (2, t, C, j)
    present: Array  # (t, C)
    on: Array  # (t or 1, C): the view takes part in the candidate


def _view_terms(prep: _Prepared, tuples: Array | None, view: int) -> _ViewTerms:
    """The data of `view` for every candidate.

    `tuples` None is the full product {none, 0, ..., p - 1}^v (order of `product_table`): each view's
    detections, with a zero "none" slot in front, lie on their own axis of (p + 1,) * v, so that the sum of
    the normal matrices over views is a broadcast (no gathers); the other fields are broadcast and
    flattened to C = (p + 1)^v (flat arrays compile faster). Otherwise `tuples` (C, v) or (t, C, v) are
    gathered.
    """
    xp = prep.xp
    t, v, p, j = prep.w.shape
    arrays = [prep.normals[:, :, view], prep.w[:, view] > 0, prep.scored[:, view], prep.xy[:, :, view],
              prep.present[:, view]]  # slot axis at 2, 1, 1, 2, 1
    slot_axis = [2, 1, 1, 2, 1]
    if tuples is None:
        out, own = [], tuple(p + 1 if u == view else 1 for u in range(v))
        for k, (a, ax) in enumerate(zip(arrays, slot_axis, strict=True)):
            a = xp.pad(a, [(1, 0) if i == ax else (0, 0) for i in range(a.ndim)])
            a = a.reshape(a.shape[:ax] + own + a.shape[ax + 1:])
            if k > 0:  # all but the normal matrices
                a = xp.broadcast_to(a, a.shape[:ax] + (p + 1,) * v + a.shape[ax + v:])
                a = a.reshape(a.shape[:ax] + (-1,) + a.shape[ax + v:])
            out.append(a)
        on = xp.broadcast_to((xp.arange(p + 1) > 0).reshape(own), (p + 1,) * v).reshape(1, -1)
        return _ViewTerms(*out, on)
    idx = xp.maximum(tuples[..., view], 0)
    on = tuples[..., view] >= 0
    if tuples.ndim == 2:
        out = [a[:, :, idx] if ax == 2 else a[:, idx] for a, ax in zip(arrays, slot_axis, strict=True)]
        on = on[None]
    else:
        rows = xp.arange(t)[:, None]
        out = [a[:, rows, idx] if ax == 2 else a[rows, idx] for a, ax in zip(arrays, slot_axis, strict=True)]
    normals, weighted, scored, xy, present = out
    onj = on[..., None]
    return _ViewTerms(xp.where(onj, normals, 0.0), weighted & onj, scored & onj, xy, present & on, on)


def _triangulate(xp, terms: list[_ViewTerms]) -> Array:
    """Rig-frame points Y (3, t, C, j) of the candidates, NaN where fewer than 2 views.

    Minimises the summed algebraic error with the homogeneous coordinate fixed to 1: in the rig frame the
    points are O(1) from the origin, so this is the unit-norm DLT's point; the 3x3 system is solved by
    cofactors, elementwise.
    """
    M = sum(tm.normals for tm in terms)
    M = M.reshape(M.shape[:2] + (-1, M.shape[-1]))
    n = sum(tm.weighted.astype(xp.int32) for tm in terms)
    num, det = cramer3([[_entry(M, i, k) for k in range(3)] for i in range(3)], [-_entry(M, i, 3) for i in range(3)])
    ok = (n >= 2) & (xp.abs(det) > 0)
    det = xp.where(ok, det, 1.0)
    Y = xp.stack([num[i] / det for i in range(3)])
    return xp.where(ok, Y, xp.nan)


def _pixel_error(prep: _Prepared, Y: Array, view: int, ox: Array, oy: Array) -> Array:
    """Undistorted-pixel distance between rig-frame points Y (3, ...) seen by `view` and observations
    (normalised ox, oy, broadcast against Y[0]); inf behind the camera."""
    xp = prep.xp
    R, tf = prep.R[view], prep.t_frame[view]
    xc = [R[i, 0] * Y[0] + R[i, 1] * Y[1] + R[i, 2] * Y[2] + tf[i] for i in range(3)]
    front = xc[2] > 0
    z = xp.where(front, xc[2], 1.0)
    e = xp.sqrt((prep.f[view, 0] * (xc[0] / z - ox)) ** 2 + (prep.f[view, 1] * (xc[1] / z - oy)) ** 2)
    return xp.where(front, e, xp.inf)


def _view_error(xp, err: Array, used: Array) -> tuple[Array, Array]:
    """Robust mean of a view's errors over its used joints (axis -1), and the count used.

    The mean over the joints whose error is at most the plain mean (one trimming step): a few swapped or
    misdetected joints raise the plain mean but are then left out, while a wrong view (another person) stays
    far off, as nothing saturates.
    """
    n = xp.sum(used, -1)
    mean = xp.sum(xp.where(used, err, 0.0), -1) / xp.maximum(n, 1)
    below = used & (err <= mean[..., None])
    return xp.sum(xp.where(below, err, 0.0), -1) / xp.maximum(xp.sum(below, -1), 1), n


def pair_candidates(prep: _Prepared, extend_px: float) -> Array:
    """Candidate tuples (t, S, v) grown from every pair of detections in two views (S = binom(v, 2) p^2)."""
    xp = prep.xp
    t, v, p, j = prep.w.shape
    seeds = np.array([(a, da, b, db) for a, b in itertools.combinations(range(v), 2)
                      for da in range(p) for db in range(p)], np.int32)  # (S, 4)
    base = np.full((len(seeds), v), -1, np.int32)
    base[np.arange(len(seeds)), seeds[:, 0]] = seeds[:, 1]
    base[np.arange(len(seeds)), seeds[:, 2]] = seeds[:, 3]
    Y = _triangulate(xp, [_view_terms(prep, xp.asarray(base), u) for u in range(v)])[:, :, :, None]  # 3 t S 1 j
    finite = xp.isfinite(Y[0])
    grown = []
    for u in range(v):  # every detection of every view against every seed: (t, S, p, j)
        err = _pixel_error(prep, Y, u, prep.xy[0, :, u][:, None], prep.xy[1, :, u][:, None])
        E, n_used = _view_error(xp, err, prep.scored[:, u][:, None] & finite)
        E = xp.where(prep.present[:, u][:, None] & (n_used > 0), E, xp.inf)  # (t, S, p)
        grown.append(xp.where(xp.min(E, -1) <= extend_px, xp.argmin(E, -1), -1).astype(xp.int32))
    return xp.where(xp.asarray(base) >= 0, xp.asarray(base), xp.stack(grown, -1))


def score_candidates(prep: _Prepared, tuples: Array | None, min_joints: int, min_views):
    """Triangulate candidate tuples (None = the full product, see `_view_terms`) and score them.

    Returns:
        error (t, C): worst view's robust mean reprojection error (undistorted px, `_view_error`) divided by
        sqrt(1 - 3 / (2 n)) (n views: the share of residual degrees of freedom, which makes tuples of
        different sizes comparable); num_views (t, C); valid (t, C); rig-frame points Y (3, t, C, j).
    """
    xp, v = prep.xp, prep.w.shape[1]
    terms = [_view_terms(prep, tuples, u) for u in range(v)]
    Y = _triangulate(xp, terms)
    finite = xp.isfinite(Y[0])
    worst, num_views, ok = 0.0, 0, True
    for u, tm in enumerate(terms):
        E_u, n_u = _view_error(xp, _pixel_error(prep, Y, u, tm.xy[0], tm.xy[1]), tm.scored & finite)
        worst = xp.maximum(worst, xp.where(tm.on, E_u, 0.0))
        num_views = num_views + tm.on.astype(xp.int32)
        ok = ok & (~tm.on | (tm.present & (n_u >= min_joints)))
    dof = xp.sqrt(xp.maximum(1.0 - 1.5 / xp.maximum(num_views, 2), 0.25)).astype(worst.dtype)
    num_views = xp.broadcast_to(num_views, worst.shape)
    return worst / dof, num_views, ok & (num_views >= min_views), Y


def greedy_people(xp, score: Array, tuples: Array, num_detections: int, max_people: int) -> tuple[Array, Array]:
    """Accept candidates best score first, each detection at most once.

    Args:
        score: (t, C), inf where a candidate is rejected.
        tuples: (C, v) or (t, C, v).
        num_detections: p.
        max_people: P, number of acceptance rounds.

    Returns:
        The accepted tuples (t, P, v) (-1 = none) and their candidate indices (t, P) (-1 = none).
    """
    t = score.shape[0]
    rows = xp.arange(t)
    member = (tuples[..., None] == xp.arange(num_detections)).reshape(*tuples.shape[:-1], -1)
    member_f = member.astype(score.dtype)  # (..., C, v p)
    out, index = [], []
    for _ in range(max_people):
        best = xp.argmin(score, -1)
        found = xp.isfinite(score[rows, best])
        if tuples.ndim == 2:
            taken, tup = member_f[best], tuples[best]
            conflict = xp.einsum("tk,ck->tc", taken, member_f)
        else:
            taken, tup = member_f[rows, best], tuples[rows, best]
            conflict = xp.einsum("tk,tck->tc", taken, member_f)
        score = xp.where(found[:, None] & (conflict > 0), xp.inf, score)
        out.append(xp.where(found[:, None], tup, -1))
        index.append(xp.where(found, best, -1))
    return xp.stack(out, 1), xp.stack(index, 1)

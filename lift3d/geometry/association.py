"""Which detection in each view is which person, and who is who over time.

Detections come per view in arbitrary slots (`Keypoints2D.points` (t, v, p, j, 2): `p` is a set of
detection slots, not people). `associate` groups, frame by frame, one detection (or none) per view into
people by cross-view consistency; `track` links those people over frames into identities; `select_tracks`
keeps the N most complete identities; `associate_sequence` does all three.

How a frame is associated:

1. Candidates: tuples of one detection slot or none per view. With few views and detections
   ((p + 1) ** v <= `max_candidates`, e.g. 625 for 4 views x 4 slots) every tuple is a candidate
   ("exhaustive"; each view's detections lie on their own axis, so sums over a tuple's views are broadcasts).
   Otherwise ("pairs") every pair of detections in two views seeds a candidate: the pair is triangulated and,
   in every other view, the detection that reprojects best (robust error below `extend_px`) joins it.
2. Every candidate is triangulated joint by joint (confidence-weighted linear triangulation, the rows of
   `triangulate_dlt`, from per-detection 4x4 normal matrices summed over the tuple's views) and scored by its
   reprojection error in undistorted pixels: each view's error is the mean over those of its joints whose
   error is at most the plain mean (one trimming step: a few left/right swaps or misdetected joints raise the
   plain mean and are then left out, while a wrong view, another person, stays far off since nothing
   saturates), and the candidate's error is its worst view's (every view must agree, a wrong view cannot
   hide in an average), divided by sqrt(1 - 3 / (2 n)) for n views (the share of residual degrees of
   freedom: 2 views leave one per joint, so a 2-view error is trivially small and is scaled up by 2; 4 views
   by 1.26).
3. Candidates with at least `min_views` views and an error of at most `max_error_px` are accepted greedily,
   best score first, a detection belonging to at most one person. The score is
   `error - view_bonus_px * num_views`: with the default bonus (= `max_error_px`) a candidate with more views
   always comes first, so a person seen by 4 cameras is taken whole before any 2- or 3-view part of it, and a
   bystander seen by 2 cameras becomes a person of its own instead of replacing a view of the subject.

The output of `associate` has `P = max_people` slots per frame in acceptance order (no identity); `track`
gives identities from the 3D poses (linear assignment between consecutive frames on the median joint
distance, with a gate), and `select_tracks` orders them by completeness (views summed over frames), so that
`people=1` keeps the subject (4 views on most frames) and drops a bystander (2 views) even if both are seen
on every frame.

Steps 1-3 are one code path over an array module (`xp`): jitted `jax.numpy`, or plain `numpy` for short captures
(`associate(backend="auto")`), where XLA's compile time (4-10 s on a 2-core CPU) would exceed the work; tests
hold the two to the same groups and points.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera, undistort_points
from lift3d.geometry.triangulate import reprojection_error

__all__ = [
    "Association",
    "associate",
    "track",
    "select_tracks",
    "associate_sequence",
]

Method = Literal["auto", "exhaustive", "pairs"]
NUMPY_MAX_WORK = 4_000_000  # `associate(backend="auto")`: frames x candidates x joints computed by numpy


class Association(NamedTuple):
    """People found in multi-view detections, numpy arrays over t frames and P person slots.

    Attributes:
        assignment: (t, P, v) int32 detection slot of each person in each view, -1 where none (or where the
            person slot is empty).
        points_2d: (t, P, v, j, 2) the assigned detections' keypoints, distorted px; NaN where none.
        confidence: (t, P, v, j) their confidences; 0 where none.
        points_3d: (t, P, j, 3) confidence-weighted linear triangulation (the rows of `triangulate_dlt`) of
            each person from its assigned views, observations with confidence >= `min_confidence` (world
            units); NaN where a joint has fewer than 2 such views or the slot is empty.
        error_px: (t, P) mean reprojection error (distorted px) of `points_3d` over the observations used;
            NaN if empty.
        num_views: (t, P) int32 number of views assigned (0 = empty slot).
        track_id: (t, P) int32 identity of each slot (-1 = empty), or None before tracking.
    """

    assignment: np.ndarray
    points_2d: np.ndarray
    confidence: np.ndarray
    points_3d: np.ndarray
    error_px: np.ndarray
    num_views: np.ndarray
    track_id: np.ndarray | None = None

    @property
    def num_people(self) -> int:
        """P: number of person slots."""
        return self.assignment.shape[1]


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


def _prepare(xp, cameras, points_2d, confidence, joint_mask, min_confidence, min_joints) -> _Prepared:
    """Weights, undistorted coordinates and per-detection DLT normal matrices in the rig frame.

    The rig frame is centred on the camera centres and scaled by their spread (well conditioned in float32).
    A detection's rows `x r3 - r1`, `y r3 - r2` (`r` the rows of `[R | t]` acting on rig-frame points) are
    scaled by `w fx`, `w fy` (pixel-like weighting, as `triangulate_dlt`); with one frame for all candidates,
    the normal matrices of a tuple's detections simply add up.
    """
    uv = xp.asarray(points_2d)
    uv = uv.astype(xp.result_type(uv.dtype, xp.float32))
    conf = xp.asarray(confidence, uv.dtype)
    cam = jax.tree_util.tree_map(lambda a: xp.asarray(a, uv.dtype), cameras)
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
    b = lambda a: a[:, None, None]  # noqa: E731  (v,) -> (v, 1, 1), against (t, v, p, j)
    rows = []
    for k in range(2):
        scale = w * b(f[:, k])
        rows.append([scale * (xy[k] * b(R[:, 2, m]) - b(R[:, k, m])) for m in range(3)]
                    + [scale * (xy[k] * b(t_frame[:, 2]) - b(t_frame[:, k]))])
    normals = xp.stack([rows[0][a] * rows[0][bb] + rows[1][a] * rows[1][bb] for a, bb in _PAIRS])
    scored = (w > 0) & (joint_mask > 0)
    present = xp.sum(scored, -1) >= min_joints
    return _Prepared(R, t_frame, f, xy, w, normals, scored, present, c, s, xp)


def _gather(xp, a: Array, tuples: Array) -> Array:
    """a (t, v, p, ...) gathered by tuples (C, v) or (t, C, v) -> (t, C, v, ...), -1 gives slot 0."""
    idx = xp.maximum(tuples, 0)
    t, v = a.shape[:2]
    if tuples.ndim == 2:
        return a[:, xp.arange(v)[None, :], idx]
    return a[xp.arange(t)[:, None, None], xp.arange(v)[None, None, :], idx]


def _product_table(num_views: int, num_detections: int) -> np.ndarray:
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

    `tuples` None is the full product {none, 0, ..., p - 1}^v (order of `_product_table`): each view's
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
    a = [[_entry(M, i, k) for k in range(3)] for i in range(3)]
    g = [-_entry(M, i, 3) for i in range(3)]
    cof = [[a[(i + 1) % 3][(k + 1) % 3] * a[(i + 2) % 3][(k + 2) % 3]
            - a[(i + 1) % 3][(k + 2) % 3] * a[(i + 2) % 3][(k + 1) % 3] for k in range(3)] for i in range(3)]
    det = a[0][0] * cof[0][0] + a[0][1] * cof[0][1] + a[0][2] * cof[0][2]
    ok = (n >= 2) & (xp.abs(det) > 0)
    det = xp.where(ok, det, 1.0)
    Y = xp.stack([sum(cof[k][i] * g[k] for k in range(3)) / det for i in range(3)])
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


def _pair_candidates(prep: _Prepared, extend_px: float) -> Array:
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


def _score(prep: _Prepared, tuples: Array | None, min_joints: int, min_views):
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


def _greedy(xp, score: Array, tuples: Array, num_detections: int, max_people: int) -> tuple[Array, Array]:
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


def _associate_chunk(xp, cameras, points_2d, confidence, joint_mask, table, method, max_people, min_views,
                     min_joints, min_confidence, max_error_px, view_bonus_px, extend_px):
    """`associate` on a chunk of frames with array module `xp`: (chosen, X, error_px, num_views)."""
    prep = _prepare(xp, cameras, points_2d, confidence, joint_mask, min_confidence, min_joints)
    tuples = _pair_candidates(prep, extend_px) if method == "pairs" else None
    error, num_views, valid, Y = _score(prep, tuples, min_joints, min_views)
    score = xp.where(valid & (error <= max_error_px), error - view_bonus_px * num_views, xp.inf)
    chosen, index = _greedy(xp, score, table if tuples is None else tuples, points_2d.shape[2], max_people)
    Y = xp.take_along_axis(Y, xp.maximum(index, 0)[None, :, :, None], axis=2)  # (3, t, P, j)
    X = prep.c + prep.s * xp.moveaxis(Y, 0, -1)  # (t, P, j, 3): all joints with confidence >= min_confidence
    X = xp.where((index >= 0)[..., None, None], X, xp.nan)
    uv = xp.asarray(points_2d, X.dtype)
    if xp is np:
        err = numpy_camera.reprojection_errors(cameras, X, _gather(xp, uv, chosen)).astype(X.dtype)
    else:
        cam = jax.tree_util.tree_map(lambda a: xp.asarray(a, X.dtype), cameras)
        err = reprojection_error(cam, X, _gather(xp, uv, chosen))  # (t, P, v, j)
    used = (_gather(xp, prep.w, chosen) > 0) & (chosen >= 0)[..., None] & xp.isfinite(X[..., None, :, 0])
    n = xp.sum(used, (-1, -2))
    error_px = xp.where(n > 0, xp.sum(xp.where(used, err, 0.0), (-1, -2)) / xp.maximum(n, 1), xp.nan)
    return chosen, X, error_px, xp.sum(chosen >= 0, -1).astype(xp.int32)


_associate_chunk_jit = jax.jit(functools.partial(_associate_chunk, jnp),
                               static_argnames=("method", "max_people", "min_joints"))


def associate(
    cameras: Camera,
    points_2d: ArrayLike,
    confidence: ArrayLike | None = None,
    *,
    max_people: int | None = None,
    min_views: int = 2,
    max_error_px: float = 50.0,
    view_bonus_px: float | None = None,
    min_confidence: float = 0.3,
    min_joints: int = 3,
    joints: ArrayLike | None = None,
    method: Method = "auto",
    max_candidates: int = 4096,
    extend_px: float | None = None,
    chunk_size: int = 64,
    backend: Literal["auto", "jax", "numpy"] = "auto",
) -> Association:
    """Group detections across views into people, frame by frame (no identity over time yet).

    See the module docstring for the rule. Thresholds are in pixels of the input images (the defaults suit
    1-2 Mpx images of whole bodies; scale them with the image size).

    Args:
        cameras: The rig, batch shape (v,), ordered like the views of `points_2d`.
        points_2d: Detections, shape (t, v, p, j, 2), distorted px; p detection slots per view in any order,
            NaN (or confidence 0) where missing.
        confidence: (t, v, p, j) detector confidences, or None for 1 where `points_2d` is finite.
        max_people: P, most people per frame; default v p // 2 (every detection could be placed).
        min_views: Fewest views a person is made of (>= 2).
        max_error_px: Gate on a candidate's error (its worst view's robust mean reprojection error, divided
            by sqrt(1 - 3 / (2 n)) for n views; see the module docstring), px.
        view_bonus_px: Score bonus per view; default `max_error_px` (more views always wins).
        min_confidence: Observations below this confidence are ignored by the scores and by `points_3d`
            (they are still gathered in `points_2d` / `confidence`); 0.3 is Pose2Sim's likelihood threshold.
        min_joints: A detection takes part if it has at least this many scored joints, and a view of a
            candidate counts only if this many of its joints are triangulated.
        joints: Indices of the joints used for scoring (e.g. torso and limbs); default all.
        method: "exhaustive" (all tuples), "pairs" (tuples grown from detection pairs) or "auto"
            (exhaustive while (p + 1) ** v <= max_candidates).
        max_candidates: Limit of "auto".
        extend_px: With "pairs": reprojection error (robust mean, as above) below which a view's detection
            joins a pair; default `max_error_px`.
        chunk_size: Frames per call (memory grows with chunk_size x candidates x j).
        backend: "jax" (jitted: about 3x faster per frame on CPU, but 4-10 s to compile once per process and
            shape), "numpy" (the same computation, nothing to compile) or "auto": numpy while frames x
            candidates x joints <= `NUMPY_MAX_WORK` (about 2 s of numpy: 600 frames of 4 views x 3 slots x 25
            joints), else jax.

    Returns:
        `Association` with P = max_people slots per frame, in acceptance order (best first), no track_id.
    """
    uv = np.asarray(points_2d)
    if uv.ndim != 5 or uv.shape[-1] != 2:
        raise ValueError(f"points_2d must have shape (t, v, p, j, 2), got {uv.shape}")
    if not np.issubdtype(uv.dtype, np.floating):
        uv = uv.astype(np.float32)
    t, v, p, j = uv.shape[:4]
    if confidence is None:
        conf = np.isfinite(uv).all(-1).astype(uv.dtype)
    else:
        conf = np.asarray(confidence, uv.dtype)
    if conf.shape != (t, v, p, j):
        raise ValueError(f"confidence must have shape {(t, v, p, j)}, got {conf.shape}")
    if tuple(cameras.batch_shape) != (v,):
        raise ValueError(f"cameras must have batch shape ({v},) like points_2d, got {cameras.batch_shape}")
    if not 2 <= min_views <= v:
        raise ValueError(f"min_views must be in [2, {v}], got {min_views}")
    if backend not in ("auto", "jax", "numpy"):
        raise ValueError(f"backend must be 'auto', 'jax' or 'numpy', got {backend!r}")
    if method not in ("auto", "exhaustive", "pairs"):
        raise ValueError(f"method must be 'auto', 'exhaustive' or 'pairs', got {method!r}")
    if method == "auto":
        method = "exhaustive" if (p + 1) ** v <= max_candidates else "pairs"
    max_people = max(1, v * p // 2) if max_people is None else int(max_people)
    if max_people < 1:
        raise ValueError(f"max_people must be at least 1, got {max_people}")
    joint_mask = np.ones(j, uv.dtype)
    if joints is not None:
        joint_mask = np.zeros(j, uv.dtype)
        joint_mask[np.asarray(joints, int)] = 1
    table = _product_table(v, p) if method == "exhaustive" else np.zeros((1, v), np.int32)
    if backend == "auto":
        candidates = len(table) if method == "exhaustive" else v * (v - 1) // 2 * p * p * (p + 1)
        backend = "numpy" if t * candidates * j <= NUMPY_MAX_WORK else "jax"
    params = dict(method=method, max_people=max_people, min_views=int(min_views), min_joints=int(min_joints),
                  min_confidence=float(min_confidence), max_error_px=float(max_error_px),
                  view_bonus_px=float(max_error_px if view_bonus_px is None else view_bonus_px),
                  extend_px=float(max_error_px if extend_px is None else extend_px))
    if backend == "numpy":  # nothing to reuse: no padding; float32 like jax's default
        chunk, uv_w, conf_w = max(1, min(int(chunk_size), t)), uv.astype(np.float32), conf.astype(np.float32)
    else:  # short captures padded to a multiple of 8 frames, long ones to chunk_size: few programs
        chunk, uv_w, conf_w = max(1, min(int(chunk_size), -(-t // 8) * 8)), uv, conf
    out = None
    for start in range(0, t, chunk):
        stop = min(start + chunk, t)
        if backend == "numpy":
            res = _associate_chunk(np, cameras, uv_w[start:stop], conf_w[start:stop], joint_mask, table, **params)
        else:
            pad = chunk - (stop - start)
            uv_c = np.concatenate([uv_w[start:stop], np.full((pad, v, p, j, 2), np.nan, uv.dtype)])
            conf_c = np.concatenate([conf_w[start:stop], np.zeros((pad, v, p, j), conf.dtype)])
            res = _associate_chunk_jit(cameras, uv_c, conf_c, joint_mask, table, **params)
        res = [np.asarray(r)[: stop - start] for r in res]
        if out is None:
            out = [np.empty((t, *r.shape[1:]), r.dtype) for r in res]
        for o, r in zip(out, res, strict=True):
            o[start:stop] = r
    chosen, X, error_px, num_views = out
    has = chosen >= 0
    rows, views = np.arange(t)[:, None, None], np.arange(v)[None, None, :]
    points = np.where(has[..., None, None], uv[rows, views, np.maximum(chosen, 0)], np.nan)
    conf_p = np.where(has[..., None], conf[rows, views, np.maximum(chosen, 0)], 0)
    return Association(assignment=chosen, points_2d=points.astype(uv.dtype),
                       confidence=conf_p.astype(conf.dtype), points_3d=X, error_px=error_px,
                       num_views=num_views)


# ------------------------------------------------------------------------------------------ identities


def _pose_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Median over joints of the distance between poses a (m, j, 3) and b (n, j, 3): (m, n), inf if none."""
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)  # (m, n, j)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no joint in common: inf below
        med = np.nanmedian(d, -1) if d.shape[-1] else d.sum(-1)
    return np.where(np.isfinite(med), med, np.inf)


def track(points_3d: ArrayLike, *, max_distance: float = 0.5, max_gap: int = 10) -> np.ndarray:
    """Identities over time: link each frame's people to the tracks of the previous frames.

    Frame by frame, the people present (any finite joint) are matched to the live tracks (seen within the
    last `max_gap` frames, at their last known pose) by `scipy.optimize.linear_sum_assignment` on the median
    joint distance; a match farther than `max_distance` is refused. Unmatched people start new tracks, and a
    track unseen for more than `max_gap` frames ends. A track's pose is updated joint by joint (a joint
    missing in the new frame keeps its last position).

    Args:
        points_3d: (t, P, j, 3) people per frame (e.g. `Association.points_3d`), world units; NaN = missing.
        max_distance: Gate on the median joint displacement between a track's last pose and a person, in
            world units (0.5 = 50 cm for a rig in metres; use 500 for millimetres).
        max_gap: Frames a track may go unseen and still be continued.

    Returns:
        (t, P) int32 track ids, numbered 0, 1, ... in order of appearance; -1 for empty slots.
    """
    from scipy.optimize import linear_sum_assignment

    X = np.asarray(points_3d, np.float64)
    if X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(f"points_3d must have shape (t, P, j, 3), got {X.shape}")
    t, P = X.shape[:2]
    present = np.isfinite(X).all(-1).any(-1)
    ids = np.full((t, P), -1, np.int32)
    poses: list[np.ndarray] = []
    last_seen: list[int] = []
    for f in range(t):
        people = np.flatnonzero(present[f])
        alive = [k for k in range(len(poses)) if f - last_seen[k] <= max_gap]
        if people.size and alive:
            D = _pose_distance(np.stack([poses[k] for k in alive]), X[f, people])
            rows, cols = linear_sum_assignment(np.where(D <= max_distance, D, 1e6 + D.clip(max=1e6)))
            for r, c in zip(rows, cols, strict=True):
                if D[r, c] <= max_distance:
                    ids[f, people[c]] = alive[r]
        for c in people:
            if ids[f, c] < 0:
                ids[f, c] = len(poses)
                poses.append(np.full(X.shape[2:], np.nan))
                last_seen.append(f)
            k = ids[f, c]
            poses[k] = np.where(np.isfinite(X[f, c]), X[f, c], poses[k])
            last_seen[k] = f
    return ids


def select_tracks(association: Association, track_ids: ArrayLike | None = None, *,
                  people: int | None = None) -> Association:
    """Reorder person slots by identity: slot k holds the k-th most complete track on every frame.

    Completeness is the number of views summed over the track's frames (ties: more frames), so a subject
    seen by 4 cameras ranks above a bystander seen by 2 even when both are present on every frame.

    Args:
        association: From `associate`.
        track_ids: (t, P) from `track`; default `association.track_id`.
        people: Number of tracks kept (slots beyond the number of tracks stay empty); default all tracks.

    Returns:
        `Association` with `people` slots and `track_id` (t, people) holding the original track ids
        (-1 where the track is absent on a frame).
    """
    ids = association.track_id if track_ids is None else track_ids
    if ids is None:
        raise ValueError("no track_ids given and the association has none (run `track` first)")
    ids = np.asarray(ids)
    if ids.shape != association.num_views.shape:
        raise ValueError(f"track_ids must have shape {association.num_views.shape}, got {ids.shape}")
    valid = ids >= 0
    n_tracks = int(ids.max()) + 1 if valid.any() else 0
    views = np.bincount(ids[valid], weights=association.num_views[valid], minlength=n_tracks)
    frames = np.bincount(ids[valid], minlength=n_tracks)
    order = np.lexsort((-frames, -views))
    n = n_tracks if people is None else int(people)
    t = ids.shape[0]
    slot = np.full((t, n), -1)
    for k, tid in enumerate(order[:n]):
        f, s = np.nonzero(ids == tid)
        slot[f, k] = s
    has = slot >= 0
    rows = np.arange(t)[:, None]

    def pick(a: np.ndarray, fill) -> np.ndarray:
        g = a[rows, np.maximum(slot, 0)]
        return np.where(has.reshape(has.shape + (1,) * (g.ndim - 2)), g, np.asarray(fill, g.dtype))

    a = association
    kept = np.full(n, -1, np.int32)
    kept[: min(n, n_tracks)] = order[:n]
    return Association(
        assignment=pick(a.assignment, -1), points_2d=pick(a.points_2d, np.nan),
        confidence=pick(a.confidence, 0), points_3d=pick(a.points_3d, np.nan),
        error_px=pick(a.error_px, np.nan), num_views=pick(a.num_views, 0),
        track_id=np.where(has, kept[None, :], -1).astype(np.int32),
    )  # fmt: skip


def associate_sequence(
    cameras: Camera,
    points_2d: ArrayLike,
    confidence: ArrayLike | None = None,
    *,
    people: int | None = None,
    max_distance: float = 0.5,
    max_gap: int = 10,
    **options,
) -> Association:
    """`associate` every frame, `track` identities, and keep the `people` most complete tracks.

    `people=1` is the single-person mode: the track with the most views over the capture (the subject), not a
    bystander seen by fewer cameras.

    Args:
        cameras: The rig, batch shape (v,).
        points_2d: (t, v, p, j, 2) detections, distorted px.
        confidence: (t, v, p, j) confidences or None.
        people: Number of identities returned (slot k = k-th most complete track); default all tracks.
        max_distance: `track` gate, world units per frame step.
        max_gap: `track` frames a track may be unseen.
        **options: Keyword options of `associate` (`max_error_px`, `min_views`, `method`, ...).

    Returns:
        `Association` of shape (t, people, ...) with `track_id`.
    """
    assoc = associate(cameras, points_2d, confidence, **options)
    ids = track(assoc.points_3d, max_distance=max_distance, max_gap=max_gap)
    return select_tracks(assoc, ids, people=people)

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
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera
from lift3d.geometry.candidates import (
    gather_slots,
    greedy_people,
    pair_candidates,
    prepare_detections,
    product_table,
    score_candidates,
)
from lift3d.geometry.lazy_jax import jit, jnp
from lift3d.geometry.temporal import MAX_GAP_FRAMES
from lift3d.geometry.triangulation.linear import reprojection_error
from lift3d.geometry.triangulation.mirrors import mirror_errors

if TYPE_CHECKING:
    from jax.typing import ArrayLike

__all__ = [
    "Association",
    "associate",
    "track",
    "select_tracks",
    "associate_sequence",
    "add_mirrored_views",
    "views_of_one_person",
]

Method = Literal["auto", "exhaustive", "pairs"]
NUMPY_MAX_WORK = 4_000_000  # `associate(backend="auto")`: frames x candidates x joints computed by numpy

MIN_CONFIDENCE = 0.3  # detections below this confidence are not used (Pose2Sim's likelihood threshold)


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




def _associate_chunk(xp, cameras, points_2d, confidence, joint_mask, table, method, max_people, min_views,
                     min_joints, min_confidence, max_error_px, view_bonus_px, extend_px):
    """`associate` on a chunk of frames with array module `xp`: (chosen, X, error_px, num_views)."""
    prep = prepare_detections(xp, cameras, points_2d, confidence, joint_mask, min_confidence, min_joints)
    tuples = pair_candidates(prep, extend_px) if method == "pairs" else None
    error, num_views, valid, Y = score_candidates(prep, tuples, min_joints, min_views)
    score = xp.where(valid & (error <= max_error_px), error - view_bonus_px * num_views, xp.inf)
    chosen, index = greedy_people(xp, score, table if tuples is None else tuples, points_2d.shape[2], max_people)
    Y = xp.take_along_axis(Y, xp.maximum(index, 0)[None, :, :, None], axis=2)  # (3, t, P, j)
    X = prep.c + prep.s * xp.moveaxis(Y, 0, -1)  # (t, P, j, 3): all joints with confidence >= min_confidence
    X = xp.where((index >= 0)[..., None, None], X, xp.nan)
    uv = xp.asarray(points_2d, X.dtype)
    if xp is np:
        err = numpy_camera.reprojection_errors(cameras, X, gather_slots(xp, uv, chosen)).astype(X.dtype)
    else:
        cam = cameras.map(lambda a: xp.asarray(a, X.dtype))
        err = reprojection_error(cam, X, gather_slots(xp, uv, chosen))  # (t, P, v, j)
    used = (gather_slots(xp, prep.w, chosen) > 0) & (chosen >= 0)[..., None] & xp.isfinite(X[..., None, :, 0])
    n = xp.sum(used, (-1, -2))
    error_px = xp.where(n > 0, xp.sum(xp.where(used, err, 0.0), (-1, -2)) / xp.maximum(n, 1), xp.nan)
    return chosen, X, error_px, xp.sum(chosen >= 0, -1).astype(xp.int32)


_associate_chunk_jit = jit(functools.partial(_associate_chunk, jnp),
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
    min_confidence: float = MIN_CONFIDENCE,
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
    table = product_table(v, p) if method == "exhaustive" else np.zeros((1, v), np.int32)
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


def views_of_one_person(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, points_3d: ArrayLike, *,
    flip_perm: ArrayLike | None = None, max_error_px: float = 50.0, min_views: int = 2,
    min_confidence: float = MIN_CONFIDENCE, min_joints: int = 3,
) -> np.ndarray:
    """The association of captures with at most one detection per view: which views show the person.

    With one detection slot per view there are no tuples to search (`associate` would score all 2^v subsets
    of views); the person's pose comes from robust triangulation (joint by joint from the views that agree,
    e.g. `triangulate_sequence(method="ransac")`), and a view belongs to the person where its robust error
    against that pose (the association's: mean over the joints at most the plain mean, `mirrors.trimmed_mean`)
    is at most `max_error_px` over at least `min_joints` joints; with `flip_perm`, the better of the detection
    as is and mirrored counts (a view the detector mirrored stays the person's, as with `add_mirrored_views`).
    A view showing someone else (a bystander while the subject is hidden) is left out whole; frames with fewer
    than `min_views` such views have no person.

    Args:
        cameras: The rig, batch shape (v,).
        points_2d: (t, v, j, 2) the detections, distorted px, NaN where missing.
        confidence: (t, v, j) confidences, 0 where missing.
        points_3d: (t, j, 3) the robust pose, world units, NaN where unknown.
        flip_perm: (j,) the skeleton's left/right permutation, or None.
        max_error_px: Largest robust error of a view of the person, px.
        min_views: Fewest views of a person.
        min_confidence: Observations below this confidence are not compared.
        min_joints: Fewest joints compared.

    Returns:
        (t, v) bool, the views that show the person.
    """
    flip = np.arange(np.shape(points_2d)[-2]) if flip_perm is None else np.asarray(flip_perm, int)
    e = mirror_errors(cameras, points_2d, confidence, points_3d, flip, min_confidence=min_confidence)
    ok = ((e.plain <= max_error_px) & (e.num_plain >= min_joints)) | (
        (e.mirrored <= max_error_px) & (e.num_mirrored >= min_joints))
    return ok & (ok.sum(-1, keepdims=True) >= min_views)


def add_mirrored_views(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, assignment: ArrayLike, points_3d: ArrayLike,
    flip_perm: ArrayLike, *, max_error_px: float = 50.0, min_confidence: float = MIN_CONFIDENCE,
    min_joints: int = 3,
) -> np.ndarray:
    """Give each person the views the association left out because the detector mirrored the person there.

    A detector that swaps left and right in one view (BlazePose does, on a third of the frames of the Pose2Sim
    sample's cam02) puts most joints of that view far from the person's other views, so `associate` leaves the
    view out. Here, every view a person lacks is tested again: each free detection slot of that view, mirrored
    (its joints exchanged through `flip_perm`), is compared with the person's 3D pose by the association's
    robust per-view error (mean over the joints whose error is at most the plain mean). The slot joins the
    person where the mirrored detection is within `max_error_px` and at most half the unmirrored one's error.
    The detections are not changed: the triangulation's swap repair (`repair_left_right_swaps`) decides which
    joints to exchange.

    Args:
        cameras: The rig, batch shape (v,).
        points_2d: (t, v, p, j, 2) detections, distorted px, NaN where missing.
        confidence: (t, v, p, j) confidences, 0 where missing.
        assignment: (t, P, v) detection slot of each person per view, -1 where none (`Association.assignment`).
        points_3d: (t, P, j, 3) the people's 3D poses (`Association.points_3d`), world units.
        flip_perm: (j,) the skeleton's left/right permutation (`Skeleton.flip_permutation()`).
        max_error_px: Largest robust error of the mirrored detection, px.
        min_confidence: Observations below this confidence are not compared.
        min_joints: Fewest joints compared.

    Returns:
        (t, P, v) int32 the assignment with the recovered views.
    """
    uv, conf = np.asarray(points_2d), np.asarray(confidence)
    chosen = np.array(assignment, np.int32)
    X = np.asarray(points_3d, np.float64)
    flip = np.asarray(flip_perm, int)
    t, v, p = uv.shape[:3]
    taken = np.zeros((t, v, p), bool)  # slots already someone's
    tt, pp, vv = np.nonzero(chosen >= 0)
    taken[tt, vv, chosen[tt, pp, vv]] = True
    best_err = np.full(chosen.shape, np.inf)
    best_slot = np.full(chosen.shape, -1, np.int32)
    for s in range(p):
        det = np.broadcast_to(uv[:, None, :, s], (*X.shape[:2], v, *uv.shape[-2:]))  # (t, P, v, j, 2)
        c = np.broadcast_to(conf[:, None, :, s], det.shape[:-1])
        plain, mirrored, _, num_mirrored = mirror_errors(cameras, det, c, X, flip, min_confidence=min_confidence)
        ok = ((chosen < 0) & ~taken[:, None, :, s] & (num_mirrored >= min_joints)
              & (mirrored <= max_error_px) & (mirrored <= 0.5 * plain) & (mirrored < best_err))  # fmt: skip
        best_err = np.where(ok, mirrored, best_err)
        best_slot = np.where(ok, s, best_slot)
    # one slot, one person: where two people want a slot, the closer one takes it
    for f, k, view in zip(*np.nonzero(best_slot >= 0), strict=True):
        slot = best_slot[f, k, view]
        rivals = best_slot[f, :, view] == slot
        if best_err[f, k, view] <= best_err[f, rivals, view].min() and not taken[f, view, slot]:
            chosen[f, k, view] = slot
            taken[f, view, slot] = True
    return chosen


# ------------------------------------------------------------------------------------------ identities


_RUN_FRAMES = (64, 8192)  # first and largest block of frames a single-person run is tried on (doubles while it holds)


def _median_distance(d: np.ndarray) -> np.ndarray:
    """`np.nanmedian(d, -1)`, inf where a row has no number, by one sort (nanmedian masks: 10x slower on rows of 25).

    NaN sort last, so a row's n numbers are its first n sorted values; its median is the mean of values
    (n - 1) // 2 and n // 2, summed then halved as `np.nanmedian` does: the same bits for finite distances.
    """
    if not d.shape[-1]:
        return np.zeros(d.shape[:-1])
    s = np.sort(d, axis=-1)
    n = np.count_nonzero(~np.isnan(d), axis=-1)[..., None]
    med = (np.take_along_axis(s, (np.maximum(n, 1) - 1) // 2, -1) + np.take_along_axis(s, n // 2, -1))[..., 0] / 2
    return np.where(np.isfinite(med), med, np.inf)


def _pose_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Median over joints of the distance between poses a (m, j, 3) and b (n, j, 3): (m, n), inf if none."""
    return _median_distance(np.linalg.norm(a[:, None] - b[None], axis=-1))


def _single_run(X, present, count, f0, stop, pose, last_seen, max_distance, max_gap):
    """Frames f0 .. stop - 1 for one live track at `pose` (last seen at `last_seen`) and at most one person per
    frame (`count` <= 1): how many of the person frames `track` gives to the track, in one pass.

    Assuming every person frame continues the track, its pose before each is the joint-wise forward fill of the
    earlier ones; the run holds up to the first person farther than `max_distance` from that pose or after a
    gap longer than `max_gap`, which `track` then decides frame by frame.

    Returns:
        (frames, slots, kept, pose): the person frames and slots, how many of them continue the track, and the
        track's pose after them.
    """
    frames = f0 + np.flatnonzero(count[f0:stop])
    slots = np.argmax(present[frames], axis=1)
    Y = X[frames, slots]  # (n, j, 3)
    seq = np.concatenate([pose[None], Y])
    last = np.where(np.isfinite(seq), np.arange(len(seq))[:, None, None], 0)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = np.take_along_axis(seq, last, 0)  # filled[i]: the pose after person i - 1
    D = _median_distance(np.linalg.norm(filled[:-1] - Y, axis=-1))
    gaps = np.diff(frames, prepend=last_seen)
    bad = np.flatnonzero(~((D <= max_distance) & (gaps <= max_gap)))
    kept = int(bad[0]) if bad.size else len(frames)
    return frames, slots, kept, filled[kept]


def track(points_3d: ArrayLike, *, max_distance: float = 0.5, max_gap: int = MAX_GAP_FRAMES) -> np.ndarray:
    """Identities over time: link each frame's people to the tracks of the previous frames.

    Frame by frame, the people present (any finite joint) are matched to the live tracks (seen within the
    last `max_gap` frames, at their last known pose) by `scipy.optimize.linear_sum_assignment` on the median
    joint distance; a match farther than `max_distance` is refused. Unmatched people start new tracks, and a
    track unseen for more than `max_gap` frames ends. A track's pose is updated joint by joint (a joint
    missing in the new frame keeps its last position). Runs of frames with one live track and at most one person
    are decided in one pass (`_single_run`) up to the first frame the rule stops them at; the ids are those of
    the frame-by-frame rule.

    Args:
        points_3d: (t, P, j, 3) people per frame (e.g. `Association.points_3d`), world units; NaN = missing.
        max_distance: Gate on the median joint displacement between a track's last pose and a person, in
            world units (0.5 = 50 cm for a rig in metres; use 500 for millimetres).
        max_gap: Frames a track may go unseen and still be continued.

    Returns:
        (t, P) int32 track ids, numbered 0, 1, ... in order of appearance; -1 for empty slots.
    """
    X = np.asarray(points_3d, np.float64)
    if X.ndim != 4 or X.shape[-1] != 3:
        raise ValueError(f"points_3d must have shape (t, P, j, 3), got {X.shape}")
    t, P = X.shape[:2]
    present = np.isfinite(X).all(-1).any(-1)
    count = present.sum(1)
    ids = np.full((t, P), -1, np.int32)
    poses: list[np.ndarray] = []
    last_seen: list[int] = []
    alive: list[int] = []  # tracks not yet ended, ascending (an ended track never comes back)
    run = _RUN_FRAMES[0]
    f = 0
    while f < t:
        alive = [k for k in alive if f - last_seen[k] <= max_gap]
        if len(alive) == 1 and count[f] == 1:  # the common case: one person continuing one track
            k = alive[0]
            stop = min(t, f + run)
            multi = np.flatnonzero(count[f:stop] > 1)
            stop = f + int(multi[0]) if multi.size else stop
            frames, slots, kept, pose = _single_run(X, present, count, f, stop, poses[k], last_seen[k],
                                                    max_distance, max_gap)
            ids[frames[:kept], slots[:kept]] = k
            if kept:
                poses[k], last_seen[k] = pose, int(frames[kept - 1])
            if kept == len(frames):
                run = min(2 * run, _RUN_FRAMES[1])
                f = stop
                continue
            run = _RUN_FRAMES[0]
            f = int(frames[kept])  # decided below, frame by frame
            alive = [k for k in alive if f - last_seen[k] <= max_gap]
        people = np.flatnonzero(present[f])
        if people.size and alive:
            D = _pose_distance(np.stack([poses[k] for k in alive]), X[f, people])
            if D.shape == (1, 1):
                rows, cols = np.zeros(1, int), np.zeros(1, int)
            else:
                from scipy.optimize import linear_sum_assignment  # on use: 0.4 s, not for one person

                rows, cols = linear_sum_assignment(np.where(D <= max_distance, D, 1e6 + D.clip(max=1e6)))
            for r, c in zip(rows, cols, strict=True):
                if D[r, c] <= max_distance:
                    ids[f, people[c]] = alive[r]
        for c in people:
            if ids[f, c] < 0:
                ids[f, c] = len(poses)
                alive.append(len(poses))
                poses.append(np.full(X.shape[2:], np.nan))
                last_seen.append(f)
            k = ids[f, c]
            poses[k] = np.where(np.isfinite(X[f, c]), X[f, c], poses[k])
            last_seen[k] = f
        f += 1
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
    max_gap: int = MAX_GAP_FRAMES,
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

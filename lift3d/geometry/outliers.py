"""Outlier joints: triangulated points that break the body, found so they can be masked (NaN) before gap filling.

Trajectories as in `lift3d.geometry.temporal`: time first, ``points`` (t, ..., j, d) (usually (t, j, 3) or
(t, p, j, 3)) in world units; NaN = missing. Every function takes numpy or jax.numpy arrays and returns the same
kind (one implementation over ``xp``; jittable: no data-dependent shapes, and Python loops only over three
fixed passes and blocks of 8192 frames, never over frames or joints). A missing point is never an outlier;
masks are (t, ..., j) booleans. Three rules, each a reason code:

1. ``REPROJECTION``: a point from at most `SUSPECT_MAX_VIEWS` (two) views whose reprojection error exceeds
   `MAX_TWO_VIEW_ERROR_PX`. Two views have no redundancy: any two detections triangulate to *some* point, and
   the error is the only sign that the two rays do not meet, i.e. that they are not the same joint.
2. ``TEMPORAL``: a point from at most two views farther than `TEMPORAL_MAX_DISTANCE_M` from the median of
   its track over a window of `TEMPORAL_WINDOW_S` (`temporal_outliers`): no support in time.
3. ``BONE_LENGTH``: a joint blamed for a bone longer or shorter than its tolerance times the bone's own
   median length over the whole capture (per person), or longer than `MAX_BONE_LENGTH_M`
   (`bone_outliers`). Three or more views can agree on a wrong point too (the same wrong detection in
   each), and then only the body's shape tells. Before filtering the tolerance is noise-aware
   (`noise_tolerance`): `BONE_TOLERANCE`, or `NOISE_SPREADS` times the bone's own spread where the
   triangulation is noisier than that (3-7 cm foot and face bones), so that only gross breaks are taken out.

After gap filling and filtering, `fit_bones` brings the output to `BONE_TOLERANCE` exactly: a joint whose
bone is still off is moved along the bone back into the band when that takes at most `MAX_ADJUST_M` (the
noise of a triangulated joint), and masked otherwise.

Typical use after triangulation (reject, then fill, then filter: the filter never sees an outlier)::

    masked, reason = reject_outliers(points, skeleton, error_px=err, num_views=nv, window=temporal_window(fps))
    filled, was_filled = fill_gaps(masked)
    smooth = filter_trajectories(filled, "butterworth:6", fps=fps)
    output, moved, dropped = fit_bones(smooth, skeleton)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lift3d.geometry.bones import Skeleton, bone_pairs
from lift3d.geometry.lazy_jax import is_jax_array, jnp

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = [
    "BONE_TOLERANCE",
    "NOISE_SPREADS",
    "MAX_NOISE_TOLERANCE",
    "MAX_ADJUST_M",
    "MAX_BONE_LENGTH_M",
    "MAX_TWO_VIEW_ERROR_PX",
    "SUSPECT_MAX_VIEWS",
    "TEMPORAL_MAX_DISTANCE_M",
    "TEMPORAL_WINDOW_S",
    "REASONS",
    "KEPT",
    "REPROJECTION",
    "TEMPORAL",
    "BONE_LENGTH",
    "Rejection",
    "BoneFit",
    "temporal_window",
    "noise_tolerance",
    "bone_outliers",
    "fit_bones",
    "temporal_outliers",
    "reject_outliers",
]

BONE_TOLERANCE = 0.3
"""Largest relative change of a bone from its median length (0.3 = +-30 %), the output's bound. Bones are
rigid: on long bones a real body changes only by where the detector puts a joint centre as the pose changes
(elbow, knee: about 10 %), so 30 % is loose there; on the shortest (eye-nose, toes, heel: 3-7 cm) 1-2 cm of
triangulation noise alone reaches it, hence the noise-aware tolerance before filtering (`NOISE_SPREADS`) and
the small moves after it (`MAX_ADJUST_M`)."""

NOISE_SPREADS = 3.0
"""The rejection rule's tolerance on a bone is at least this many times its robust relative spread over the
capture (1.4826 x the median absolute deviation of its length / its median length; `noise_tolerance`). On the
README's balancing trial the heel and small-toe bones (6-7 cm) spread by 30 % (2 cm), so up to about 95 %
passes there; the nose 1.5-2 m off its eyes (3000-5000 %) is still rejected, and bones spreading by 10 % or
less keep `BONE_TOLERANCE`. 3 spreads keep 99.7 % of Gaussian noise."""

MAX_NOISE_TOLERANCE = 1.0
"""The noise-aware tolerance never exceeds this (a bone twice its median length breaks the body whatever its
noise)."""

MAX_ADJUST_M = 0.05
"""Largest move of a joint by `fit_bones`, metres: 2-3x the 1-2 cm noise of one triangulated joint. Bones of
the filtered output still off by more than `BONE_TOLERANCE` are off by that little on the balancing trial
(short bones whose detections drift for 10-20 frames: no filter removes that); a joint farther off is masked."""

MAX_BONE_LENGTH_M = 1.0
"""Longest bone of any body, metres: the longest bones of the joint sets (shoulder-hip, femur) stay under
0.7 m even for tall adults. Catches what the median misses when a capture is short or a joint is wrong in most
frames."""

MAX_TWO_VIEW_ERROR_PX = 20.0
"""Largest mean reprojection error of a two-view point, px: the default RANSAC inlier threshold
(`lift3d triangulate --threshold-px`, which the app passes instead)."""

SUSPECT_MAX_VIEWS = 2
"""Points triangulated from at most this many views get the reprojection and temporal checks: with three views
or more the robust triangulation already cross-checks them."""

TEMPORAL_MAX_DISTANCE_M = 0.5
"""Largest distance of a point from its track's median over the window, metres. A steady motion of any speed
stays on its median (per coordinate, a monotonic motion's median is the middle sample); turning within
+-0.125 s moves a joint less than 0.5 m unless it accelerates at about 30 g."""

TEMPORAL_WINDOW_S = 0.25
"""Window of the temporal median, seconds (15 frames at 60 fps): longer than the runs of wrong points seen
(5 frames), short enough that a moving joint stays near its median."""

_TEMPORAL_SAMPLES = 9  # the median is taken over at most this many frames of the window
_TEMPORAL_BLOCK = 8192  # frames at a time: the samples of one block are ~9x its points (40 MB: 25 joints, float64)
_TEMPORAL_MIN_SAMPLES = 3  # fewer valid samples in the window: no evidence either way, keep
_BONE_ITERATIONS = 3  # blame, take the blamed joints out, blame what is still broken
_FIT_PASSES = 3  # fit_bones: move, then move what the moves of joints with several bones broke again
_FIT_MARGIN = 0.01  # fit_bones moves a bone to 1 % inside the band: safe from the final check's rounding
_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation of Gaussian noise

KEPT, REPROJECTION, TEMPORAL, BONE_LENGTH = 0, 1, 2, 3
REASONS = ("two-view reprojection error", "jump away from its track", "bone length")
"""Human-readable name of each reason code, ``REASONS[code - 1]``."""


class Rejection(NamedTuple):
    """The result of `reject_outliers`.

    Attributes:
        points: The input with rejected points set to NaN, shape (t, ..., j, d).
        reason: Why each point was rejected, shape (t, ..., j), int8: `KEPT` (0), `REPROJECTION`, `TEMPORAL`
            or `BONE_LENGTH` (the first rule that rejected it, in that order).
    """

    points: Array | np.ndarray
    reason: Array | np.ndarray


class BoneFit(NamedTuple):
    """The result of `fit_bones`.

    Attributes:
        points: The input with joints moved back into their bones' band and the rest of what breaks a bone set
            to NaN, shape (t, ..., j, d).
        moved: (t, ..., j) bool, joints moved (and kept).
        masked: (t, ..., j) bool, joints set to NaN.
    """

    points: Array | np.ndarray
    moved: Array | np.ndarray
    masked: Array | np.ndarray


def _xp(*arrays):
    return jnp if any(is_jax_array(a) for a in arrays) else np


def _float_points(points: ArrayLike):
    """The points as a float array of their own kind (numpy or jax), checked to be (t, ..., j, d)."""
    xp = _xp(points)
    x = xp.asarray(points)
    if x.ndim < 3:
        raise ValueError(f"expected points of shape (t, ..., j, d) with time first, got shape {x.shape}")
    if not xp.issubdtype(x.dtype, xp.floating):
        x = x.astype(xp.result_type(float) if xp is jnp else np.float64)
    return xp, x


def _missing(x):
    return np.isnan(x).any(-1) if isinstance(x, np.ndarray) else jnp.isnan(x).any(-1)


def temporal_window(fps: float | None) -> int:
    """Frames in the temporal window (`TEMPORAL_WINDOW_S`) at a frame rate: odd, at least 3.

    Args:
        fps: Frames per second; None: 60 (the window is then 15 frames).

    Returns:
        The window length in frames.
    """
    frames = max(3, round(TEMPORAL_WINDOW_S * (fps or 60.0)))
    return frames + 1 - frames % 2


def _incidence(pairs: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    """(e, j) one-hot of each bone's first and second joint."""
    first, second = np.zeros((len(pairs), j)), np.zeros((len(pairs), j))
    first[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    second[np.arange(len(pairs)), pairs[:, 1]] = 1.0
    return first, second


def _per_joint(a, m):
    """(..., e) @ (e, j) as one 2-D product (numpy runs a stacked matmul as one tiny product per row)."""
    return (a.reshape(-1, a.shape[-1]) @ m).reshape(*a.shape[:-1], m.shape[-1])


def _median_length(xp, length):
    """NaN-aware median over time (axis 0) of (t, ..., e) bone lengths."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bones
        return xp.nanmedian(length, axis=0)


def noise_tolerance(
    points: ArrayLike,
    skeleton: Skeleton | Sequence[tuple[int, int]],
    *,
    tolerance: float = BONE_TOLERANCE,
    spreads: float = NOISE_SPREADS,
    cap: float = MAX_NOISE_TOLERANCE,
) -> Array | np.ndarray:
    """Per bone and person, a relative tolerance that the bone's own noise does not reach.

    ``clip(spreads * spread, tolerance, max(tolerance, cap))`` where ``spread`` is the bone's robust relative
    spread over the capture: 1.4826 x the median absolute deviation of its length over time, over its median
    length (NaN-aware, per person). Short bones carry the absolute noise of both their ends: a 1-2 cm jitter
    is 30 % of a 6 cm heel bone, so a fixed 30 % would reject good frames of them.

    Args:
        points: Joints over time, shape (t, ..., j, d), world units; NaN = missing. numpy or jax.
        skeleton: A `Skeleton` (its `edges`) or (joint, joint) pairs.
        tolerance: The smallest tolerance returned (the relative bound of quiet bones).
        spreads: How many spreads a bone may deviate by.
        cap: The largest tolerance returned (never below `tolerance`).

    Returns:
        (..., e) relative tolerances (no time axis), for `bone_outliers`; `tolerance` for bones never measured.
    """
    xp, x = _float_points(points)
    pairs = bone_pairs(skeleton)
    if pairs.size and ((pairs < 0) | (pairs >= x.shape[-2])).any():
        raise ValueError(f"noise_tolerance: bones {pairs.tolist()} do not fit points of shape {x.shape}")
    length = xp.linalg.norm(x[..., pairs[:, 1], :] - x[..., pairs[:, 0], :], axis=-1)  # (t, ..., e)
    median = _median_length(xp, length)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = _MAD_TO_SIGMA * _median_length(xp, xp.abs(length - median)) / median
    noisy = xp.where(xp.isfinite(spread), spreads * spread, 0.0)
    return xp.clip(noisy, tolerance, max(tolerance, cap)).astype(x.dtype)


def bone_outliers(
    points: ArrayLike,
    skeleton: Skeleton | Sequence[tuple[int, int]],
    *,
    tolerance: float | ArrayLike = BONE_TOLERANCE,
    max_length: float = MAX_BONE_LENGTH_M,
) -> Array | np.ndarray:
    """Joints that break a bone: its length off its median by more than `tolerance`, or over `max_length`.

    Each bone's median length is taken over all frames (NaN-aware, per person: over axis 0 only), so it is
    the subject's own and robust to wrong frames (up to half of them). A broken bone has one wrong end, or two;
    the joint blamed is the end with the larger share of its measured bones broken (a wrong nose breaks all
    three of its bones, each eye one of two; a wrong heel its only bone, the ankle one of three), then the end
    with more broken bones (a wrong elbow breaks both its bones, the wrist its only one), then the end with
    fewer bones in the skeleton (the detectors' least reliable points are the peripheral ones: eyes, ears,
    toes); both ends on a full tie. Blame is passed three times, each time without the joints already
    rejected and with the medians of the bones left (so that a bone broken by two wrong ends loses both, and
    the result holds against the medians of what is kept).

    Args:
        points: Joints over time, shape (t, ..., j, d), world units; NaN = missing. numpy or jax.
        skeleton: A `Skeleton` (its `edges`; cycles allowed) or (joint, joint) pairs.
        tolerance: Largest relative deviation from the median length (0.3: 70-130 %): one for all bones, or
            per bone and person, broadcastable to (..., e) (e.g. `noise_tolerance`).
        max_length: Longest plausible bone, world units (the default is metres: use 1000 for millimetres).

    Returns:
        (t, ..., j) bool, True at rejected joints (never at missing ones); numpy or jax like `points`.
    """
    xp, x = _float_points(points)
    pairs = bone_pairs(skeleton)
    if pairs.size and ((pairs < 0) | (pairs >= x.shape[-2])).any():
        raise ValueError(f"bone_outliers: bones {pairs.tolist()} do not fit points of shape {x.shape}")
    rejected = xp.zeros(x.shape[:-1], bool)
    if not pairs.size:
        return rejected
    first, second = (xp.asarray(m, x.dtype) for m in _incidence(pairs, x.shape[-2]))
    both = first + second
    peripheral = 1.0 / xp.maximum(both.sum(0), 1.0)  # (j,) 1 / bones of each joint
    length = xp.linalg.norm(x[..., pairs[:, 1], :] - x[..., pairs[:, 0], :], axis=-1)  # (t, ..., e)
    tolerance = xp.asarray(tolerance, x.dtype)
    for _ in range(_BONE_ITERATIONS):  # a fixed loop over passes: no data-dependent stop, so jit traces it
        measured = xp.isfinite(length) & ~(rejected[..., pairs[:, 0]] | rejected[..., pairs[:, 1]])
        median = _median_length(xp, xp.where(measured, length, xp.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            off = (xp.abs(length / median - 1.0) > tolerance) | (length > max_length)
        broken = measured & off
        n_broken = _per_joint(broken.astype(x.dtype), both)  # (t, ..., j)
        share = n_broken / xp.maximum(_per_joint(measured.astype(x.dtype), both), 1.0)
        # share first (distinct shares of <= 9 bones differ by > 0.01), then count (< 10), then 1 / bones
        score = share + 1e-3 * n_broken + 1e-4 * peripheral
        s1, s2 = score[..., pairs[:, 0]], score[..., pairs[:, 1]]
        blamed = (_per_joint((broken & (s1 >= s2)).astype(x.dtype), first)
                  + _per_joint((broken & (s2 >= s1)).astype(x.dtype), second))
        rejected = rejected | (blamed > 0)
    return rejected & ~_missing(x)


def _moves(xp, x, pairs, first, second, blamed, tolerance, max_length):
    """(t, ..., j, d) move of each joint blamed for a bone off its band: along the bone, to 1 % inside the band
    (an end shared out with the other end when both are blamed; a joint with several broken bones gets the
    mean of their moves)."""
    vec = x[..., pairs[:, 1], :] - x[..., pairs[:, 0], :]  # (t, ..., e, d)
    length = xp.linalg.norm(vec, axis=-1)
    median = _median_length(xp, length)
    inner = xp.maximum(tolerance - _FIT_MARGIN, 0.0)
    target = xp.minimum(xp.clip(length, (1.0 - inner) * median, (1.0 + inner) * median), max_length)
    with np.errstate(invalid="ignore", divide="ignore"):
        off = (xp.abs(length / median - 1.0) > tolerance) | (length > max_length)
        step = (target - length) / length  # stretch of the bone's vector
    b0, b1 = (blamed[..., pairs[:, k]].astype(x.dtype) for k in (0, 1))
    share = xp.maximum(b0 + b1, 1.0)
    ok = off & xp.isfinite(step) & (length > 0)
    step = xp.where(ok, step, 0.0)[..., None] * xp.where(xp.isnan(vec), 0.0, vec)  # (t, ..., e, d)
    w0, w1 = xp.where(ok, b0 / share, 0.0), xp.where(ok, b1 / share, 0.0)
    pull = xp.moveaxis(w1[..., None] * step, -1, -2)  # (t, ..., d, e)
    push = xp.moveaxis(w0[..., None] * step, -1, -2)
    move = xp.moveaxis(_per_joint(pull, second) - _per_joint(push, first), -1, -2)  # (t, ..., j, d)
    count = _per_joint((w0 > 0).astype(x.dtype), first) + _per_joint((w1 > 0).astype(x.dtype), second)  # (t, ..., j)
    return move / xp.maximum(count, 1.0)[..., None]


def fit_bones(
    points: ArrayLike,
    skeleton: Skeleton | Sequence[tuple[int, int]],
    *,
    tolerance: float | ArrayLike = BONE_TOLERANCE,
    max_move: float = MAX_ADJUST_M,
    max_length: float = MAX_BONE_LENGTH_M,
) -> BoneFit:
    """Bring every bone within `tolerance` of its median: small moves along the bones, masking the rest.

    For points already cleaned and filtered (what is written). In each of three passes the joints that
    `bone_outliers` blames are moved along each broken bone until it is 1 % inside the band (its other end
    stays; both ends share the move on a tie); a joint with several broken bones takes the mean of their
    moves. A joint moved farther than `max_move` in all is masked (NaN): it was not off by noise. Whatever
    then still breaks a bone (`bone_outliers` at `tolerance`) is masked too, so the result holds every bone
    within `tolerance` of the medians of what is kept. Moving a joint onto the band does not move a bone's
    median (values beyond the band are moved to its edge, on their own side), so the band is the one the
    final check sees.

    Args:
        points: Joints over time, shape (t, ..., j, d), world units; NaN = missing. numpy or jax.
        skeleton: A `Skeleton` (its `edges`) or (joint, joint) pairs.
        tolerance: Largest relative deviation from the median length, as in `bone_outliers`.
        max_move: Largest move of a joint, world units (the default is metres); 0: mask, never move.
        max_length: Longest plausible bone, world units.

    Returns:
        A `BoneFit`: the points (float, the input's kind), the joints moved and the joints masked.
    """
    xp, x = _float_points(points)
    pairs = bone_pairs(skeleton)
    if not pairs.size:
        none = xp.zeros(x.shape[:-1], bool)
        return BoneFit(points=x, moved=none, masked=none)
    first, second = (xp.asarray(m, x.dtype) for m in _incidence(pairs, x.shape[-2]))
    tol = xp.asarray(tolerance, x.dtype)
    out = x
    for _ in range(_FIT_PASSES):  # fixed passes: jittable
        blamed = bone_outliers(out, pairs, tolerance=tol, max_length=max_length)
        out = out + _moves(xp, out, pairs, first, second, blamed, tol, max_length)
    distance = xp.linalg.norm(xp.where(xp.isnan(x), 0.0, out - x), axis=-1)  # (t, ..., j)
    far = distance > max_move
    out = xp.where(far[..., None], xp.nan, out)
    masked = far | bone_outliers(out, pairs, tolerance=tol, max_length=max_length)
    present = ~_missing(x)
    return BoneFit(
        points=xp.where(masked[..., None], xp.nan, out),
        moved=(distance > 0) & ~masked & present,
        masked=masked & present,
    )


def _nanmedian_samples(xp, samples):
    """Median over axis 1 of (t, k, ...) ignoring NaN (a sort, NaN last, then the middle valid samples)."""
    ordered = xp.sort(samples, axis=1)
    n = (~xp.isnan(samples)).sum(axis=1, keepdims=True)
    lo = xp.take_along_axis(ordered, xp.maximum((n - 1) // 2, 0), axis=1)  # n = 0: NaN, as all samples are
    hi = xp.take_along_axis(ordered, xp.minimum(n // 2, samples.shape[1] - 1), axis=1)
    return (0.5 * (lo + hi))[:, 0], n[:, 0]


def temporal_outliers(
    points: ArrayLike, *, window: int = 15, max_distance: float = TEMPORAL_MAX_DISTANCE_M
) -> Array | np.ndarray:
    """Points farther than `max_distance` from the median of their own track around them in time.

    The median is per coordinate over up to 9 frames spread evenly over the `window` frames centred on each
    point (the point included; frames beyond the ends left out), so runs of wrong points shorter than about
    half the window do not move it; a steady motion of any speed stays on it. Points with fewer than 3 valid
    frames in their window are kept (no evidence either way). Frames are taken in blocks of 8192 (a loop over
    blocks, not frames), so the memory beyond the result is about 9x one block of `points`.

    Args:
        points: Trajectories, shape (t, ..., d), world units; NaN = missing. numpy or jax.
        window: Frames of the window (e.g. `temporal_window(fps)`), >= 3.
        max_distance: Largest distance from the median, world units (the default is metres).

    Returns:
        (t, ...) bool, True at rejected points (never at missing ones); numpy or jax like `points`.
    """
    if window < 3:
        raise ValueError(f"temporal_outliers: window must be at least 3 frames, got {window}")
    xp = _xp(points)
    x = xp.asarray(points)
    if x.ndim < 2:
        raise ValueError(f"temporal_outliers: expected shape (t, ..., d), got {x.shape}")
    half, t = window // 2, x.shape[0]
    offsets = np.unique(np.round(np.linspace(-half, half, min(window, _TEMPORAL_SAMPLES))).astype(int))
    parts = []
    for start in range(0, t, _TEMPORAL_BLOCK):  # blocks of frames bound the memory (the samples are ~9x)
        frames = np.arange(start, min(start + _TEMPORAL_BLOCK, t))[:, None] + offsets  # (b, k)
        inside = ((frames >= 0) & (frames < t)).reshape(frames.shape + (1,) * (x.ndim - 1))
        samples = xp.where(inside, x[np.clip(frames, 0, t - 1)], xp.nan)  # (b, k, ..., d)
        median, count = _nanmedian_samples(xp, samples)
        far = xp.linalg.norm(x[start : start + _TEMPORAL_BLOCK] - median, axis=-1) > max_distance  # NaN: False
        parts.append(far & (count[..., 0] >= _TEMPORAL_MIN_SAMPLES))
    return xp.concatenate(parts) if parts else xp.zeros(x.shape[:-1], bool)


def reject_outliers(
    points: ArrayLike,
    skeleton: Skeleton | Sequence[tuple[int, int]] | None,
    *,
    error_px: ArrayLike | None = None,
    num_views: ArrayLike | None = None,
    max_error_px: float = MAX_TWO_VIEW_ERROR_PX,
    window: int = 15,
    max_distance: float = TEMPORAL_MAX_DISTANCE_M,
    tolerance: float = BONE_TOLERANCE,
    spreads: float = NOISE_SPREADS,
    max_length: float = MAX_BONE_LENGTH_M,
) -> Rejection:
    """Mask the points that break the body (NaN), saying why: the three rules of this module, in order.

    1. Two-view points (``num_views <= 2``) whose ``error_px > max_error_px``.
    2. Two-view points far from their track's temporal median (`temporal_outliers`, on what rule 1 kept).
    3. Joints that break a bone (`bone_outliers`, on what rules 1 and 2 kept), each bone with its
       `noise_tolerance` (`tolerance`, or `spreads` times its own spread where it is noisier).

    Rules 1 and 2 need `num_views` (and rule 1 `error_px`); without them only the bone rule runs. Rejected
    points become NaN so that gap filling can fill them from good neighbours; filter after filling, then bring
    the output to `tolerance` exactly with `fit_bones`.

    Args:
        points: Joints over time, shape (t, ..., j, d), world units; NaN = missing. numpy or jax.
        skeleton: A `Skeleton` or (joint, joint) pairs for the bone rule; None: no bone rule.
        error_px: (t, ..., j) mean reprojection error of each point, px (NaN where not triangulated).
        num_views: (t, ..., j) views each point was triangulated from.
        max_error_px: Rule 1's threshold, px.
        window: Rule 2's window in frames (`temporal_window(fps)`).
        max_distance: Rule 2's distance, world units (default metres).
        tolerance: Rule 3's smallest relative tolerance.
        spreads: Rule 3's tolerance in spreads of each bone (`noise_tolerance`); 0: `tolerance` for all.
        max_length: Rule 3's longest bone, world units (default metres).

    Returns:
        A `Rejection`: the masked points (float, the input's kind) and the (t, ..., j) int8 reason codes.
    """
    xp, x = _float_points(points)
    reason = xp.zeros(x.shape[:-1], xp.int8)
    present = ~_missing(x)
    if num_views is not None:
        suspect = present & (xp.asarray(num_views) <= SUSPECT_MAX_VIEWS)
        if error_px is not None:
            reason = xp.where(suspect & (xp.asarray(error_px) > max_error_px), REPROJECTION, reason)
        x = xp.where(reason[..., None] > 0, xp.nan, x)
        far = temporal_outliers(x, window=window, max_distance=max_distance) & suspect & (reason == KEPT)
        reason = xp.where(far, TEMPORAL, reason).astype(xp.int8)
        x = xp.where(reason[..., None] > 0, xp.nan, x)
    if skeleton is not None:
        tol = noise_tolerance(x, skeleton, tolerance=tolerance, spreads=spreads) if spreads > 0 else tolerance
        broken = bone_outliers(x, skeleton, tolerance=tol, max_length=max_length)
        reason = xp.where(broken, BONE_LENGTH, reason).astype(xp.int8)
        x = xp.where(broken[..., None], xp.nan, x)
    return Rejection(points=x, reason=reason)

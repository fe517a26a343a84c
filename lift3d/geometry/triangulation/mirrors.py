"""Views where the detector mirrored a person: each view's detection compared with a 3D pose, as is and mirrored.

A detector that confuses left and right in one view (BlazePose does, on a third of the frames of the Pose2Sim
sample's cam02) puts that view's lateral joints on the other side of the body. Given the person's 3D pose from
the views that agree (robust triangulation keeps them joint by joint), each view is scored twice: its detection
as is and with its joints exchanged through the skeleton's left/right permutation. One rule, used by the
association (`association.add_mirrored_views`: a view left out because it was mirrored is given back) and by
the fixed-rig kernels' swap repair (`mirrored_views`: O(v) tests, where `robust.repair_left_right_swaps`
triangulates every set of up to (v - 1) // 2 swapped views, sum_k C(v, k) hypotheses: 93 at 8 views, 39,000 at
16).

The robust per-view error is the association's: the mean over the joints whose error is at most the plain mean
(one trimming step, keeping at least half of the joints: a few misdetected joints raise the plain mean and are
then left out, a mirrored view stays far off). Float32 numpy, nothing to compile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera

if TYPE_CHECKING:
    from jax.typing import ArrayLike

__all__ = ["MirrorErrors", "trimmed_mean", "mirror_errors", "mirrored_views"]


class MirrorErrors(NamedTuple):
    """Result of `mirror_errors`: per view, shapes (..., v).

    Attributes:
        plain: Robust mean reprojection error of the detection as is, px (inf where no joint is compared).
        mirrored: The same with the joints exchanged left for right, px.
        num_plain: Joints compared as is.
        num_mirrored: Joints compared mirrored.
    """

    plain: np.ndarray
    mirrored: np.ndarray
    num_plain: np.ndarray
    num_mirrored: np.ndarray


def trimmed_mean(err: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the errors at most their plain mean (one trimming step), inf where none.

    The step may drop at most half of the errors; where it would drop more (a view far off everywhere but at
    one joint that lands on the pose by chance: someone else standing in line with the subject) the plain mean
    is returned.

    Args:
        err: Errors, shape (..., j), px (any value where not `used`).
        used: Which errors count, shape (..., j), bool.

    Returns:
        (...,) the trimmed mean, px.
    """
    n = used.sum(-1)
    plain = np.where(n > 0, np.where(used, err, 0.0).sum(-1) / np.maximum(n, 1), np.inf)
    kept = used & (err <= plain[..., None])
    k = kept.sum(-1)
    trimmed = np.where(k > 0, np.where(kept, err, 0.0).sum(-1) / np.maximum(k, 1), np.inf)
    return np.where(2 * k >= n, trimmed, plain)


def mirror_errors(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, points_3d: ArrayLike, flip_perm: ArrayLike, *,
    min_confidence: float = 0.0, joints: ArrayLike | None = None,
) -> MirrorErrors:
    """Each view's robust reprojection error against a 3D pose, for its detection as is and mirrored.

    Args:
        cameras: The rig, batch shape (v,).
        points_2d: (..., v, j, 2) detections, distorted px, NaN where missing.
        confidence: (..., v, j) confidences, 0 where missing.
        points_3d: (..., j, 3) the pose, world units, NaN where unknown (those joints are not compared).
        flip_perm: (j,) the skeleton's left/right permutation (`Skeleton.flip_permutation()`).
        min_confidence: Observations below this confidence are not compared.
        joints: (j,) bool, the joints compared (e.g. the lateral ones); default all.

    Returns:
        `MirrorErrors` of shape (..., v).
    """
    uv, conf = np.asarray(points_2d), np.asarray(confidence)
    flip = np.asarray(flip_perm, int)
    sel = np.arange(uv.shape[-2]) if joints is None else np.flatnonzero(np.asarray(joints, bool))
    X = np.asarray(points_3d, np.float32)[..., sel, :]  # float32: errors are compared with px thresholds
    params = {k: a.astype(np.float32) for k, a in numpy_camera.camera_params(cameras).items()}
    with np.errstate(divide="ignore", invalid="ignore"):  # the pose projected once, compared both ways
        proj = numpy_camera.project(params, X[..., None, :, :], cameras.model == "fisheye")[0]
    pu, pv = proj[..., 0], proj[..., 1]
    err = np.hypot(pu - uv[..., sel, 0], pv - uv[..., sel, 1])
    err_f = np.hypot(pu - uv[..., flip[sel], 0], pv - uv[..., flip[sel], 1])
    c, c_f = conf[..., sel], conf[..., flip[sel]]
    used = (c >= min_confidence) & (c > 0) & np.isfinite(err)
    used_f = (c_f >= min_confidence) & (c_f > 0) & np.isfinite(err_f)
    return MirrorErrors(trimmed_mean(err, used), trimmed_mean(err_f, used_f), used.sum(-1), used_f.sum(-1))


def mirrored_views(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike, points_3d: ArrayLike, flip_perm: ArrayLike, *,
    min_gain_px: float = 1.0, min_relative_gain: float = 0.3, min_joints: int = 3,
) -> np.ndarray:
    """The views whose lateral joints fit the pose far better mirrored: the swap repair of the fixed-rig path.

    Only the lateral joints (those `flip_perm` moves) are compared. A view is mirrored where at least
    `min_joints` of them are compared both ways and the mirrored error is lower than the plain one by more than
    `min_gain_px` and by the fraction `min_relative_gain`. The pose should come from robust triangulation
    (joint by joint from the views that agree), so that one mirrored view among three or more does not drag it.
    Against such a pose the mirrored view's gain is smaller than in `repair_left_right_swaps`' scores (there,
    the unrepaired view also drags the plain DLT), hence a relative gain of 0.3, not 0.5: on the real balancing
    trial with one camera mirrored in 30 % of the frames this rule leaves the 3D 0.4-3.2 mm from the clean
    result (0.5: 0.5-4.1 mm), and swaps nothing on the clean data (`tests/geometry/test_triangulate_real.py`).

    Args:
        cameras: The rig, batch shape (v,).
        points_2d: (..., v, j, 2) detections, distorted px, NaN where missing.
        confidence: (..., v, j) confidences, 0 where missing.
        points_3d: (..., j, 3) the pose, world units.
        flip_perm: (j,) the left/right permutation.
        min_gain_px: Smallest drop of the error that justifies a swap, px.
        min_relative_gain: Smallest relative drop (0.5: the mirrored error at most half the plain one).
        min_joints: Fewest lateral joints compared each way.

    Returns:
        (..., v) bool, the mirrored views.
    """
    flip = np.asarray(flip_perm, int)
    lateral = flip != np.arange(flip.size)
    e = mirror_errors(cameras, points_2d, confidence, points_3d, flip, joints=lateral)
    enough = (e.num_plain >= min_joints) & (e.num_mirrored >= min_joints)
    with np.errstate(invalid="ignore"):  # inf - inf where nothing is compared (not `enough`)
        gain = e.plain - e.mirrored
    return enough & (gain > min_gain_px) & (e.mirrored < (1 - min_relative_gain) * e.plain)

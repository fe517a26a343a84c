"""A trained algebraic model (learnable triangulation) on a rig's videos: crops -> heatmaps -> soft-argmax ->
learned-confidence DLT, end to end.

Per frame and view, a square crop around the person (`lift3d.datasets.video_frames.person_box` of a detector's 2D
joints, or of any 2D points that place the person) is resampled from the distorted frame into a pinhole crop
(`undistorted_crop`); the model sees the four crops and the crops' projection matrices ``K' [R | t]`` (world mm)
and returns the 3D joints, each view's 2D joints and their learned DLT weights. The 2D joints are also given back
in the full frame (through the lens distortion), so they can be written as keypoints.

Load the model with `lift3d.train.lt_eval.load_model` (its ``WORKDIR/model`` folder).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lift3d.datasets.video_frames import IMAGENET_MEAN, IMAGENET_STD, crop_videos, person_box
from lift3d.errors import LiftInputError
from lift3d.geometry.camera import project_points

__all__ = ["LTVideoResult", "triangulate_videos"]


@dataclasses.dataclass(frozen=True)
class LTVideoResult:
    """What the model says about some frames of a capture.

    Attributes:
        points_3d: (t, 17, 3) H36M-17 world joints in the rig's units; NaN where fewer than 2 views were used.
        keypoints_2d: (t, v, 17, 2) each view's soft-argmax joints, full-frame px (through the lens distortion);
            NaN in views without a crop.
        weights: (t, v, 17) the normalised learned confidences the DLT used (0: view not used).
        frames: (t,) frame numbers.
        views: v camera names.
        boxes: (t, v, 4) the crops (ltrb full-frame px; NaN: no crop).
    """

    points_3d: np.ndarray
    keypoints_2d: np.ndarray
    weights: np.ndarray
    frames: np.ndarray
    views: tuple[str, ...]
    boxes: np.ndarray


@functools.partial(jax.jit, static_argnums=(0,))
def _forward(graphdef, state, images, proj, mask):
    model = nnx.merge(graphdef, state)
    X, aux = model(images, proj, mask, train=False)
    return X, aux["keypoints_2d"], aux["weights"]


def triangulate_videos(model, rig, videos: Sequence[str | os.PathLike], frames: Sequence[int], points_2d: np.ndarray,
                       *, views: Sequence[str] | None = None, image_size: int | None = None, box_scale: float = 1.25,
                       batch_size: int = 8) -> LTVideoResult:  # fmt: skip
    """Run an algebraic model over frames of a capture's videos.

    Args:
        model: An `lift3d.models.algebraic.AlgebraicTriangulation` (e.g. ``load_model(WORKDIR / "model")[0]``).
        rig: A `lift3d.core.rig.Rig` (any units) holding the views by name.
        videos: One video (or image folder) per view, in `views` order.
        frames: (t,) frame numbers (0-based) to run on.
        points_2d: (t, v, j, 2) full-frame px that place the person in each view (e.g. a detector's joints;
            NaN where missing): the crops are `person_box` of them (a view with < 2 finite points is not used).
        views: v camera names of the videos (default the rig's order).
        image_size: Crop side S (default 64, the CPU configs' training size).
        box_scale: Crop side / the points' extent (as in training).
        batch_size: Frames per forward pass.

    Returns:
        `LTVideoResult`.

    Raises:
        LiftInputError: Views the rig lacks, a wrong number of videos, or points of another shape.
    """
    views = tuple(rig.names if views is None else views)
    lacking = [v for v in views if v not in rig.names]
    if lacking:
        raise LiftInputError(f"views {lacking} are not cameras of the rig ({list(rig.names)})")
    if len(videos) != len(views):
        raise LiftInputError(f"{len(videos)} videos for {len(views)} views {list(views)}: give one per view")
    frames = np.asarray(frames, np.int64)
    pts = np.asarray(points_2d, np.float64)
    if pts.ndim != 4 or pts.shape[:2] != (len(frames), len(views)) or pts.shape[-1] != 2:
        raise LiftInputError(f"points_2d must have shape ({len(frames)}, {len(views)}, j, 2), got {pts.shape}")
    size = int(image_size or 64)
    scale = 1000.0 if rig.units == "m" else 1.0
    cams = [rig.to_units("mm").cameras[rig.names.index(v)] for v in views]
    Rt = np.stack([np.concatenate([np.asarray(c.R), np.asarray(c.t)[:, None]], -1) for c in cams])
    boxes = person_box(pts, box_scale)  # (t, v, 4)
    images, K, mask = crop_videos(cams, videos, frames, boxes[:, None], size)
    images, K, mask = images[:, 0], K[:, 0], mask[:, 0]
    graphdef, state = nnx.split(model)
    t, v = len(frames), len(views)
    X, kp, w = np.full((t, 17, 3), np.nan), np.full((t, v, 17, 2), np.nan), np.zeros((t, v, 17))
    for s in range(0, t, batch_size):
        sl = slice(s, min(s + batch_size, t))
        n = sl.stop - sl.start
        img = ((images[sl].astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD) * mask[sl][..., None, None,
                                                                                                  None]  # fmt: skip
        proj = np.where(mask[sl][..., None, None], K[sl] @ Rt, 0.0).astype(np.float32)
        out = _forward(graphdef, state, *(jnp.asarray(_pad(a, batch_size)) for a in (img, proj, mask[sl])))
        X[sl], kp[sl], w[sl] = (np.asarray(o, np.float64)[:n] for o in out)
    full = _to_full_frame(cams, K, kp)
    full[~mask] = np.nan
    w[~mask] = 0.0
    return LTVideoResult(points_3d=X / scale, keypoints_2d=full, weights=w, frames=frames, views=views, boxes=boxes)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """`a` with its last row repeated up to `size` rows (one compiled shape)."""
    return np.concatenate([a, np.repeat(a[-1:], size - len(a), 0)]) if len(a) < size else a


def _to_full_frame(cams, K: np.ndarray, kp: np.ndarray) -> np.ndarray:
    """Crop px (pinhole, intrinsics K (t, v, 3, 3)) -> full-frame px through each camera's lens model."""
    h = np.concatenate([kp, np.ones((*kp.shape[:-1], 1))], -1)  # (t, v, j, 3)
    safe = np.where(np.isfinite(K).all((-2, -1), keepdims=True), K, np.eye(3))
    rays = np.einsum("tvik,tvjk->tvji", np.linalg.inv(safe), np.nan_to_num(h))  # camera-frame directions, z = 1
    out = np.empty_like(kp)
    for k, cam in enumerate(cams):
        local = cam.replace(R=np.eye(3), t=np.zeros(3))
        out[:, k] = np.asarray(project_points(local, rays[:, k].reshape(-1, 3))).reshape(kp.shape[0], -1, 2)
    return np.where(np.isfinite(kp), out, np.nan)

"""Algebraic learnable triangulation (Iskakov et al. 2019): heatmaps -> soft-argmax -> weighted DLT.

Per view, a `PoseResNet` gives one heatmap per joint and (optionally) one confidence per joint; the 2D
soft-argmax gives sub-pixel joints; `triangulate_proj` solves the confidence-weighted DLT with the
cameras' projection matrices. The whole chain is differentiable, so a 3D loss trains the backbone and
the confidences end to end (the confidences learn to down-weight views where a joint is occluded).

Cameras are 3x4 projection matrices into the pixels of the *network input* (the crop, resized): the
crop / resize adjustment happens outside the model (`lift3d.geometry.camera.crop_camera`,
`resize_camera`, `projection_matrix`), and the model maps its heatmap coordinates to input pixels itself.

DLT, batched (no Python loops): each valid view adds the rows ``w (x p3 - p1)`` and ``w (y p3 - p2)``
(``p_k`` the rows of P). For float32 accuracy the problem is normalised first (Hartley): every matrix is
scaled so that its depth row ``p3[:3]`` has unit norm (rows then weigh as depth x pixel error), and world
points are written ``X = c + s X'`` with ``c`` the mean and ``s`` the RMS spread of the centres of the
cameras that see the joint. The null vector of ``A`` comes from `jnp.linalg.svd` of ``A`` (``"svd"``, the
paper's choice) or `jnp.linalg.eigh` of ``A^T A`` (``"eigh"``); both are differentiable (their gradients
need the smallest singular value / eigenvalue to be simple, true for any non-degenerate geometry).
Weights of missing views are 0, which removes their rows exactly (the result equals that without them).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array
from jax.typing import ArrayLike

from lift3d.geometry.triangulation.linear import dlt_rows
from lift3d.models.backbone import PoseResNet
from lift3d.models.heatmaps import heatmap_to_image, soft_argmax_2d

__all__ = ["AlgebraicTriangulation", "triangulate_proj", "normalize_confidences", "camera_centers_proj"]
__all__ += ["mse_smooth_loss", "sanitize_images"]

DLTSolver = Literal["svd", "eigh"]


def camera_centers_proj(proj: ArrayLike) -> Array:
    """Camera centres ``C = -M^-1 p4`` of projection matrices ``P = [M | p4]``.

    Args:
        proj: Shape (..., 3, 4).

    Returns:
        Shape (..., 3), world units.
    """
    proj = jnp.asarray(proj)
    return -jnp.linalg.solve(proj[..., :3], proj[..., 3:])[..., 0]


@functools.partial(jax.jit, static_argnames=("solver",))
def triangulate_proj(proj: ArrayLike, points_2d: ArrayLike, weights: ArrayLike | None = None, *,
                     solver: DLTSolver = "svd") -> tuple[Array, Array]:  # fmt: skip
    """Weighted DLT of every joint from projection matrices (differentiable in points and weights).

    Args:
        proj: Shape (..., v, 3, 4), world -> pixels of each view; v >= 2. Views that no joint uses may
            hold NaN.
        points_2d: Shape (..., v, j, 2) px; NaN marks a missing observation.
        weights: Shape (..., v, j) >= 0; 0 (or NaN) marks a missing observation. None: all 1.
        solver: "svd" or "eigh" (see the module doc).

    Returns:
        ``(points_3d (..., j, 3) world units, num_views (..., j) int32)``; points NaN where fewer than
        two views have a positive weight.
    """
    proj, uv = jnp.asarray(proj), jnp.asarray(points_2d)
    v = proj.shape[-3]
    if v < 2:
        raise ValueError(f"triangulation needs at least 2 views, got {v}")
    w = jnp.ones(uv.shape[:-1], uv.dtype) if weights is None else jnp.asarray(weights, uv.dtype)
    ok_obs = jnp.all(jnp.isfinite(uv), -1) & jnp.isfinite(w) & (w > 0)
    ok_obs &= jnp.all(jnp.isfinite(proj), (-2, -1))[..., None]
    w = jnp.where(ok_obs, w, 0.0)
    uv = jnp.where(ok_obs[..., None], uv, 0.0)
    view_used = jnp.any(ok_obs, -1)  # (..., v)
    safe = jnp.eye(3, 4, dtype=proj.dtype).at[2, 3].set(1.0)
    P = jnp.where(view_used[..., None, None], proj, safe)
    P = P / jnp.linalg.norm(P[..., 2:3, :3], axis=-1, keepdims=True)  # unit depth row
    C = camera_centers_proj(P)  # (..., v, 3)
    wv = ok_obs.astype(P.dtype)  # (..., v, j)
    n = jnp.sum(wv, -2)  # (..., j)
    ok = n >= 2
    safe_n = jnp.maximum(n, 1.0)
    c = jnp.einsum("...vj,...vk->...jk", wv, C) / safe_n[..., None]  # (..., j, 3)
    spread = jnp.einsum("...vj,...vj->...j", wv, jnp.sum((C[..., :, None, :] - c[..., None, :, :]) ** 2, -1))
    s = jnp.sqrt(jnp.maximum(spread / safe_n, 1e-12))  # (..., j)
    # P X = P (c + s X') = [s M | M c + p4] [X'; 1]; divided by s (a per-row scale: the null space stays)
    M, p4 = P[..., None, :, :3], P[..., None, :, 3]  # (..., v, 1, 3, 3), (..., v, 1, 3)
    cj = c[..., None, :, :]  # (..., 1, j, 3)
    t = (jnp.einsum("...ik,...k->...i", M, cj) + p4) / s[..., None, :, None]  # (..., v, j, 3)
    w2 = jnp.broadcast_to(w[..., None], (*w.shape, 2))  # the same weight on both rows of a view
    rows = dlt_rows(uv, w2, M, t, jnp)  # (..., v, j, 2, 4): w (x p3 - p1), w (y p3 - p2)
    A = jnp.moveaxis(rows, -4, -3).reshape(*rows.shape[:-4], rows.shape[-3], 2 * v, 4)  # (..., j, 2v, 4)
    safe_A = jnp.zeros((2 * v, 4), A.dtype).at[0, 0].set(1.0).at[1, 1].set(1.0).at[2, 2].set(1.0)
    A = jnp.where(ok[..., None, None], A, safe_A)  # null vector (0, 0, 0, 1): finite gradients
    if solver == "svd":
        h = jnp.linalg.svd(A, full_matrices=False)[2][..., -1, :]
    elif solver == "eigh":
        h = jnp.linalg.eigh(jnp.einsum("...ri,...rk->...ik", A, A))[1][..., :, 0]
    else:
        raise ValueError(f"solver must be 'svd' or 'eigh', got {solver!r}")
    X = c + s[..., None] * h[..., :3] / h[..., 3:]
    return jnp.where(ok[..., None], X, jnp.nan), jnp.where(ok, n, 0).astype(jnp.int32)


def normalize_confidences(confidences: ArrayLike, valid: ArrayLike, *, eps: float = 1e-5) -> Array:
    """The paper's confidence normalisation: divide by the sum over (valid) views, add `eps`.

    Args:
        confidences: Shape (..., v, j) > 0.
        valid: Shape (..., v, j) bool; invalid entries get weight 0 and no share of the sum.
        eps: Added to valid weights (numerical stability, 1e-5 in the paper).

    Returns:
        Shape (..., v, j).
    """
    valid = jnp.asarray(valid, bool)
    conf = jnp.where(valid, jnp.asarray(confidences), 0.0)
    conf = conf / jnp.maximum(jnp.sum(conf, -2, keepdims=True), 1e-12)
    return jnp.where(valid, conf + eps, 0.0)


def mse_smooth_loss(pred: Array, target: Array, valid: Array, *, threshold: float = 400.0) -> Array:
    """The paper's ``MSESmoothLoss``: squared error per coordinate, ``e^0.1 t^0.9`` above `threshold`.

    Args:
        pred, target: Shape (..., j, 3), mm.
        valid: Shape (..., j) bool; invalid joints (and non-finite predictions) do not count.
        threshold: mm^2 (400 in the paper).

    Returns:
        Scalar: the mean over valid coordinates.
    """
    ok = valid & jnp.all(jnp.isfinite(pred), -1) & jnp.all(jnp.isfinite(target), -1)
    diff = jnp.where(ok[..., None], pred - target, 0.0)
    e = diff**2
    e = jnp.where(e > threshold, jnp.maximum(e, 1e-12) ** 0.1 * threshold**0.9, e)
    return jnp.sum(e) / jnp.maximum(3.0 * jnp.sum(ok), 1.0)


def sanitize_images(images: Array, view_mask: Array) -> Array:
    """Zero the pixels of missing views and non-finite pixels (NaN must not reach the weights' gradients)."""
    keep = jnp.asarray(view_mask, bool)[..., None, None, None] & jnp.isfinite(images)
    return jnp.where(keep, images, 0.0)


class AlgebraicTriangulation(nnx.Module):
    """Multi-view images -> 3D joints through heatmaps, soft-argmax and a confidence-weighted DLT.

    Args:
        num_joints: j.
        backbone: `PoseResNet` keyword arguments (depth, width, num_stages, deconv_channels, num_deconv,
            confidence_width, bn_momentum); the confidence head is added when `use_confidences`.
        use_confidences: Learn a confidence per view and joint (True) or weigh all valid views 1.
        heatmap_multiplier: Soft-argmax sharpness (100).
        solver: DLT solver, "svd" or "eigh".
        rngs: Initialisation keys.
    """

    def __init__(self, *, num_joints: int = 17, backbone: Mapping | None = None, use_confidences: bool = True,
                 heatmap_multiplier: float = 100.0, solver: DLTSolver = "svd", rngs: nnx.Rngs):  # fmt: skip
        bb = dict(backbone or {})
        if use_confidences:
            bb["confidence_outputs"] = num_joints
        self.backbone = PoseResNet(num_joints=num_joints, **bb, rngs=rngs)
        self.num_joints, self.use_confidences = num_joints, use_confidences
        self.heatmap_multiplier, self.solver = heatmap_multiplier, solver

    def __call__(self, images: Array, proj: Array, view_mask: Array | None = None, center: Array | None = None,
                 *, train: bool = False, key: Array | None = None) -> tuple[Array, dict[str, Array]]:  # fmt: skip
        """Triangulate a batch of multi-view samples.

        Args:
            images: (b, v, H, W, 3) normalised images.
            proj: (b, v, 3, 4) projection matrices into the images' pixels (mm world).
            view_mask: Optional (b, v) bool; False marks a missing view (its image and matrix are ignored).
            center: Unused (the volumetric model's cuboid centre; same signature for both models).
            train: Batch statistics over the valid views (True) or running averages (False).
            key: Unused (no randomness).

        Returns:
            ``(joints_3d (b, j, 3) mm, aux)``: ``keypoints_2d`` (b, v, j, 2) image px, ``weights``
            (b, v, j) the DLT weights (0 = unused), ``heatmaps`` (b, v, h, w, j), ``num_views`` (b, j).
        """
        del center, key
        b, v, H, W, _ = images.shape
        mask = jnp.ones((b, v), bool) if view_mask is None else jnp.asarray(view_mask, bool)
        x = sanitize_images(images, mask).reshape(b * v, H, W, 3)
        heatmaps, aux = self.backbone(x, train=train, mask=mask.reshape(-1))
        heatmaps = heatmaps.reshape(b, v, *heatmaps.shape[1:])
        hm_xy, ok = soft_argmax_2d(heatmaps, self.heatmap_multiplier)
        kp = heatmap_to_image(hm_xy, heatmaps.shape[2:4], (H, W))
        ok = ok & mask[..., None]
        if self.use_confidences:
            w = normalize_confidences(aux["confidences"].reshape(b, v, -1), ok)
        else:
            w = ok.astype(kp.dtype)
        X, n = triangulate_proj(proj, kp, w, solver=self.solver)
        return X, {"keypoints_2d": kp, "weights": w, "heatmaps": heatmaps, "num_views": n}

"""Similarity and rigid transforms of point sets and rigs, written once over an array module.

`align_similarity` is the one least-squares similarity fit (Umeyama 1991, in the centred-and-normalised form
of VideoPose3D's ``p_mpjpe``, which stays well conditioned in float32): `dst ~ s R src + t` with a proper
rotation (no reflection), optionally weighted, batched over leading axes. It runs on jax.numpy (jit, P-MPJPE in
`lift3d.eval.metrics`) and on float64 numpy (nothing to compile: the rig gauges of the calibration solvers).
`apply_similarity` applies a fit; `transform_cameras` re-expresses a rig in another world frame.

Conventions: column vectors, `x' = s R x + t`; points (..., n, 3); rotations (..., 3, 3).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lift3d.geometry.camera import Camera
from lift3d.geometry.lazy_jax import jnp

__all__ = ["Similarity", "align_similarity", "apply_similarity", "transform_cameras"]


class Similarity(NamedTuple):
    """A similarity `x' = scale * rotation @ (x - src_centre) + dst_centre` (= `scale R x + translation`).

    Attributes:
        scale: Scale, shape (...).
        rotation: Proper rotation, shape (..., 3, 3).
        translation: `dst_centre - scale R src_centre`, shape (..., 3), destination units.
        src_centre: Weighted centroid of the source points, shape (..., 3).
        dst_centre: Weighted centroid of the destination points, shape (..., 3).
    """

    scale: Any
    rotation: Any
    translation: Any
    src_centre: Any
    dst_centre: Any


def _safe_norm(xp: Any, x: Any, axis) -> Any:
    """Euclidean norm whose gradient is finite (zero) at the origin."""
    sq = xp.sum(x * x, axis=axis)
    pos = sq > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, sq, 1.0)), 0.0)


def _det3(xp: Any, m: Any) -> Any:
    """Determinant of (..., 3, 3) matrices (triple product; cheaper than an LU per matrix)."""
    return xp.sum(m[..., 0, :] * xp.cross(m[..., 1, :], m[..., 2, :]), axis=-1)


def align_similarity(src: Any, dst: Any, weights: Any | None = None, *, xp: Any = jnp) -> Similarity:
    """Least-squares similarity mapping `src` onto `dst` (scale, proper rotation, translation).

    Minimises `sum_i w_i |s R src_i + t - dst_i|^2`: both sets are centred on their weighted centroids and
    normalised by their Frobenius norms, `H = dst0^T src0 = U S V^T`, `R = U D V^T` with `D` flipping the last
    singular vector when `det(U V^T) < 0`, `s = trace(S D) |dst0| / |src0|`.

    Args:
        src: Source points, shape (..., n, 3) (finite where weighted).
        dst: Destination points, shape (..., n, 3).
        weights: Point weights in {0, 1}, shape (..., n); None weighs all 1. Fewer than 3 non-collinear
            weighted points give a degenerate (but finite) transform.
        xp: Array module: jax.numpy (jit-able, the points' dtype) or numpy (float64 in, float64 out).

    Returns:
        The `Similarity`.
    """
    src, dst = xp.asarray(src), xp.asarray(dst)
    w = xp.ones(src.shape[:-1], bool) if weights is None else xp.asarray(weights)
    w3 = w[..., None].astype(src.dtype)
    count = xp.maximum(xp.sum(w3, axis=-2, keepdims=True), 1.0)
    mu_x = xp.sum(w3 * dst, axis=-2, keepdims=True) / count
    mu_y = xp.sum(w3 * src, axis=-2, keepdims=True) / count
    x0 = w3 * (dst - mu_x)
    y0 = w3 * (src - mu_y)
    norm_x = _safe_norm(xp, x0, (-2, -1))
    norm_y = _safe_norm(xp, y0, (-2, -1))
    x0 = x0 / xp.where(norm_x > 0, norm_x, 1.0)[..., None, None]
    y0 = y0 / xp.where(norm_y > 0, norm_y, 1.0)[..., None, None]
    h = xp.swapaxes(x0, -1, -2) @ y0  # (..., 3, 3)
    u, s, vt = xp.linalg.svd(h)
    v = xp.swapaxes(vt, -1, -2)
    # det(V U^T) = det(V) det(U) = +-1; flip the last singular vector / value on reflections.
    sign = xp.where(_det3(xp, v) * _det3(xp, u) < 0, -1.0, 1.0).astype(src.dtype)
    flip = xp.stack([xp.ones_like(sign), xp.ones_like(sign), sign], -1)  # exact: multiplies by +-1
    v = v * flip[..., None, :]
    s = s * flip
    rot_rows = v @ xp.swapaxes(u, -1, -2)  # acts on row vectors: x'^T = x^T rot_rows
    scale = xp.sum(s, axis=-1) * norm_x / xp.where(norm_y > 0, norm_y, 1.0)
    rotation = xp.swapaxes(rot_rows, -1, -2)
    src_c, dst_c = mu_y[..., 0, :], mu_x[..., 0, :]
    translation = dst_c - scale[..., None] * xp.einsum("...ij,...j->...i", rotation, src_c)
    return Similarity(scale, rotation, translation, src_c, dst_c)


def apply_similarity(similarity: Similarity, points: Any, *, xp: Any = jnp) -> Any:
    """Map points (..., n, 3) by a `Similarity` (batch axes (...) as the fit's): `s R (x - src_c) + dst_c`.

    Args:
        similarity: The transform, e.g. from `align_similarity`.
        points: Points, shape (..., n, 3), source units.
        xp: Array module.

    Returns:
        Points, shape (..., n, 3), destination units.
    """
    scale, rotation, _, src_c, dst_c = similarity
    moved = (xp.asarray(points) - src_c[..., None, :]) @ xp.swapaxes(rotation, -1, -2)
    return xp.asarray(scale)[..., None, None] * moved + dst_c[..., None, :]


def transform_cameras(cameras: Camera, scale: float, rotation: Any, translation: Any) -> Camera:
    """Re-express cameras in a new world `X_new = s Q X_old + d` (their images do not change).

    Args:
        cameras: Cameras, batch shape (v,).
        scale: s.
        rotation: Q, shape (3, 3).
        translation: d, shape (3,), new world units.

    Returns:
        The cameras (float64 numpy) with `R_new = R Q^T`, `t_new = s t - R_new d` (centres `s Q C + d`).
    """
    R_new = np.asarray(cameras.R, np.float64) @ np.asarray(rotation).T
    t_new = scale * np.asarray(cameras.t, np.float64) - R_new @ np.asarray(translation, np.float64)
    return cameras.replace(R=R_new, t=t_new)

"""Per-point refinement of triangulated joints on the distorted reprojection error (robust losses).

Shapes as in `lift3d.geometry.triangulation.linear`: cameras (v,), keypoints (..., v, j, 2) distorted px,
confidences (..., v, j), points (..., j, 3) world units.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

from lift3d.geometry.camera import Camera, project_points, world_to_camera
from lift3d.geometry.triangulation.linear import cramer3, observation_weights

__all__ = ["Robust", "refine_points"]

Robust = Literal["huber", "cauchy"] | None

_POLISH_STEPS = 3  # Gauss-Newton steps after LM (each ~squares the remaining distance to the minimum)
_POLISH_MAX_STEP = 1e-3  # ... taken only when shorter than this fraction of the distance to the nearest camera


def _rho(e2: Array, robust: Robust, scale: float) -> tuple[Array, Array]:
    """Robust loss rho(e^2) and its derivative rho'(e^2) (the IRLS weight)."""
    if robust is None:
        return e2, jnp.ones_like(e2)
    if robust == "huber":
        e = jnp.sqrt(e2)
        inside = e <= scale
        weight = jnp.where(inside, 1.0, scale / jnp.maximum(e, 1e-30))
        return jnp.where(inside, e2, 2 * scale * e - scale**2), weight
    if robust == "cauchy":
        return scale**2 * jnp.log1p(e2 / scale**2), 1.0 / (1.0 + e2 / scale**2)
    raise ValueError(f"robust must be None, 'huber' or 'cauchy', got {robust!r}")


def _solve3(H: Array, g: Array) -> Array:
    """Solve 3x3 systems H x = g by Cramer's rule (`cramer3`), shapes (..., 3, 3), (..., 3)."""
    num, det = cramer3([[H[..., i, j] for j in range(3)] for i in range(3)], [g[..., j] for j in range(3)])
    det = jnp.where(jnp.abs(det) > 0, det, 1.0)
    return jnp.stack(num, -1) / det[..., None]


@functools.partial(jax.jit, static_argnames=("num_iters", "robust"))
def refine_points(
    cameras: Camera, points_3d: ArrayLike, points_2d: ArrayLike, confidence: ArrayLike | None = None, *,
    num_iters: int = 10, robust: Robust = None, scale_px: float = 10.0,
) -> Array:
    """Per-point Levenberg-Marquardt on the distorted reprojection error (batched 3x3 normal systems).

    Minimises `sum_v c_v^2 rho(|project_v(X) - x_v|^2)` for every joint independently, with `rho` the squared
    error, Huber or Cauchy of scale `scale_px`. Masked views (NaN or confidence 0) contribute nothing; NaN
    input points stay NaN. A step is kept only where it lowers the cost (so the cost never rises) and keeps
    the point in front of the cameras that see it, and moves at most a quarter of the distance to the nearest
    of them, so degenerate joints (nearly parallel rays) do not run off; points with fewer than two views or
    behind a camera that sees them are returned unchanged. Three undamped Gauss-Newton steps follow (each kept
    where shorter than 1/1000 of the distance to the nearest camera): a float32 cost cannot resolve the last
    0.05 mm, and these reach the minimum itself, the same point from any nearby start.

    Args:
        cameras: Cameras, batch shape (v,) or broadcastable (..., v).
        points_3d: Starting points, shape (..., j, 3), world units (e.g. from `triangulate_dlt`).
        points_2d: Observations, shape (..., v, j, 2), distorted pixels.
        confidence: Weights, shape (..., v, j), or None for 1.
        num_iters: Fixed number of LM iterations.
        robust: None, "huber" or "cauchy".
        scale_px: Scale of the robust loss, px.

    Returns:
        Refined points, shape (..., j, 3).
    """
    uv = jnp.asarray(points_2d)
    w, uv = observation_weights(uv.astype(jnp.result_type(uv.dtype, jnp.float32)), confidence)
    cam = jax.tree_util.tree_map(lambda a: jnp.asarray(a, uv.dtype), cameras)
    X0 = jnp.asarray(points_3d, uv.dtype)
    missing = ~jnp.all(jnp.isfinite(X0), -1)
    frozen = missing | (jnp.sum(w > 0, -2) < 2)  # under-determined: left as given
    X_in, X0 = X0, jnp.where(missing[..., None], 0.0, X0)
    w2 = w**2

    def residual(X):
        return jnp.where((w > 0)[..., None], project_points(cam, X[..., None, :, :]) - uv, 0.0)

    def min_depth(X):
        z = world_to_camera(cam, X[..., None, :, :])[..., 2]  # (..., v, j)
        return jnp.min(jnp.where(w > 0, z, jnp.inf), -2)

    def cost(r):
        return jnp.sum(w2 * _rho(jnp.sum(r * r, -1), robust, scale_px)[0], -2)

    def normal_system(X):
        r, lin = jax.linearize(residual, X)
        J = jnp.stack([lin(jnp.broadcast_to(e, X.shape)) for e in jnp.eye(3, dtype=X.dtype)], -1)
        omega = w2 * _rho(jnp.sum(r * r, -1), robust, scale_px)[1]
        wJ = omega[..., None, None] * J  # (..., v, j, 2, 3)
        H = jnp.sum(wJ[..., :, None] * J[..., None, :], (-5, -3))
        return r, H, jnp.sum(wJ * r[..., None], (-4, -2))

    def step(_, state):
        X, lam = state
        r, H, g = normal_system(X)
        diag = jnp.diagonal(H, axis1=-2, axis2=-1)
        damping = lam[..., None] * diag + 1e-12 * jnp.max(diag, -1, keepdims=True)
        damped = H + damping[..., None] * jnp.eye(3, dtype=X.dtype)
        step = _solve3(damped, g)
        depth = min_depth(X)  # trust region: move at most a quarter of the distance to the nearest camera
        limit = 0.25 * jnp.abs(depth) / jnp.maximum(jnp.linalg.norm(step, axis=-1), 1e-30)
        X_new = X - step * jnp.minimum(limit, 1.0)[..., None]
        better = (cost(residual(X_new)) < cost(r)) & (min_depth(X_new) > 0)
        X = jnp.where(better[..., None], X_new, X)
        lam = jnp.where(better, jnp.maximum(lam * 0.3, 1e-9), jnp.minimum(lam * 10.0, 1e9))
        return X, lam

    def polish(_, X):
        # Near the minimum a float32 cost cannot tell better from worse (pixel coordinates carry ~1e-4 px of
        # rounding, times ~10 px residuals), so LM stalls up to ~0.05 mm short, at a point that depends on
        # where it started. Undamped Gauss-Newton steps need no cost test: they stop where the gradient is
        # zero (to ~1e-6 mm), the same point from any nearby start. Only small steps are taken.
        _, H, g = normal_system(X)
        step = _solve3(H, g)
        small = jnp.linalg.norm(step, axis=-1) <= _POLISH_MAX_STEP * jnp.abs(min_depth(X))
        X_new = X - step
        return jnp.where((small & jnp.all(jnp.isfinite(X_new), -1) & (min_depth(X_new) > 0))[..., None], X_new, X)

    frozen = frozen | (min_depth(X0) <= 0)  # behind a camera that saw it: degenerate, left as given
    X, _ = jax.lax.fori_loop(0, num_iters, step, (X0, jnp.full(X0.shape[:-1], 1e-3, X0.dtype)))
    X = jax.lax.fori_loop(0, _POLISH_STEPS, polish, X)
    return jnp.where(frozen[..., None], X_in, X)


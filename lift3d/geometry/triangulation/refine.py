"""Per-point refinement of triangulated joints on the distorted reprojection error (robust losses).

Shapes as in `lift3d.geometry.triangulation.linear`: cameras (v,), keypoints (..., v, j, 2) distorted px,
confidences (..., v, j), points (..., j, 3) world units.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lift3d.geometry import distortion
from lift3d.geometry.camera import Camera
from lift3d.geometry.lazy_jax import jax, jit, jnp
from lift3d.geometry.triangulation.linear import cramer3, observation_weights

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = ["Robust", "refine_points", "refine_points_numpy"]

Robust = Literal["huber", "cauchy"] | None

_POLISH_STEPS = 3  # Gauss-Newton steps after LM (each ~squares the remaining distance to the minimum)
_POLISH_MAX_STEP = 1e-3  # ... taken only when shorter than this fraction of the distance to the nearest camera


def _rho(e2: Array, robust: Robust, scale: float, xp: Any = jnp) -> tuple[Array, Array]:
    """Robust loss rho(e^2) and its derivative rho'(e^2) (the IRLS weight)."""
    if robust is None:
        return e2, xp.ones_like(e2)
    if robust == "huber":
        e = xp.sqrt(e2)
        inside = e <= scale
        weight = xp.where(inside, 1.0, scale / xp.maximum(e, 1e-30))
        return xp.where(inside, e2, 2 * scale * e - scale**2), weight
    if robust == "cauchy":
        return scale**2 * xp.log1p(e2 / scale**2), 1.0 / (1.0 + e2 / scale**2)
    raise ValueError(f"robust must be None, 'huber' or 'cauchy', got {robust!r}")


def _solve3(H: list, g: list, xp: Any = jnp) -> Array:
    """Solve 3x3 systems H x = g given as components (`cramer3`): H[i][k], g[i] of shape (...); x (..., 3)."""
    num, det = cramer3(H, g)
    det = xp.where(xp.abs(det) > 0, det, 1.0)
    return xp.stack(num, -1) / det[..., None]


def _projection(cam: Camera, X: Array, jacobian: bool, xp: Any = jnp):
    """Pixels, depths and d pixel / d X of points X (..., j, 3) in cameras (..., v), written on components.

    The chain d(u, v)/d(xd, yd) . d(xd, yd)/d(x, y) (`distort_xy`'s Jacobian) . d(x, y)/d x_cam . R, one
    elementwise expression per entry (XLA fuses them; 3-5x faster than `jax.linearize` through
    `project_points` with three tangents).

    Returns:
        (u, v, z, J): pixel coordinates and depths, each (..., v, j); J[r][k] = d(u, v)[r] / d X[k] (None
        without `jacobian`).
    """
    R, t, K = cam.R[..., None, :, :], cam.t[..., None, :], cam.K[..., None, :, :]  # (..., v, 1, ...)
    P = [X[..., None, :, k] for k in range(3)]  # (..., 1, j)
    xc = [R[..., a, 0] * P[0] + R[..., a, 1] * P[1] + R[..., a, 2] * P[2] + t[..., a] for a in range(3)]
    iz = 1.0 / xc[2]
    x, y = xc[0] * iz, xc[1] * iz
    xd, yd, Jd, _ = distortion.distort_xy(x, y, distortion.coefficients(cam.dist, 1), model=cam.model,
                                          jacobian=jacobian, xp=xp)  # fmt: skip
    fx, skew, cx, fy, cy = K[..., 0, 0], K[..., 0, 1], K[..., 0, 2], K[..., 1, 1], K[..., 1, 2]
    u, v = fx * xd + skew * yd + cx, fy * yd + cy
    if not jacobian:
        return u, v, xc[2], None
    rows = []
    for b0, b1 in ((fx * Jd[..., 0, 0] + skew * Jd[..., 1, 0], fx * Jd[..., 0, 1] + skew * Jd[..., 1, 1]),
                   (fy * Jd[..., 1, 0], fy * Jd[..., 1, 1])):  # fmt: skip
        d = (b0 * iz, b1 * iz, -(b0 * x + b1 * y) * iz)  # d(u or v) / d x_cam
        rows.append([d[0] * R[..., 0, k] + d[1] * R[..., 1, k] + d[2] * R[..., 2, k] for k in range(3)])
    return u, v, xc[2], rows


@functools.partial(jit, static_argnames=("num_iters", "robust"))
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
    return _refine(jnp, cameras, points_3d, points_2d, confidence, num_iters, robust, scale_px)


def refine_points_numpy(
    cameras: Camera, points_3d: Any, points_2d: Any, confidence: Any | None = None, *, num_iters: int = 10,
    robust: Robust = None, scale_px: float = 10.0,
) -> np.ndarray:
    """`refine_points` in float64 numpy: nothing to compile, for short captures (same arguments).

    Returns:
        Refined points, shape (..., j, 3), float64.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _refine(np, cameras, points_3d, points_2d, confidence, num_iters, robust, scale_px)


def _loop(xp: Any, n: int, body, init):  # noqa: ANN001
    """`jax.lax.fori_loop` (one traced body) or a Python loop for numpy."""
    if xp is not np:
        return jax.lax.fori_loop(0, n, body, init)
    for i in range(n):
        init = body(i, init)
    return init


def _refine(xp: Any, cameras: Camera, points_3d: Any, points_2d: Any, confidence: Any | None, num_iters: int,
            robust: Robust, scale_px: float) -> Any:
    """`refine_points` over an array module (jax.numpy, jitted there; numpy in float64)."""
    uv = xp.asarray(points_2d)
    uv = uv.astype(np.float64 if xp is np else jnp.result_type(uv.dtype, jnp.float32))
    conf = np.asarray(confidence, np.float64) if confidence is not None and xp is np else confidence
    w, uv = observation_weights(uv, conf, xp)
    cam = cameras.map(lambda a: xp.asarray(a, uv.dtype))
    X0 = xp.asarray(points_3d, uv.dtype)
    missing = ~xp.all(xp.isfinite(X0), -1)
    frozen = missing | (xp.sum(w > 0, -2) < 2)  # under-determined: left as given
    X_in, X0 = X0, xp.where(missing[..., None], 0.0, X0)
    seen, w2 = w > 0, w**2

    def project(X, jacobian=False):  # masked residuals, depths, masked Jacobian rows
        u, v, z, J = _projection(cam, X, jacobian, xp)
        ru, rv = xp.where(seen, u - uv[..., 0], 0.0), xp.where(seen, v - uv[..., 1], 0.0)
        if J is not None:
            J = [[xp.where(seen, d, 0.0) for d in row] for row in J]
        return ru, rv, z, J

    def min_depth(z):
        return xp.min(xp.where(seen, z, xp.inf), -2)

    def cost(ru, rv):
        return xp.sum(w2 * _rho(ru * ru + rv * rv, robust, scale_px, xp)[0], -2)

    def normal_system(ru, rv, J):  # H = sum_v omega J^T J, g = sum_v omega J^T r, on components
        omega = w2 * _rho(ru * ru + rv * rv, robust, scale_px, xp)[1]
        H = [[xp.sum(omega * (J[0][a] * J[0][b] + J[1][a] * J[1][b]), -2) for b in range(3)] for a in range(3)]
        return H, [xp.sum(omega * (J[0][a] * ru + J[1][a] * rv), -2) for a in range(3)]

    def step(_, state):
        X, lam = state
        ru, rv, z, J = project(X, True)
        H, g = normal_system(ru, rv, J)
        top = xp.maximum(xp.maximum(H[0][0], H[1][1]), H[2][2])
        damped = [[H[a][b] + (lam * H[a][a] + 1e-12 * top if a == b else 0.0) for b in range(3)] for a in range(3)]
        step = _solve3(damped, g, xp)
        depth = min_depth(z)  # trust region: move at most a quarter of the distance to the nearest camera
        limit = 0.25 * xp.abs(depth) / xp.maximum(xp.linalg.norm(step, axis=-1), 1e-30)
        X_new = X - step * xp.minimum(limit, 1.0)[..., None]
        ru_new, rv_new, z_new, _ = project(X_new)
        better = (cost(ru_new, rv_new) < cost(ru, rv)) & (min_depth(z_new) > 0)
        X = xp.where(better[..., None], X_new, X)
        lam = xp.where(better, xp.maximum(lam * 0.3, 1e-9), xp.minimum(lam * 10.0, 1e9))
        return X, lam

    def polish(_, X):
        # Near the minimum a float32 cost cannot tell better from worse (pixel coordinates carry ~1e-4 px of
        # rounding, times ~10 px residuals), so LM stalls up to ~0.05 mm short, at a point that depends on
        # where it started. Undamped Gauss-Newton steps need no cost test: they stop where the gradient is
        # zero (to ~1e-6 mm), the same point from any nearby start. Only small steps are taken.
        ru, rv, z, J = project(X, True)
        step = _solve3(*normal_system(ru, rv, J), xp)
        small = xp.linalg.norm(step, axis=-1) <= _POLISH_MAX_STEP * xp.abs(min_depth(z))
        X_new = X - step
        ok = small & xp.all(xp.isfinite(X_new), -1) & (min_depth(project(X_new)[2]) > 0)
        return xp.where(ok[..., None], X_new, X)

    frozen = frozen | (min_depth(project(X0)[2]) <= 0)  # behind a camera that saw it: degenerate, left as given
    X, _ = _loop(xp, num_iters, step, (X0, xp.full(X0.shape[:-1], 1e-3, X0.dtype)))
    X = _loop(xp, _POLISH_STEPS, polish, X)
    return xp.where(frozen[..., None], X_in, X)


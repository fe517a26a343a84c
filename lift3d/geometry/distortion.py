"""Lens distortion on normalised image coordinates (OpenCV's pinhole and fisheye models).

Normalised coordinates are `(X / Z, Y / Z)` in the camera frame. Pinhole coefficients follow OpenCV's order
(k1, k2, p1, p2, k3); fisheye coefficients are (k1, k2, k3, k4) as in `cv2.fisheye`. Inverses use Newton's
method with analytic Jacobians (a fixed number of steps, so they stay `jit`-able and differentiable).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["distort", "undistort", "distort_fisheye", "undistort_fisheye"]


def _split(xy: Array, dist: Array):
    x, y = xy[..., 0], xy[..., 1]
    d = dist[..., None, :]  # broadcast one coefficient set over the point axis
    return x, y, d


def _distort_with_jacobian(x: Array, y: Array, d: Array):
    k1, k2, p1, p2, k3 = (d[..., i] for i in range(5))
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)  # d radial / d r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    j00 = radial + 2 * x * x * dradial + 2 * p1 * y + 6 * p2 * x
    j01 = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
    j10 = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
    j11 = radial + 2 * y * y * dradial + 6 * p1 * y + 2 * p2 * x
    return xd, yd, (j00, j01, j10, j11)


def distort(xy: ArrayLike, dist: ArrayLike) -> Array:
    """Apply OpenCV's pinhole distortion to normalised coordinates.

    Args:
        xy: Undistorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, p1, p2, k3), shape (..., 5), broadcast against `xy`'s leading axes.

    Returns:
        Distorted normalised coordinates, shape (..., n, 2).
    """
    x, y, d = _split(jnp.asarray(xy), jnp.asarray(dist))
    xd, yd, _ = _distort_with_jacobian(x, y, d)
    return jnp.stack([xd, yd], -1)


@functools.partial(jax.jit, static_argnames=("num_iters",))
def undistort(xy_distorted: ArrayLike, dist: ArrayLike, *, num_iters: int = 12) -> Array:
    """Invert `distort` with Newton's method started at the distorted point.

    Args:
        xy_distorted: Distorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, p1, p2, k3), shape (..., 5).
        num_iters: Newton steps; 12 reach float64 precision inside the image for usual lenses.

    Returns:
        Undistorted normalised coordinates, shape (..., n, 2).
    """
    target = jnp.asarray(xy_distorted)
    dist = jnp.asarray(dist)
    tx, ty, d = _split(target, dist)

    def step(_, xy):
        x, y = xy
        xd, yd, (a, b, c, e) = _distort_with_jacobian(x, y, d)
        rx, ry = xd - tx, yd - ty
        det = a * e - b * c
        det = jnp.where(jnp.abs(det) < 1e-12, 1e-12, det)
        return x - (e * rx - b * ry) / det, y - (a * ry - c * rx) / det

    x, y = jax.lax.fori_loop(0, num_iters, step, (tx + 0 * d[..., 0], ty + 0 * d[..., 0]))
    return jnp.stack([x, y], -1)


def distort_fisheye(xy: ArrayLike, dist: ArrayLike) -> Array:
    """Apply OpenCV's fisheye (equidistant) distortion to normalised coordinates.

    Args:
        xy: Undistorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, k3, k4[, unused]), shape (..., 4) or (..., 5).

    Returns:
        Distorted normalised coordinates, shape (..., n, 2).
    """
    xy = jnp.asarray(xy)
    k = jnp.asarray(dist)[..., None, :4]
    r2 = jnp.sum(xy * xy, -1)
    small = r2 < 1e-24
    r = jnp.sqrt(jnp.where(small, 1.0, r2))
    theta = jnp.arctan(r)
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (k[..., 0] + t2 * (k[..., 1] + t2 * (k[..., 2] + t2 * k[..., 3]))))
    scale = jnp.where(small, 1.0, theta_d / r)
    return xy * scale[..., None]


@functools.partial(jax.jit, static_argnames=("num_iters",))
def undistort_fisheye(xy_distorted: ArrayLike, dist: ArrayLike, *, num_iters: int = 12) -> Array:
    """Invert `distort_fisheye`: solve theta from theta_d by Newton's method.

    Args:
        xy_distorted: Distorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, k3, k4[, unused]), shape (..., 4) or (..., 5).
        num_iters: Newton steps.

    Returns:
        Undistorted normalised coordinates, shape (..., n, 2).
    """
    xy = jnp.asarray(xy_distorted)
    k = jnp.asarray(dist)[..., None, :4]
    k1, k2, k3, k4 = k[..., 0], k[..., 1], k[..., 2], k[..., 3]
    theta_d = jnp.sqrt(jnp.sum(xy * xy, -1))
    small = theta_d < 1e-12

    def step(_, th):
        t2 = th * th
        f = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
        df = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * t2 * k4)))
        return th - f / df

    theta = jax.lax.fori_loop(0, num_iters, step, theta_d + 0 * k1)
    scale = jnp.where(small, 1.0, jnp.tan(theta) / jnp.where(small, 1.0, theta_d))
    return xy * scale[..., None]

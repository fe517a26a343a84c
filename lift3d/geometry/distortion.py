"""Lens distortion on normalised image coordinates (OpenCV's pinhole and fisheye models): the one implementation.

Normalised coordinates are `(X / Z, Y / Z)` in the camera frame. Pinhole coefficients follow OpenCV's order
(k1, k2, p1, p2, k3); fisheye coefficients are (k1, k2, k3, k4) as in `cv2.fisheye` (a fifth is ignored).
Inverses use Newton's method with analytic Jacobians started at the distorted point (a fixed number of steps,
so they stay `jit`-able and differentiable).

The formulas are written once, on coordinate components, over an array module `xp`:
- `distort_xy` / `undistort_xy`: components `x, y` (any shape) and coefficients as a sequence of five
  components (arrays broadcastable against `x`, or Python floats). With `xp=numpy` they are float64 numpy code
  with nothing to compile (the calibration solvers, `numpy_camera`); with `xp=jax.numpy` they trace into jitted
  programs. Coefficients that are the Python number 0 drop their terms from the program (the fixed-rig kernels
  of `lift3d.geometry.triangulation.fixed_rig` hold each camera's coefficients as such constants).
- `distort`, `undistort`, `distort_fisheye`, `undistort_fisheye`: the stacked-array JAX entry points,
  (..., n, 2) coordinates and (..., 5) coefficients, used by `lift3d.geometry.camera`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lift3d.geometry.lazy_jax import jax, jit, jnp

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = [
    "coefficients",
    "distort_xy",
    "undistort_xy",
    "distort",
    "undistort",
    "distort_fisheye",
    "undistort_fisheye",
]

Model = Literal["pinhole", "fisheye"]


def _zero(c: Any) -> bool:
    """True only for the Python number 0 (a compile-time constant whose terms can be left out)."""
    return isinstance(c, (int, float)) and c == 0


def coefficients(dist: Any, axis_before: int = 0) -> tuple:
    """The five coefficient components of stacked coefficients, for `distort_xy` / `undistort_xy`.

    Args:
        dist: Coefficients, shape (..., 5) (numpy or jax).
        axis_before: Unit axes inserted before the last one (to broadcast one coefficient set over point axes).

    Returns:
        Five arrays, shape (..., *(1,) * axis_before).
    """
    idx = (Ellipsis,) + (None,) * axis_before
    return tuple(dist[idx + (i,)] for i in range(5))


def _iterate(num_iters: int, step: Callable, state: Any, xp: Any) -> Any:
    """`num_iters` applications of `step(i, state)`: a Python loop for numpy, `lax.fori_loop` for jax."""
    if xp is np or xp is None:
        for i in range(num_iters):
            state = step(i, state)
        return state
    return jax.lax.fori_loop(0, num_iters, step, state)


def distort_xy(x: Any, y: Any, coeffs: Sequence[Any], *, model: Model = "pinhole", jacobian: bool = False,
               xp: Any = np):
    """OpenCV's lens distortion of normalised points, optionally with its Jacobians.

    Args:
        x, y: Undistorted normalised coordinates, shape (...).
        coeffs: Five coefficient components broadcastable against `x` (k1, k2, p1, p2, k3; fisheye k1..k4
            and an unused fifth), arrays or Python floats.
        model: "pinhole" or "fisheye" (equidistant).
        jacobian: Also return the Jacobians.
        xp: The array module (numpy or jax.numpy).

    Returns:
        (xd, yd, J, Jd): distorted normalised coordinates (...); with `jacobian`, d(xd, yd)/d(x, y) (..., 2, 2)
        and d(xd, yd)/d(coefficients) (..., 2, 5), else None and None.
    """
    r2 = x * x + y * y
    if model == "fisheye":
        small = r2 < 1e-24
        r = xp.sqrt(xp.where(small, 1.0, r2))
        th = xp.arctan(r)
        t2 = th * th
        k1, k2, k3, k4 = coeffs[0], coeffs[1], coeffs[2], coeffs[3]
        thd = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        scale = xp.where(small, 1.0, thd / r)
        xd, yd = x * scale, y * scale
        if not jacobian:
            return xd, yd, None, None
        dthd = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * t2 * k4)))
        ds = xp.where(small, 0.0, (dthd / (1 + r * r) * r - thd) / (r * r)) / r  # d scale / d r, over r
        J = xp.stack(
            [xp.stack([scale + x * x * ds, x * y * ds], -1), xp.stack([x * y * ds, scale + y * y * ds], -1)],
            -2,
        )
        powers = xp.stack([th**3, th**5, th**7, th**9, xp.zeros_like(th)], -1) / r[..., None]
        powers = xp.where(small[..., None], 0.0, powers)
        return xd, yd, J, xp.stack([x[..., None] * powers, y[..., None] * powers], -2)
    if model != "pinhole":
        raise ValueError(f"camera model must be 'pinhole' or 'fisheye', got {model!r}")
    k1, k2, p1, p2, k3 = coeffs[0], coeffs[1], coeffs[2], coeffs[3], coeffs[4]
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd, yd = x * radial, y * radial
    tangential = not (_zero(p1) and _zero(p2))
    if tangential:
        xd = xd + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = yd + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    if not jacobian:
        return xd, yd, None, None
    dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)
    j00, j01, j11 = radial + 2 * x * x * dradial, 2 * x * y * dradial, radial + 2 * y * y * dradial
    if tangential:
        j00, j01, j11 = j00 + 2 * p1 * y + 6 * p2 * x, j01 + 2 * p1 * x + 2 * p2 * y, j11 + 6 * p1 * y + 2 * p2 * x
    J = xp.stack([xp.stack([j00, j01], -1), xp.stack([j01, j11], -1)], -2)
    r4 = r2 * r2
    Jd = xp.stack(
        [
            xp.stack([x * r2, x * r4, 2 * x * y, r2 + 2 * x * x, x * r4 * r2], -1),
            xp.stack([y * r2, y * r4, r2 + 2 * y * y, 2 * x * y, y * r4 * r2], -1),
        ],
        -2,
    )
    return xd, yd, J, Jd


def undistort_xy(xd: Any, yd: Any, coeffs: Sequence[Any], *, model: Model = "pinhole", num_iters: int = 12,
                 xp: Any = np, reciprocal: Callable | None = None):
    """Invert `distort_xy` by Newton's method started at the distorted point.

    Pinhole: Newton on (x, y) with the analytic 2x2 Jacobian; fisheye: Newton on the angle theta.

    Args:
        xd, yd: Distorted normalised coordinates, shape (...).
        coeffs: Five coefficient components broadcastable against `xd` (see `distort_xy`).
        model: "pinhole" or "fisheye".
        num_iters: Newton steps; 8 reach float64 precision inside the image even for k1 = -0.45.
        xp: The array module (numpy or jax.numpy; jax uses `lax.fori_loop` unless `reciprocal` is given).
        reciprocal: Pinhole only: a function `1 / det` used instead of a guarded divide (the fixed-rig
            kernels' cheap float32 reciprocal); the steps are then unrolled.

    Returns:
        (x, y): undistorted normalised coordinates, shape (...).
    """
    if model == "fisheye":
        k1, k2, k3, k4 = coeffs[0], coeffs[1], coeffs[2], coeffs[3]
        theta_d = xp.sqrt(xd * xd + yd * yd)
        small = theta_d < 1e-12

        def fisheye_step(_, th):
            t2 = th * th
            f = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            return th - f / (1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * t2 * k4))))

        th = _iterate(num_iters, fisheye_step, theta_d if xp is np else theta_d + 0 * k1, xp)
        scale = xp.where(small, 1.0, xp.tan(th) / xp.where(small, 1.0, theta_d))
        return xd * scale, yd * scale
    if model != "pinhole":
        raise ValueError(f"camera model must be 'pinhole' or 'fisheye', got {model!r}")
    k1, k2, p1, p2, k3 = coeffs[0], coeffs[1], coeffs[2], coeffs[3], coeffs[4]
    tangential = not (_zero(p1) and _zero(p2))

    def step(_, xy):
        x, y = xy
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)
        rx, ry = x * radial, y * radial  # the distorted point minus the target, in `distort_xy`'s order
        a, b, e = radial + 2 * x * x * dradial, 2 * x * y * dradial, radial + 2 * y * y * dradial
        if tangential:
            rx = rx + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            ry = ry + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            a, b, e = a + 2 * p1 * y + 6 * p2 * x, b + 2 * p1 * x + 2 * p2 * y, e + 6 * p1 * y + 2 * p2 * x
        rx, ry = rx - xd, ry - yd
        det = a * e - b * b
        if reciprocal is not None:
            inv = reciprocal(det)
            return x - (e * rx - b * ry) * inv, y - (a * ry - b * rx) * inv
        det = xp.where(xp.abs(det) < 1e-12, 1e-12, det)
        return x - (e * rx - b * ry) / det, y - (a * ry - b * rx) / det

    if reciprocal is not None:
        return _iterate(num_iters, step, (xd, yd), None)
    if xp is np:
        return _iterate(num_iters, step, (xd, yd), xp)
    zero = 0 * k1  # a traced loop state must have its final shape: broadcast the start against the coefficients
    return _iterate(num_iters, step, (xd + zero, yd + zero), xp)


# ------------------------------------------------------------------------------------------ stacked JAX API


def _stacked(fn, xy: ArrayLike, dist: ArrayLike, **kwargs) -> Array:
    xy, dist = jnp.asarray(xy), jnp.asarray(dist)
    out = fn(xy[..., 0], xy[..., 1], coefficients(dist, 1), xp=jnp, **kwargs)
    return jnp.stack(out[:2], -1)


def distort(xy: ArrayLike, dist: ArrayLike) -> Array:
    """Apply OpenCV's pinhole distortion to normalised coordinates (`distort_xy` on stacked arrays).

    Args:
        xy: Undistorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, p1, p2, k3), shape (..., 5), broadcast against `xy`'s leading axes.

    Returns:
        Distorted normalised coordinates, shape (..., n, 2).
    """
    return _stacked(distort_xy, xy, dist)


@functools.partial(jit, static_argnames=("num_iters",))
def undistort(xy_distorted: ArrayLike, dist: ArrayLike, *, num_iters: int = 12) -> Array:
    """Invert `distort` with Newton's method started at the distorted point (`undistort_xy`).

    Args:
        xy_distorted: Distorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, p1, p2, k3), shape (..., 5).
        num_iters: Newton steps; 12 reach float64 precision inside the image for usual lenses.

    Returns:
        Undistorted normalised coordinates, shape (..., n, 2).
    """
    return _stacked(undistort_xy, xy_distorted, dist, num_iters=num_iters)


def distort_fisheye(xy: ArrayLike, dist: ArrayLike) -> Array:
    """Apply OpenCV's fisheye (equidistant) distortion to normalised coordinates.

    Args:
        xy: Undistorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, k3, k4, unused), shape (..., 5).

    Returns:
        Distorted normalised coordinates, shape (..., n, 2).
    """
    return _stacked(distort_xy, xy, dist, model="fisheye")


@functools.partial(jit, static_argnames=("num_iters",))
def undistort_fisheye(xy_distorted: ArrayLike, dist: ArrayLike, *, num_iters: int = 12) -> Array:
    """Invert `distort_fisheye`: solve theta from theta_d by Newton's method.

    Args:
        xy_distorted: Distorted normalised coordinates, shape (..., n, 2).
        dist: Coefficients (k1, k2, k3, k4, unused), shape (..., 5).
        num_iters: Newton steps.

    Returns:
        Undistorted normalised coordinates, shape (..., n, 2).
    """
    return _stacked(undistort_xy, xy_distorted, dist, model="fisheye", num_iters=num_iters)

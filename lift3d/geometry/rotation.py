"""Rotation conversions: Rodrigues vectors, rotation matrices and unit quaternions.

All functions are pure, batched over any leading axes and `jit`-able. Quaternions are scalar-first
(w, x, y, z). Conversions are exact inverses up to float rounding (round trips to ~1e-15 in float64),
including near the identity (small-angle series) and near 180 degrees (Shepperd's method).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "rodrigues_to_matrix",
    "matrix_to_rodrigues",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "quaternion_to_rodrigues",
    "rodrigues_to_quaternion",
    "skew",
    "is_rotation_matrix",
]

_SMALL_ANGLE = 1e-4  # below this angle (rad) Taylor series replace sin/cos ratios


def skew(v: ArrayLike) -> Array:
    """Cross-product matrix `[v]_x` such that `[v]_x @ w == cross(v, w)`.

    Args:
        v: Vectors, shape (..., 3).

    Returns:
        Skew-symmetric matrices, shape (..., 3, 3).
    """
    v = jnp.asarray(v)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = jnp.zeros_like(x)
    return jnp.stack(
        [jnp.stack([o, -z, y], -1), jnp.stack([z, o, -x], -1), jnp.stack([-y, x, o], -1)], -2
    )


def rodrigues_to_matrix(rvec: ArrayLike) -> Array:
    """Rotation vector (axis times angle in radians, as `cv2.Rodrigues`) to rotation matrix.

    Args:
        rvec: Rotation vectors, shape (..., 3), radians.

    Returns:
        Rotation matrices, shape (..., 3, 3).
    """
    rvec = jnp.asarray(rvec)
    if not jnp.issubdtype(rvec.dtype, jnp.floating):
        rvec = rvec.astype(jnp.result_type(float))
    theta2 = jnp.sum(rvec * rvec, axis=-1)
    small = theta2 < _SMALL_ANGLE**2
    theta2_safe = jnp.where(small, 1.0, theta2)
    theta = jnp.sqrt(theta2_safe)
    # a = sin(t)/t, b = (1 - cos(t))/t^2, with series near zero so gradients stay finite.
    a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
    b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / theta2_safe)
    k = skew(rvec)
    eye = jnp.eye(3, dtype=rvec.dtype)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_quaternion(matrix: ArrayLike) -> Array:
    """Rotation matrix to unit quaternion (w, x, y, z) with w >= 0 (Shepperd's method).

    Args:
        matrix: Rotation matrices, shape (..., 3, 3).

    Returns:
        Unit quaternions, shape (..., 4), scalar first, canonical sign w >= 0.
    """
    m = jnp.asarray(matrix)
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4|q_i|^2 for i = w, x, y, z; the largest gives the best-conditioned formula.
    four_q2 = jnp.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1
    )
    q_abs = jnp.sqrt(jnp.maximum(four_q2, 0.0))
    candidates = jnp.stack(
        [
            jnp.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], -1),
            jnp.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], -1),
            jnp.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], -1),
            jnp.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], -1),
        ],
        -2,
    ) / (2.0 * jnp.maximum(q_abs, 0.1))[..., None]
    best = jnp.argmax(q_abs, axis=-1)
    q = jnp.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
    return jnp.where(q[..., :1] < 0, -q, q)


def quaternion_to_matrix(quat: ArrayLike) -> Array:
    """Quaternion (w, x, y, z) to rotation matrix; the quaternion is normalised first.

    Args:
        quat: Quaternions, shape (..., 4), scalar first.

    Returns:
        Rotation matrices, shape (..., 3, 3).
    """
    q = jnp.asarray(quat)
    q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def quaternion_to_rodrigues(quat: ArrayLike) -> Array:
    """Quaternion (w, x, y, z) to rotation vector, angle in [0, pi].

    Args:
        quat: Quaternions, shape (..., 4), scalar first (normalised first).

    Returns:
        Rotation vectors, shape (..., 3), radians.
    """
    q = jnp.asarray(quat)
    q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
    q = jnp.where(q[..., :1] < 0, -q, q)
    w, v = q[..., 0], q[..., 1:]
    n2 = jnp.sum(v * v, axis=-1)
    small = n2 < _SMALL_ANGLE**2
    n = jnp.sqrt(jnp.where(small, 1.0, n2))
    # angle = 2 atan2(|v|, w); rvec = angle * v / |v|; series 2/w (1 - |v|^2 / (3 w^2)) near zero.
    w_safe = jnp.where(small, w, 1.0)
    scale = jnp.where(small, 2.0 / w_safe * (1.0 - n2 / (3.0 * w_safe**2)), 2.0 * jnp.arctan2(n, w) / n)
    return v * scale[..., None]


def rodrigues_to_quaternion(rvec: ArrayLike) -> Array:
    """Rotation vector to unit quaternion (w, x, y, z) with w >= 0.

    Args:
        rvec: Rotation vectors, shape (..., 3), radians.

    Returns:
        Unit quaternions, shape (..., 4).
    """
    rvec = jnp.asarray(rvec)
    theta2 = jnp.sum(rvec * rvec, axis=-1)
    small = theta2 < _SMALL_ANGLE**2
    theta = jnp.sqrt(jnp.where(small, 1.0, theta2))
    half_sinc = jnp.where(small, 0.5 - theta2 / 48.0, jnp.sin(theta / 2) / theta)
    w = jnp.where(small, 1.0 - theta2 / 8.0, jnp.cos(theta / 2))
    q = jnp.concatenate([w[..., None], rvec * half_sinc[..., None]], -1)
    return jnp.where(q[..., :1] < 0, -q, q)


def matrix_to_rodrigues(matrix: ArrayLike) -> Array:
    """Rotation matrix to rotation vector (as `cv2.Rodrigues`), angle in [0, pi].

    Args:
        matrix: Rotation matrices, shape (..., 3, 3).

    Returns:
        Rotation vectors, shape (..., 3), radians.
    """
    return quaternion_to_rodrigues(matrix_to_quaternion(matrix))


def is_rotation_matrix(matrix: ArrayLike, *, atol: float = 1e-6) -> Array:
    """Whether each matrix is a proper rotation (orthonormal, determinant +1).

    Args:
        matrix: Matrices, shape (..., 3, 3).
        atol: Absolute tolerance on `R^T R - I` and on `det R - 1`.

    Returns:
        Booleans, shape (...).
    """
    m = jnp.asarray(matrix)
    eye = jnp.eye(3, dtype=m.dtype)
    ortho = jnp.all(jnp.abs(jnp.swapaxes(m, -1, -2) @ m - eye) <= atol, axis=(-2, -1))
    return ortho & (jnp.abs(jnp.linalg.det(m) - 1.0) <= atol)

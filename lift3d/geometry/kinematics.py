"""Joint rotations from observed bone directions, Euler angles and forward kinematics (for BVH and the like).

Pure numpy, float64, vectorised over any leading (frame) axes. Conventions:

- Rotation matrices act on column vectors: ``world = R @ local``.
- Euler angles are *intrinsic* Tait-Bryan angles in degrees, named by the order in which the axes are listed
  (as BVH lists its channels): order ``"ZXY"`` means ``R = Rz(a) @ Rx(b) @ Ry(c)`` for angles ``(a, b, c)``.
  `matrix_to_euler` returns the middle angle in [-90, 90] degrees; at +-90 (gimbal lock) the last angle is 0.
- A kinematic tree is a parents array (-1 for roots), parents listed before their children.
- Forward kinematics is BVH's: a joint's world position is its parent's position plus the parent's world
  rotation applied to the joint's constant offset; a joint's world rotation is its parent's times its own
  (local) rotation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "rotation_between",
    "rotation_from_two",
    "euler_to_matrix",
    "matrix_to_euler",
    "forward_kinematics",
    "hold_last_valid",
    "quaternion_matrices",
    "axis_angle_matrices",
    "look_at_matrices",
]

_EPS = 1e-9
_AXES = {"X": 0, "Y": 1, "Z": 2}


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and their norms; NaN where the norm is 0 or not finite."""
    n = np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = v / np.where(n > _EPS, n, np.nan)[..., None]
    return u, n


def rotation_between(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """The smallest rotation (swing, no twist about the axis) taking direction `a` to direction `b`.

    Args:
        a: Directions, shape (..., 3) (need not be unit).
        b: Directions, broadcastable with `a`.

    Returns:
        Rotation matrices (..., 3, 3) with ``R @ unit(a) == unit(b)``; for opposite directions a half turn
        about an axis perpendicular to `a`; NaN where either direction is zero or not finite.
    """
    a, _ = _unit(np.asarray(a, dtype=np.float64))
    b, _ = _unit(np.asarray(b, dtype=np.float64))
    a, b = np.broadcast_arrays(a, b)
    axis = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    # Rodrigues with k = a x b (|k| = sin), written to stay exact for small angles: R = I + K + K^2 / (1 + c)
    k = axis
    zero = np.zeros_like(c)
    kx = np.stack(
        [np.stack([zero, -k[..., 2], k[..., 1]], -1), np.stack([k[..., 2], zero, -k[..., 0]], -1),
         np.stack([-k[..., 1], k[..., 0], zero], -1)], -2,
    )  # fmt: skip
    opposite = c < -1 + 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.eye(3) + kx + (kx @ kx) / np.where(opposite, 1.0, 1.0 + c)[..., None, None]
    if np.any(opposite):  # half turn about any axis perpendicular to a: 2 n n^T - I
        helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        n, _ = _unit(np.cross(a, helper))
        half = 2 * n[..., :, None] * n[..., None, :] - np.eye(3)
        r = np.where(opposite[..., None, None], half, r)
    return r


def _triad(d1: np.ndarray, d2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal frames (..., 3, 3), columns (unit d1, in-plane normal, unit d1 x d2), and |sin| of the angle."""
    e1, _ = _unit(d1)
    e3, s = _unit(np.cross(e1, d2))
    e2 = np.cross(e3, e1)
    _, n2 = _unit(d2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([e1, e2, e3], -1), s / n2


def rotation_from_two(
    rest1: ArrayLike, rest2: ArrayLike, obs1: ArrayLike, obs2: ArrayLike, *, min_sin: float = 0.2
) -> np.ndarray:
    """The rotation that takes direction `rest1` exactly to `obs1` and the plane (rest1, rest2) to (obs1, obs2).

    This fixes the twist about the first direction with a second one (TRIAD). Where either pair is nearly
    parallel (|sin angle| < `min_sin`) the twist is undefined: the swing-only `rotation_between(rest1, obs1)` is
    returned there.

    Args:
        rest1, rest2: Directions in the rest pose, shape (..., 3).
        obs1, obs2: Observed directions, broadcastable with them.
        min_sin: Smallest |sin| of the angle between a pair for the twist to be used.

    Returns:
        Rotation matrices (..., 3, 3); NaN where `rest1` or `obs1` is zero or not finite.
    """
    arrays = (np.asarray(x, dtype=np.float64) for x in (rest1, rest2, obs1, obs2))
    rest1, rest2, obs1, obs2 = np.broadcast_arrays(*arrays)
    f_rest, s_rest = _triad(rest1, rest2)
    f_obs, s_obs = _triad(obs1, obs2)
    full = f_obs @ np.swapaxes(f_rest, -1, -2)
    with np.errstate(invalid="ignore"):
        ok = (s_rest >= min_sin) & (s_obs >= min_sin)
    return np.where(ok[..., None, None], full, rotation_between(rest1, obs1))


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(c), np.zeros_like(c)
    i, j = (axis + 1) % 3, (axis + 2) % 3
    m = np.zeros((*np.shape(angle), 3, 3))
    m[..., axis, axis] = one
    m[..., i, i], m[..., j, j] = c, c
    m[..., i, j], m[..., j, i] = -s, s
    return m + zero[..., None, None]


def _order(order: str) -> tuple[int, int, int]:
    axes = tuple(_AXES.get(a, -1) for a in order.upper())
    if len(axes) != 3 or sorted(axes) != [0, 1, 2]:
        raise ValueError(f"Euler order must be a permutation of 'XYZ' (e.g. 'ZXY'), got {order!r}")
    return axes  # type: ignore[return-value]


def euler_to_matrix(angles: ArrayLike, order: str = "ZXY") -> np.ndarray:
    """Intrinsic Euler angles (degrees) to rotation matrices: order "ZXY" is ``Rz(a) @ Rx(b) @ Ry(c)``.

    Args:
        angles: (..., 3) degrees, in the order named.
        order: A permutation of "XYZ", as BVH lists its rotation channels.

    Returns:
        (..., 3, 3) rotation matrices.
    """
    axes = _order(order)
    rad = np.deg2rad(np.asarray(angles, dtype=np.float64))
    m = _axis_rotation(axes[0], rad[..., 0])
    for k in (1, 2):
        m = m @ _axis_rotation(axes[k], rad[..., k])
    return m


def matrix_to_euler(matrix: ArrayLike, order: str = "ZXY") -> np.ndarray:
    """Rotation matrices to intrinsic Euler angles (degrees), the inverse of `euler_to_matrix`.

    Args:
        matrix: (..., 3, 3) rotation matrices.
        order: A permutation of "XYZ".

    Returns:
        (..., 3) degrees in the order named: first and last in (-180, 180], middle in [-90, 90]; at the
        middle angle +-90 (gimbal lock) the last angle is set to 0 and the first takes the whole rotation.
    """
    i, j, k = _order(order)
    r = np.asarray(matrix, dtype=np.float64)
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    sb = np.clip(sign * r[..., i, k], -1.0, 1.0)
    b = np.arcsin(sb)
    locked = np.abs(sb) > 1 - 1e-10
    a = np.where(locked, np.arctan2(sign * r[..., k, j], r[..., j, j]), np.arctan2(-sign * r[..., j, k], r[..., k, k]))
    c = np.where(locked, 0.0, np.arctan2(-sign * r[..., i, j], r[..., i, i]))
    return np.rad2deg(np.stack([a, b, c], -1))


def forward_kinematics(
    parents: Sequence[int], offsets: ArrayLike, local_rotations: ArrayLike, root_positions: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """World positions and rotations of a kinematic tree (BVH's rule, see the module docstring).

    Args:
        parents: (k,) parent of each joint, -1 for roots; parents before children.
        offsets: (k, 3) each joint's constant offset in its parent's frame (roots: ignored).
        local_rotations: (..., k, 3, 3) each joint's rotation relative to its parent.
        root_positions: (..., 3) world position of the roots (one per leading index; every root gets it).

    Returns:
        positions (..., k, 3) and world rotations (..., k, 3, 3).
    """
    parents = np.asarray(parents, dtype=np.intp)
    offsets = np.asarray(offsets, dtype=np.float64)
    local = np.asarray(local_rotations, dtype=np.float64)
    root = np.asarray(root_positions, dtype=np.float64)
    pos = np.empty((*local.shape[:-2], 3))
    rot = np.empty_like(local)
    for q, p in enumerate(parents):
        if p < 0:
            pos[..., q, :], rot[..., q, :, :] = root, local[..., q, :, :]
        else:
            if p >= q:
                raise ValueError(f"forward_kinematics: parent {p} of joint {q} must come before it")
            pos[..., q, :] = pos[..., p, :] + np.einsum("...ab,b->...a", rot[..., p, :, :], offsets[q])
            rot[..., q, :, :] = rot[..., p, :, :] @ local[..., q, :, :]
    return pos, rot


def hold_last_valid(values: ArrayLike, valid: ArrayLike, default: ArrayLike) -> np.ndarray:
    """Along axis 0 (time), replace each invalid entry with the last valid one before it, else `default`.

    Args:
        values: (t, ...) values.
        valid: (t,) or (t, ...) booleans, broadcastable to the leading axes of `values`.
        default: Value for entries with no valid one before them, broadcastable to ``values[0]``.

    Returns:
        (t, ...) float64 values.
    """
    x = np.asarray(values, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    ok = np.broadcast_to(ok.reshape(ok.shape + (1,) * (x.ndim - ok.ndim)), x.shape)
    idx = np.where(ok, np.arange(len(x)).reshape((-1,) + (1,) * (x.ndim - 1)), -1)
    idx = np.maximum.accumulate(idx, axis=0)
    held = np.take_along_axis(x, np.maximum(idx, 0), axis=0)
    return np.where(idx >= 0, held, np.broadcast_to(np.asarray(default, dtype=np.float64), x.shape))


def quaternion_matrices(quat: ArrayLike) -> np.ndarray:
    """Quaternions (w, x, y, z) to rotation matrices in float64 numpy; each quaternion is normalised first.

    The numpy twin of `lift3d.geometry.rotation.quaternion_to_matrix` (jax, the default float32), for file
    readers and kinematics that keep float64 without compiling; the two agree to float64 rounding.

    Args:
        quat: (..., 4) quaternions, scalar first (q and -q give the same rotation).

    Returns:
        (..., 3, 3) float64 rotation matrices (``world = R @ local``); NaN where the quaternion is 0 or not finite.
    """
    q = np.asarray(quat, dtype=np.float64)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = q / np.where(n > _EPS, n, np.nan)
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def axis_angle_matrices(axis: ArrayLike, angle: ArrayLike) -> np.ndarray:
    """Rotations by `angle` (radians, right-handed) about one fixed `axis` (a revolute joint), float64 numpy.

    Args:
        axis: (3,) rotation axis (normalised here; need not be unit).
        angle: (...) angles in radians.

    Returns:
        (..., 3, 3) rotation matrices (Rodrigues' formula).
    """
    k = np.asarray(axis, dtype=np.float64)
    norm = np.linalg.norm(k)
    if not np.isfinite(norm) or norm <= _EPS:
        raise ValueError(f"axis_angle_matrices: the axis must be a non-zero finite vector, got {k}")
    k = k / norm
    a = np.asarray(angle, dtype=np.float64)[..., None, None]
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(a) * kx + (1.0 - np.cos(a)) * (kx @ kx)


def look_at_matrices(eye: ArrayLike, target: ArrayLike, up: ArrayLike = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World->camera rotations (OpenCV camera: +z forward, +y down) of cameras at `eye` looking at `target`.

    The image's x axis is horizontal (no roll): ``x = forward x up`` normalised, ``y = forward x x``.

    Args:
        eye: (..., 3) camera centres (world).
        target: (..., 3) points looked at, broadcastable with `eye`.
        up: (3,) the world's up direction.

    Returns:
        (..., 3, 3) rotations R with ``x_cam = R @ (X - eye)``; rows are the camera axes in the world.

    Raises:
        ValueError: A camera looks straight along `up` (its roll is undefined) or eye = target.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    forward, dist = _unit(target - eye)
    right, width = _unit(np.cross(forward, up))
    if not (np.all(dist > _EPS) and np.all(np.isfinite(right))):
        raise ValueError("look_at_matrices: a camera sits on its target or looks straight up or down")
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=-2)

"""Rotations from directions, Euler angles in BVH channel orders, forward kinematics (float64 numpy)."""

import itertools

import numpy as np
import pytest

from lift3d.geometry.kinematics import (
    euler_to_matrix,
    forward_kinematics,
    hold_last_valid,
    matrix_to_euler,
    rotation_between,
    rotation_from_two,
)


def _random_rotations(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
    return q * np.linalg.det(q)[:, None, None]  # proper rotations


def _assert_rotations(r):
    np.testing.assert_allclose(np.swapaxes(r, -1, -2) @ r, np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("XYZ")])
def test_euler_round_trip_every_order(order):
    rng = np.random.default_rng(0)
    r = _random_rotations(rng, 200)
    angles = matrix_to_euler(r, order)
    assert np.all(np.abs(angles[:, 1]) <= 90)
    np.testing.assert_allclose(euler_to_matrix(angles, order), r, atol=1e-12)
    # gimbal lock: the middle angle at +-90 degrees still gives the same matrix back
    locked = euler_to_matrix(np.array([[30.0, 90.0, -50.0], [-120.0, -90.0, 10.0]]), order)
    np.testing.assert_allclose(euler_to_matrix(matrix_to_euler(locked, order), order), locked, atol=1e-9)


def test_zxy_is_rz_rx_ry():
    """BVH's 'Zrotation Xrotation Yrotation' means R = Rz(a) @ Rx(b) @ Ry(c), intrinsic."""
    a, b, c = 20.0, -35.0, 70.0
    rz, rx, ry = (euler_to_matrix(v, "ZXY") for v in ([a, 0, 0], [0, b, 0], [0, 0, c]))
    np.testing.assert_allclose(rz[:2, :2], [[np.cos(np.radians(a)), -np.sin(np.radians(a))],
                                            [np.sin(np.radians(a)), np.cos(np.radians(a))]], atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(euler_to_matrix([a, b, c], "ZXY"), rz @ rx @ ry, atol=1e-15)
    with pytest.raises(ValueError, match="permutation"):
        euler_to_matrix([0, 0, 0], "ZXX")


def test_rotation_between_is_the_smallest_swing():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 500, 3))
    b[:3] = -a[:3] * [[1.0], [2.0], [0.5]]  # opposite
    b[3:6] = a[3:6] + 1e-9 * rng.normal(size=(3, 3))  # almost equal
    r = rotation_between(a, b)
    _assert_rotations(r)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(np.einsum("nab,nb->na", r, unit(a)), unit(b), atol=1e-12)
    # the angle turned is the angle between the directions: no twist
    angle = np.arccos(np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    between = np.arccos(np.clip(np.sum(unit(a) * unit(b), -1), -1, 1))
    np.testing.assert_allclose(angle, between, atol=1e-6)
    assert np.isnan(rotation_between([0.0, 0, 0], [1.0, 0, 0])).all()
    assert np.isnan(rotation_between([np.nan, 0, 0], [1.0, 0, 0])).all()


def test_rotation_from_two_recovers_a_rotation_and_falls_back_to_swing():
    rng = np.random.default_rng(2)
    truth = _random_rotations(rng, 100)
    rest1, rest2 = rng.normal(size=(2, 100, 3))
    obs1, obs2 = (np.einsum("nab,nb->na", truth, v) * 1.7 for v in (rest1, rest2))  # lengths do not matter
    np.testing.assert_allclose(rotation_from_two(rest1, rest2, obs1, obs2, min_sin=0.0), truth, atol=1e-10)
    parallel = rotation_from_two(rest1, 2 * rest1, obs1, obs2)  # no twist information: swing only
    np.testing.assert_allclose(parallel, rotation_between(rest1, obs1), atol=1e-12)


def test_forward_kinematics_chain_and_hold_last_valid():
    parents = [-1, 0, 1, 0]
    offsets = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 2, 0], [0.0, 0, 3]])
    quarter = euler_to_matrix([90.0, 0, 0], "ZXY")  # +90 degrees about z
    local = np.stack([quarter, quarter, np.eye(3), np.eye(3)])[None]
    pos, rot = forward_kinematics(parents, offsets, local, np.array([[5.0, 0, 0]]))
    np.testing.assert_allclose(pos[0], [[5, 0, 0], [5, 1, 0], [5, -1, 0], [5, 0, 3]], atol=1e-12)
    np.testing.assert_allclose(rot[0, 2], quarter @ quarter, atol=1e-12)
    with pytest.raises(ValueError, match="before"):
        forward_kinematics([1, -1], offsets[:2], local[:, :2], np.zeros((1, 3)))
    values = np.array([[1.0], [np.nan], [3.0], [np.nan]])
    held = hold_last_valid(values, np.isfinite(values[:, 0]), [0.0])
    np.testing.assert_array_equal(held[:, 0], [1, 1, 3, 3])
    np.testing.assert_array_equal(
        hold_last_valid(values[::-1], np.isfinite(values[::-1, 0]), [7.0])[:, 0], [7, 3, 3, 1]
    )


def test_quaternion_matrices_match_the_jax_version_and_axis_angle():
    import jax

    from lift3d.geometry.kinematics import axis_angle_matrices, quaternion_matrices
    from lift3d.geometry.rotation import quaternion_to_matrix

    rng = np.random.default_rng(3)
    q = rng.normal(size=(50, 4))
    with jax.enable_x64(True):
        expected = np.asarray(quaternion_to_matrix(q))
    got = quaternion_matrices(q)
    np.testing.assert_allclose(got, expected, atol=1e-14)
    _assert_rotations(got)
    axis, angle = rng.normal(size=3), rng.uniform(-np.pi, np.pi, 50)
    unit = axis / np.linalg.norm(axis)
    quats = np.concatenate([np.cos(angle / 2)[:, None], np.sin(angle / 2)[:, None] * unit], axis=1)
    np.testing.assert_allclose(axis_angle_matrices(axis, angle), quaternion_matrices(quats), atol=1e-14)
    assert np.isnan(quaternion_matrices(np.zeros(4))).all()
    with pytest.raises(ValueError, match="non-zero"):
        axis_angle_matrices([0, 0, 0], 1.0)


def test_look_at_matrices():
    from lift3d.geometry.kinematics import look_at_matrices

    rng = np.random.default_rng(4)
    eye = rng.normal(size=(20, 3)) * 3
    target = rng.normal(size=(20, 3))
    R = look_at_matrices(eye, target)
    _assert_rotations(R)
    cam = np.einsum("nab,nb->na", R, target - eye)
    np.testing.assert_allclose(cam[:, :2], 0, atol=1e-12)  # the target on the optical axis, in front
    assert (cam[:, 2] > 0).all()
    np.testing.assert_allclose(R[:, 0, 2], 0, atol=1e-12)  # image x horizontal: no roll
    assert (R[:, 1, 2] <= 0).all()  # image y (down) has no upward component
    with pytest.raises(ValueError, match="straight up or down"):
        look_at_matrices([0, 0, 0], [0, 0, 1])

"""`lift3d.geometry.distortion`: the one lens model, on numpy float64 and jax, against OpenCV."""

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lift3d.geometry.distortion import (
    coefficients,
    distort,
    distort_fisheye,
    distort_xy,
    undistort,
    undistort_fisheye,
    undistort_xy,
)

PINHOLE = np.array([-0.28, 0.09, 0.0012, -0.0008, -0.012])
FISHEYE = np.array([0.05, 0.01, 0.005, 0.001, 0.0])


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def points(rng, n=400, radius=0.6):
    return rng.uniform(-radius, radius, (n, 2))


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_numpy_and_jax_paths_agree(model):
    """xp=numpy (float64, nothing compiled) and xp=jax.numpy (jitted) give the same distortion, Jacobians and
    inverse; the stacked JAX API is the same function."""
    rng = np.random.default_rng(0)
    xy = points(rng)
    dist = PINHOLE if model == "pinhole" else FISHEYE
    d = coefficients(dist)
    out_np = distort_xy(xy[:, 0], xy[:, 1], d, model=model, jacobian=True, xp=np)
    fn = jax.jit(lambda x, y, dd: distort_xy(x, y, coefficients(dd), model=model, jacobian=True, xp=jnp))
    out_jax = fn(xy[:, 0], xy[:, 1], dist)
    for a, b in zip(out_np, out_jax, strict=True):
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-13, atol=1e-15)
    stacked = (distort if model == "pinhole" else distort_fisheye)(xy, dist)
    np.testing.assert_allclose(np.asarray(stacked), np.stack(out_np[:2], -1), rtol=1e-13, atol=1e-15)
    xd = np.stack(out_np[:2], -1)
    back_np = np.stack(undistort_xy(xd[:, 0], xd[:, 1], d, model=model, num_iters=12, xp=np), -1)
    back_jax = (undistort if model == "pinhole" else undistort_fisheye)(xd, dist)
    np.testing.assert_allclose(np.asarray(back_jax), back_np, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(back_np, xy, atol=1e-10)


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_jacobians_match_finite_differences(model):
    rng = np.random.default_rng(1)
    xy = points(rng, 50, 0.5)
    dist = PINHOLE if model == "pinhole" else FISHEYE
    _, _, J, Jd = distort_xy(xy[:, 0], xy[:, 1], coefficients(dist), model=model, jacobian=True)
    eps = 1e-6
    for k in range(2):
        step = np.zeros(2)
        step[k] = eps
        hi = np.stack(distort_xy(*(xy + step).T, coefficients(dist), model=model)[:2], -1)
        lo = np.stack(distort_xy(*(xy - step).T, coefficients(dist), model=model)[:2], -1)
        np.testing.assert_allclose(J[..., k], (hi - lo) / (2 * eps), atol=1e-6)
    for k in range(4):
        step = np.zeros(5)
        step[k] = eps
        hi = np.stack(distort_xy(*xy.T, coefficients(dist + step), model=model)[:2], -1)
        lo = np.stack(distort_xy(*xy.T, coefficients(dist - step), model=model)[:2], -1)
        np.testing.assert_allclose(Jd[..., k], (hi - lo) / (2 * eps), atol=1e-6)


def test_numpy_path_matches_opencv_project_and_undistort():
    rng = np.random.default_rng(2)
    K = np.array([[1100.0, 0.0, 960.0], [0.0, 1080.0, 540.0], [0.0, 0.0, 1.0]])
    X = np.concatenate([points(rng, 200, 0.5), np.ones((200, 1))], 1) * rng.uniform(2, 6, (200, 1))
    ref = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K, PINHOLE)[0][:, 0]
    xd, yd, _, _ = distort_xy(X[:, 0] / X[:, 2], X[:, 1] / X[:, 2], coefficients(PINHOLE))
    np.testing.assert_allclose(np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], -1), ref, atol=1e-6)
    ref_fish = cv2.fisheye.projectPoints(X[:, None], np.zeros(3), np.zeros(3), K, FISHEYE[:4])[0][:, 0]
    xf, yf, _, _ = distort_xy(X[:, 0] / X[:, 2], X[:, 1] / X[:, 2], coefficients(FISHEYE), model="fisheye")
    np.testing.assert_allclose(np.stack([K[0, 0] * xf + K[0, 2], K[1, 1] * yf + K[1, 2]], -1), ref_fish, atol=1e-6)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)
    und = cv2.undistortPoints(ref[:, None], K, PINHOLE, None, None, None, criteria)[:, 0]
    ours = np.stack(undistort_xy((ref[:, 0] - K[0, 2]) / K[0, 0], (ref[:, 1] - K[1, 2]) / K[1, 1],
                                 coefficients(PINHOLE), num_iters=12), -1)
    np.testing.assert_allclose(ours, und, atol=1e-7)


def test_python_float_coefficients_and_reciprocal_path():
    """The fixed-rig kernels' form (coefficients as Python floats, zero terms dropped, a given reciprocal)
    computes the same numbers as the array form."""
    rng = np.random.default_rng(3)
    xy = points(rng)
    radial = (float(PINHOLE[0]), float(PINHOLE[1]), 0.0, 0.0, float(PINHOLE[4]))
    a = distort_xy(*xy.T, radial)[:2]
    b = distort_xy(*xy.T, coefficients(np.array(radial)))[:2]
    np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-16)
    full = tuple(float(c) for c in PINHOLE)
    xd = distort_xy(*xy.T, full)[:2]
    guarded = undistort_xy(*xd, full, num_iters=8)
    fast = undistort_xy(*xd, full, num_iters=8, reciprocal=lambda det: 1.0 / det)
    np.testing.assert_allclose(fast, guarded, atol=1e-14)
    np.testing.assert_allclose(np.stack(fast, -1), xy, atol=1e-10)

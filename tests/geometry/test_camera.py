"""Cameras, distortion and rotations against OpenCV and float64 round trips."""

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lift3d.geometry import rotation
from lift3d.geometry.camera import (
    Camera,
    camera_center,
    camera_from_projection,
    camera_to_world,
    crop_camera,
    project_points,
    projection_matrix,
    resize_camera,
    stack_cameras,
    undistort_points,
    world_to_camera,
)


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def random_rotations(rng, n):
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return axis * rng.uniform(0, np.pi, size=(n, 1))


def random_camera(rng, *, fisheye=False):
    w, h = rng.choice([640, 1000, 1088, 1920]), rng.choice([480, 1002, 1080, 1920])
    f = rng.uniform(0.6, 1.6) * max(w, h)
    K = np.array(
        [
            [f, 0, w / 2 + rng.normal(0, 10)],
            [0, f * rng.uniform(0.98, 1.02), h / 2 + rng.normal(0, 10)],
            [0, 0, 1],
        ]
    )
    if fisheye:
        dist = rng.normal(0, [0.05, 0.01, 0.005, 0.001])
    else:
        dist = np.array(
            [
                rng.uniform(-0.3, 0.1),
                rng.uniform(-0.1, 0.2),
                rng.normal(0, 1e-3),
                rng.normal(0, 1e-3),
                rng.uniform(-0.05, 0.05),
            ]
        )
    rvec = random_rotations(rng, 1)[0]
    R = cv2.Rodrigues(rvec)[0]
    t = rng.normal(0, 1, 3) + np.array([0, 0, 5.0])
    return Camera.create(K, R=R, t=t, dist=dist, image_size=[w, h], model="fisheye" if fisheye else "pinhole")


def points_in_view(rng, cam, n, margin=0.05):
    """World points whose projection lands inside the image (depth 1-8 units)."""
    w, h = cam.image_size
    uv = np.stack(
        [rng.uniform(margin * w, (1 - margin) * w, n), rng.uniform(margin * h, (1 - margin) * h, n)], -1
    )
    xy = np.asarray(undistort_points(cam, uv, normalized=True))
    depth = rng.uniform(1, 8, (n, 1))
    xc = np.concatenate([xy * depth, depth], -1)
    return np.asarray(camera_to_world(cam, xc)), uv


def test_project_points_equals_opencv():
    rng = np.random.default_rng(0)
    for _ in range(20):
        cam = random_camera(rng)
        X = rng.normal(0, 1.0, (200, 3))
        X = np.asarray(camera_to_world(cam, np.asarray(world_to_camera(cam, X)) * [1, 1, 0] + [0, 0, 4]))
        X = X + rng.normal(0, 0.5, X.shape)
        ours = np.asarray(project_points(cam, X))
        rvec = cv2.Rodrigues(np.asarray(cam.R))[0]
        ref = cv2.projectPoints(X, rvec, np.asarray(cam.t), np.asarray(cam.K), np.asarray(cam.dist))[0][:, 0]
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


def test_project_points_fisheye_equals_opencv():
    rng = np.random.default_rng(1)
    for _ in range(10):
        cam = random_camera(rng, fisheye=True)
        X, _ = points_in_view(rng, cam, 100)
        ours = np.asarray(project_points(cam, X))
        rvec = cv2.Rodrigues(np.asarray(cam.R))[0]
        ref = cv2.fisheye.projectPoints(
            X[:, None], rvec, np.asarray(cam.t), np.asarray(cam.K), np.asarray(cam.dist[:4])
        )[0][:, 0]
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("fisheye", [False, True])
def test_undistort_inverts_projection_inside_image(fisheye):
    rng = np.random.default_rng(2)
    for _ in range(10):
        cam = random_camera(rng, fisheye=fisheye)
        X, uv = points_in_view(rng, cam, 300)
        # undistort -> reproject lands back on the same distorted pixels
        np.testing.assert_allclose(np.asarray(project_points(cam, X)), uv, atol=1e-4, rtol=0)
        ideal = np.asarray(project_points(cam, X, apply_distortion=False))
        np.testing.assert_allclose(np.asarray(undistort_points(cam, uv)), ideal, atol=1e-4, rtol=0)


def test_undistort_matches_opencv():
    rng = np.random.default_rng(3)
    cam = random_camera(rng)
    _, uv = points_in_view(rng, cam, 100, margin=0.1)
    K, dist = np.asarray(cam.K), np.asarray(cam.dist)
    ref = cv2.undistortPoints(
        uv[:, None], K, dist, None, None, K, (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    )[:, 0]
    np.testing.assert_allclose(np.asarray(undistort_points(cam, uv)), ref, atol=1e-3)


def test_batched_rig_broadcasts_over_views_and_frames():
    rng = np.random.default_rng(4)
    cams = stack_cameras([random_camera(rng) for _ in range(4)])
    assert cams.batch_shape == (4,) and len(cams) == 4
    X = rng.normal(0, 0.5, (7, 1, 17, 3))  # (t, 1, j, 3) broadcast against 4 views
    uv = np.asarray(project_points(cams, X))
    assert uv.shape == (7, 4, 17, 2)
    for v in range(4):
        np.testing.assert_allclose(uv[:, v], np.asarray(project_points(cams[v], X[:, 0])), atol=1e-9)
    jitted = jax.jit(project_points)(cams, X)
    np.testing.assert_allclose(np.asarray(jitted), uv, atol=1e-9)


def test_projection_matrix_center_and_transforms():
    rng = np.random.default_rng(5)
    cam = random_camera(rng)
    X = rng.normal(0, 1, (10, 3))
    P = np.asarray(projection_matrix(cam))
    xh = np.concatenate([X, np.ones((10, 1))], -1) @ P.T
    np.testing.assert_allclose(
        xh[:, :2] / xh[:, 2:], np.asarray(project_points(cam, X, apply_distortion=False)), atol=1e-8
    )
    C = np.asarray(camera_center(cam))
    np.testing.assert_allclose(P @ np.append(C, 1.0), 0, atol=1e-8)
    np.testing.assert_allclose(np.asarray(camera_to_world(cam, world_to_camera(cam, X))), X, atol=1e-12)


def test_crop_and_resize_move_pixels_consistently():
    rng = np.random.default_rng(6)
    cam = random_camera(rng)
    X, uv = points_in_view(rng, cam, 50)
    cropped = crop_camera(cam, np.array([100.0, 50.0, 400.0, 350.0]))
    np.testing.assert_allclose(np.asarray(project_points(cropped, X)), uv - [100, 50], atol=1e-8)
    np.testing.assert_allclose(np.asarray(cropped.image_size), [300, 300])
    resized = resize_camera(cropped, [150, 75])
    expected = (uv - [100, 50] + 0.5) * [0.5, 0.25] - 0.5
    np.testing.assert_allclose(np.asarray(project_points(resized, X)), expected, atol=1e-8)


def test_camera_is_an_immutable_pytree():
    cam = Camera.create(np.eye(3) * [500, 500, 1] + [[0, 0, 320], [0, 0, 240], [0, 0, 0]])
    with pytest.raises(AttributeError):
        cam.K = np.eye(3)
    leaves, tree = jax.tree_util.tree_flatten(cam)
    assert len(leaves) == 5
    assert jax.tree_util.tree_unflatten(tree, leaves).model == "pinhole"
    np.testing.assert_allclose(cam.image_size, [640, 480])
    with pytest.raises(ValueError, match="model"):
        Camera.create(np.eye(3), model="orthographic")


def test_rotation_round_trips_float64():
    rng = np.random.default_rng(7)
    rvecs = np.concatenate(
        [
            random_rotations(rng, 500),
            rng.normal(0, 1e-6, (20, 3)),  # near the identity
            np.zeros((1, 3)),
            random_rotations(rng, 20)
            / np.linalg.norm(random_rotations(rng, 20), axis=-1, keepdims=True)
            * (np.pi - rng.uniform(0, 1e-7, (20, 1))),  # near 180 degrees
        ]
    )
    R = np.asarray(rotation.rodrigues_to_matrix(rvecs))
    for rv, r in zip(rvecs[:50], R[:50], strict=True):
        np.testing.assert_allclose(r, cv2.Rodrigues(rv)[0], atol=1e-12)
    assert bool(jnp.all(rotation.is_rotation_matrix(R, atol=1e-12)))
    R_back = np.asarray(rotation.rodrigues_to_matrix(rotation.matrix_to_rodrigues(R)))
    np.testing.assert_allclose(R_back, R, atol=1e-12)
    q = rotation.matrix_to_quaternion(R)
    np.testing.assert_allclose(np.asarray(rotation.quaternion_to_matrix(q)), R, atol=1e-12)
    np.testing.assert_allclose(
        np.asarray(rotation.rodrigues_to_quaternion(rotation.quaternion_to_rodrigues(q))),
        np.asarray(q),
        atol=1e-12,
    )
    small = rotation.matrix_to_rodrigues(rotation.rodrigues_to_matrix(rvecs[500:521]))
    np.testing.assert_allclose(np.asarray(small), rvecs[500:521], atol=1e-12)


def test_rodrigues_gradient_is_finite_at_identity():
    g = jax.grad(lambda r: rotation.rodrigues_to_matrix(r)[0, 1])(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(np.asarray(g), [0, 0, -1], atol=1e-12)


def test_camera_from_projection_inverts_projection_matrix_and_matches_opencv():
    rng = np.random.default_rng(3)
    R = np.stack([cv2.Rodrigues(rng.normal(0, 1, 3))[0] for _ in range(6)]).reshape(2, 3, 3, 3)
    K = np.tile(np.array([[1100.0, 0.3, 510.0], [0.0, 1090.0, 490.0], [0.0, 0.0, 1.0]]), (2, 3, 1, 1))
    K[..., 0, 0] += rng.uniform(-200, 200, (2, 3))
    cam = Camera.create(K=K, R=R, t=rng.normal(0, 2000, (2, 3, 3)))
    P = np.asarray(projection_matrix(cam), np.float64)
    back = camera_from_projection(-2.5 * P)  # any scale, either sign
    np.testing.assert_allclose(back.K, K, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(back.R, R, atol=1e-9)
    np.testing.assert_allclose(back.t, cam.t, rtol=1e-9, atol=1e-6)
    K_cv, R_cv, C_cv = cv2.decomposeProjectionMatrix(P[1, 2])[:3]
    np.testing.assert_allclose(back.K[1, 2], K_cv / K_cv[2, 2], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(back.R[1, 2], R_cv, atol=1e-9)
    np.testing.assert_allclose(np.asarray(camera_center(back))[1, 2], C_cv[:3, 0] / C_cv[3, 0], rtol=1e-9)

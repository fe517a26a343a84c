"""`lift3d.geometry.transforms`: the one similarity fit, numpy float64 and jax, and camera re-expression."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera, project_points
from lift3d.geometry.rotation import rodrigues_to_matrix
from lift3d.geometry.transforms import align_similarity, apply_similarity, transform_cameras


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def known_similarity(rng, n=20):
    src = rng.normal(0, 1, (n, 3))
    Q = np.asarray(rodrigues_to_matrix(rng.normal(0, 1, 3)))
    s, d = 1.7, np.array([0.3, -2.0, 5.0])
    return src, s * src @ Q.T + d, s, Q, d


def test_recovers_a_known_similarity_on_numpy_and_jax():
    src, dst, s, Q, d = known_similarity(np.random.default_rng(0))
    fit_np = align_similarity(src, dst, xp=np)
    np.testing.assert_allclose(fit_np.scale, s, rtol=1e-12)
    np.testing.assert_allclose(fit_np.rotation, Q, atol=1e-12)
    np.testing.assert_allclose(fit_np.translation, d, atol=1e-12)
    np.testing.assert_allclose(apply_similarity(fit_np, src, xp=np), dst, atol=1e-12)
    fit_jax = jax.jit(lambda a, b: align_similarity(a, b))(src, dst)
    for a, b in zip(fit_np, fit_jax, strict=True):
        np.testing.assert_allclose(np.asarray(b), a, atol=1e-12)


def test_weights_leave_points_out_and_reflections_are_refused():
    rng = np.random.default_rng(1)
    src, dst, s, Q, d = known_similarity(rng)
    dst_bad = dst.copy()
    dst_bad[:3] += 10.0
    w = np.ones(len(src), bool)
    w[:3] = False
    fit = align_similarity(src, dst_bad, w, xp=np)
    np.testing.assert_allclose(fit.rotation, Q, atol=1e-12)
    np.testing.assert_allclose(fit.scale, s, rtol=1e-12)
    mirrored = align_similarity(src, dst * [1, 1, -1], xp=np)  # a reflection: best proper rotation instead
    np.testing.assert_allclose(np.linalg.det(mirrored.rotation), 1.0, atol=1e-12)
    batch = align_similarity(jnp.stack([src, src]), jnp.stack([dst, dst_bad]), jnp.stack([w, w]))
    np.testing.assert_allclose(np.asarray(batch.rotation), np.stack([Q, Q]), atol=1e-12)


def test_transform_cameras_keeps_the_images():
    rng = np.random.default_rng(2)
    R = np.asarray(rodrigues_to_matrix(rng.normal(0, 0.3, (3, 3))))
    cams = Camera.create(np.tile(np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]]), (3, 1, 1)), R=R,
                         t=rng.normal(0, 0.5, (3, 3)) + [0, 0, 4])
    X = rng.normal(0, 0.5, (10, 3))
    _, _, s, Q, d = known_similarity(rng)
    moved = transform_cameras(cams, s, Q, d)
    np.testing.assert_allclose(np.asarray(project_points(moved, s * X @ Q.T + d)), np.asarray(project_points(cams, X)),
                               atol=1e-9)
    np.testing.assert_allclose(numpy_camera.camera_centres(moved), s * numpy_camera.camera_centres(cams) @ Q.T + d,
                               atol=1e-12)

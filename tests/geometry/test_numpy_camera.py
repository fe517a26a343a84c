"""`lift3d.geometry.numpy_camera`: the numpy camera model and triangulations against their JAX counterparts."""

import jax
import numpy as np
import pytest
from rigs import ring

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import project_points


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_numpy_triangulation_matches_the_jax_functions(model):
    """The float64 numpy twins agree with `geometry.camera` / `geometry.triangulation` (pinhole and fisheye)."""
    from lift3d.geometry.triangulation import reprojection_error, triangulate_dlt, triangulate_ransac

    rng = np.random.default_rng(6)
    cams = ring(4, model=model)
    X = rng.normal(size=(30, 5, 3)) * 0.5 + [0, 0, 1]
    with jax.enable_x64(True):
        uv = np.asarray(project_points(cams, X[:, None]), np.float64)  # (30, 4, 5, 2)
    np.testing.assert_allclose(
        numpy_camera.project(numpy_camera.camera_params(cams), X[:, None], model == "fisheye")[0], uv, atol=1e-9
    )
    xy = numpy_camera.undistort(numpy_camera.camera_params(cams), uv, model == "fisheye")
    xc = np.einsum("vij,tnj->tvni", np.asarray(cams.R), X) + np.asarray(cams.t)[:, None]
    np.testing.assert_allclose(xy, xc[..., :2] / xc[..., 2:], atol=1e-12)  # undistort inverts the lens
    uv = uv + rng.normal(0, 1.0, uv.shape)
    uv[:10, 2] += 80.0  # a wrong view: RANSAC leaves it out
    uv[20:, 3] = np.nan  # a missing view
    conf = rng.uniform(0.4, 1.0, uv.shape[:-1])
    conf[25:, 1] = 0.0  # and another: two views left
    with jax.enable_x64(True):
        X_dlt = np.asarray(triangulate_dlt(cams, uv, conf)[0])
        X_ran, info = triangulate_ransac(jax.random.key(0), cams, uv, conf, threshold_px=20.0)
        err = np.asarray(reprojection_error(cams, X_dlt, uv))
    np.testing.assert_allclose(numpy_camera.triangulate_weighted(cams, uv, conf), X_dlt, atol=1e-7)
    np.testing.assert_allclose(numpy_camera.reprojection_errors(cams, X_dlt, uv), err, atol=1e-7)
    X_in, used = numpy_camera.triangulate_inliers(cams, uv, conf, threshold_px=20.0)
    np.testing.assert_array_equal(used, np.asarray(info.views_used))
    np.testing.assert_allclose(X_in, np.asarray(X_ran), atol=1e-7)
    assert not used[:10, 2].any() and used[10:20, 2].all() and np.abs(X_in - X)[:20].max() < 0.01


def test_rotvec_to_matrix_equals_scipy_near_zero_and_pi():
    """Rodrigues' formula in numpy (no scipy.spatial import for short commands) against scipy's rotations."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(3)
    for angle in (0.0, 1e-9, 1e-5, 1e-3, 0.5, 2.0, np.pi - 1e-6):
        axis = rng.normal(size=(20, 3))
        w = axis / np.linalg.norm(axis, axis=1, keepdims=True) * angle
        np.testing.assert_allclose(numpy_camera.rotvec_to_matrix(w), Rotation.from_rotvec(w).as_matrix(), atol=1e-15)
    assert numpy_camera.rotvec_to_matrix(np.zeros((2, 4, 3))).shape == (2, 4, 3, 3)

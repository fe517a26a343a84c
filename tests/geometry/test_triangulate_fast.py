"""`make_triangulator`: float64 references of its estimator, agreement with `triangulate_dlt` / `triangulate_ransac`,
masks, batching, OpenCV undistortion and the fallbacks (fisheye, traced inputs)."""

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rigs import jittered_ring

from lift3d.geometry.camera import project_points
from lift3d.geometry.triangulation import make_triangulator, newton_steps_for, triangulate_dlt, triangulate_ransac

TARGET = np.array([0.5, -0.3, 1.0])
J = 32  # joints per frame in every test (one compiled shape per rig and layout)


def make_rig(rng, v, *, dist=(-0.12, 0.05, 1e-3, -5e-4, 0.0), model="pinhole"):
    """v portrait cameras on a ring of radius ~4 m around TARGET."""
    return jittered_ring(rng, v, TARGET, dist=dist, model=model)


def project64(cams, X):
    with jax.enable_x64(True):
        return np.asarray(project_points(cams, np.asarray(X, np.float64)[..., None, :, :]))


def random_points(rng, shape):
    return TARGET + rng.uniform(-1, 1, (*shape, 3)) * [0.7, 0.7, 0.9]


def reference(cams, uv, conf):
    """Float64 numpy evaluation of the estimator: OpenCV-undistorted normalised rows (scaled by fx / fy and the
    confidence) in the rig frame, least squares with the homogeneous coordinate fixed to 1. uv (v, n, 2)."""
    R, t, K = (np.asarray(a, np.float64) for a in (cams.R, cams.t, cams.K))
    centers = -np.einsum("vki,vk->vi", R, t)
    c = centers.mean(0)
    s = np.sqrt(np.mean(np.sum((centers - c) ** 2, -1)))
    A, b = [], []
    for i in range(len(cams)):
        ok = np.isfinite(uv[i]).all(-1) & (np.nan_to_num(conf[i]) > 0)
        xy = cv2.undistortPoints(np.nan_to_num(uv[i]).reshape(-1, 1, 2), K[i], np.asarray(cams.dist[i]))
        xy = xy.reshape(-1, 2)
        P = np.concatenate([R[i], ((R[i] @ c + t[i]) / s)[:, None]], 1)
        for r in range(2):
            row = K[i, r, r] * np.where(ok, conf[i], 0)[:, None] * (xy[:, r:r + 1] * P[2] - P[r])
            A.append(row[:, :3])
            b.append(-row[:, 3])
    A, b = np.stack(A, 1), np.stack(b, 1)  # (n, 2v, 3), (n, 2v)
    count = sum(np.isfinite(uv[i]).all(-1) & (np.nan_to_num(conf[i]) > 0) for i in range(len(cams)))
    M = np.where((count >= 2)[:, None, None], np.einsum("nri,nrk->nik", A, A), np.eye(3))
    Y = np.linalg.solve(M, np.einsum("nri,nr->ni", A, b)[..., None])[..., 0]
    return np.where((count >= 2)[:, None], c + s * Y, np.nan)


def svd_dlt_pixels(cams, uv):
    """The classic float64 DLT on OpenCV-undistorted pixels with P = K [R | t], world frame. uv (v, n, 2)."""
    rows = []
    for i in range(len(cams)):
        K = np.asarray(cams.K[i])
        x = cv2.undistortPoints(uv[i].reshape(-1, 1, 2), K, np.asarray(cams.dist[i]), P=K).reshape(-1, 2)
        P = K @ np.concatenate([np.asarray(cams.R[i]), np.asarray(cams.t[i])[:, None]], 1)
        rows += [x[:, :1] * P[2] - P[0], x[:, 1:] * P[2] - P[1]]
    h = np.linalg.svd(np.stack(rows, 1))[2][:, -1]
    return h[:, :3] / h[:, 3:]


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    cams = make_rig(rng, 4)
    X = random_points(rng, (2, J))
    uv = project64(cams, X.reshape(-1, 3)).reshape(4, 2, J, 2).transpose(1, 0, 2, 3)  # (2, v, J, 2)
    noisy = uv + rng.normal(0, 1.0, uv.shape)
    return cams, X, noisy, make_triangulator(cams)


def test_matches_float64_reference_dlt_and_svd(scene):
    cams, X, noisy, fast = scene
    uv_vn = noisy.transpose(1, 0, 2, 3).reshape(4, -1, 2)
    ref = reference(cams, uv_vn, np.ones(uv_vn.shape[:-1])).reshape(X.shape)
    with jax.enable_x64(True):
        X64 = make_triangulator(cams, num_undistort_iters=12)(noisy)
    assert X64.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(X64), ref, atol=1e-9)  # the estimator, exactly
    X32 = np.asarray(fast(noisy.astype(np.float32)))
    assert X32.dtype == np.float32 and X32.shape == X.shape
    assert np.max(np.linalg.norm(X32 - ref, axis=-1)) < 1e-5  # float32 within 0.01 mm
    X_dlt = np.asarray(triangulate_dlt(cams, noisy.astype(np.float32), np.ones(noisy.shape[:-1], np.float32))[0])
    assert np.max(np.linalg.norm(X32 - X_dlt, axis=-1)) < 2e-5  # homogeneous vs inhomogeneous: micrometres
    svd = svd_dlt_pixels(cams, uv_vn).reshape(X.shape)
    err_fast, err_svd = (np.linalg.norm(a - X, axis=-1).mean() for a in (X32, svd))
    assert err_fast < 1.01 * err_svd  # no worse than the float64 SVD DLT (within 1 %)


def test_masks_agree_with_dlt_and_reference(scene):
    cams, _, noisy, fast = scene
    rng = np.random.default_rng(3)
    uv = noisy.astype(np.float32).copy()
    conf = rng.uniform(0.3, 1.0, uv.shape[:-1]).astype(np.float32)
    conf[:, 2, ::2] = 0.0  # confidence 0
    uv[:, 3, 1::4] = np.nan  # NaN coordinates
    conf[:, 1:, 0] = 0  # joint 0: one view -> NaN
    uv[:, :, 1] = np.nan  # joint 1: none -> NaN
    conf[:, 2:, 2] = 0  # joint 2: exactly two views
    conf[:, 0, 3] = np.nan  # NaN confidence masks too
    X, info = fast(uv, conf, return_info=True)
    X = np.asarray(X)
    assert np.all(np.isnan(X[:, :2])) and np.all(np.isfinite(X[:, 2:]))
    X_dlt, dlt_info = triangulate_dlt(cams, uv, np.nan_to_num(conf))  # (same compiled shape as above)
    assert np.max(np.linalg.norm(X[:, 2:] - np.asarray(X_dlt)[:, 2:], axis=-1)) < 2e-5
    np.testing.assert_array_equal(np.asarray(info.views_used), np.asarray(dlt_info.views_used))
    np.testing.assert_array_equal(np.asarray(info.num_views), np.asarray(dlt_info.num_views))
    assert info.mean_error_px is None
    uv_vn, conf_vn = uv.transpose(1, 0, 2, 3).reshape(4, -1, 2), conf.transpose(1, 0, 2).reshape(4, -1)
    ref = reference(cams, uv_vn.astype(np.float64), conf_vn.astype(np.float64)).reshape(X.shape)
    np.testing.assert_array_equal(np.isnan(X), np.isnan(ref))
    assert np.nanmax(np.linalg.norm(X - ref, axis=-1)) < 1e-5
    garbage = uv.copy()
    garbage[:, 2, ::2] = 1e7  # weight 0: ignored
    np.testing.assert_allclose(np.asarray(fast(garbage, conf)), X, atol=1e-6)


def test_batching_broadcast_and_errors(scene):
    cams, _, noisy, fast = scene
    uv = noisy.astype(np.float32)
    X = np.asarray(fast(uv))  # confidence None = all ones
    np.testing.assert_allclose(np.asarray(fast(uv, np.ones((4, J)))), X, atol=1e-6)  # (v, j) broadcast
    np.testing.assert_allclose(np.asarray(fast(jnp.asarray(uv))), X, atol=1e-6)  # jax arrays in
    # (no leading axis: see test_newton_steps_match_opencv_undistortion)
    with pytest.raises(ValueError, match=r"points_2d must have shape \(\.\.\., 4, j, 2\)"):
        fast(uv[:, :3])
    with pytest.raises(ValueError, match="confidence of shape"):
        fast(uv, np.ones((2, 4, J + 1)))
    with pytest.raises(ValueError, match="batch shape"):
        make_triangulator(jax.tree_util.tree_map(lambda a: np.stack([a, a]), cams))
    # traced (inside jit) the kernels cannot run: the jit-able triangulate_dlt is called instead
    jaxpr = jax.make_jaxpr(lambda a, c: fast(a, c))(uv, np.ones(uv.shape[:-1], np.float32))
    assert "triangulate_dlt" in str(jaxpr) and jaxpr.out_avals[0].shape == (2, J, 3)


def test_newton_steps_match_opencv_undistortion():
    rng = np.random.default_rng(1)
    assert newton_steps_for(make_rig(rng, 2, dist=None)) == 0
    mild = make_rig(rng, 2, dist=(-0.05, 0.02, 1e-4, 1e-4, 0.0))
    strong = make_rig(rng, 2, dist=(-0.3, 0.12, 1e-3, -5e-4, 0.0))
    steps_mild, steps_strong = newton_steps_for(mild), newton_steps_for(strong)
    assert 1 <= steps_mild <= 2 < steps_strong <= 4
    # with that many steps the kernel undistorts as OpenCV does: noise-free points come back exactly (float32)
    # and equal the float64 reference, which undistorts with cv2.undistortPoints
    X = random_points(rng, (J,))
    uv = project64(strong, X)  # (2, J, 2), no leading axis
    a = np.asarray(make_triangulator(strong)(uv.astype(np.float32)))
    assert np.max(np.linalg.norm(a - reference(strong, uv, np.ones((2, J))), axis=-1)) < 1e-5
    assert np.max(np.linalg.norm(a - X, axis=-1)) < 1e-5


def outlier_scene(v=3):
    """v views, 1 px noise, and in every joint one random view moved by 40-120 px (a wrong detection)."""
    rng = np.random.default_rng(7)
    cams = make_rig(rng, v)
    X = random_points(rng, (J,))
    uv = project64(cams, X) + rng.normal(0, 1.0, (v, J, 2))
    which = rng.integers(0, v, J)
    bad = uv.copy()
    bad[which, np.arange(J)] += rng.choice([-1, 1], (J, 2)) * rng.uniform(40, 120, (J, 2))
    conf = rng.uniform(0.5, 1.0, (v, J))
    return cams, X, bad.astype(np.float32), conf.astype(np.float32), which


def test_robust_mode_equals_triangulate_ransac():
    cams, X, bad, conf, which = outlier_scene()
    robust = make_triangulator(cams, robust=True, threshold_px=10.0)
    Xr, info = robust(bad, conf, return_info=True)
    Xs, ref = triangulate_ransac(jax.random.key(0), cams, bad, conf, threshold_px=10.0)
    # the same views are chosen for every joint, the points agree to micrometres and the outliers are gone
    np.testing.assert_array_equal(np.asarray(info.views_used), np.asarray(ref.views_used))
    np.testing.assert_array_equal(np.asarray(info.num_views), np.asarray(ref.num_views))
    np.testing.assert_allclose(np.asarray(info.mean_error_px), np.asarray(ref.mean_error_px), atol=1e-3)
    assert np.max(np.linalg.norm(np.asarray(Xr) - np.asarray(Xs), axis=-1)) < 2e-5
    assert not np.asarray(info.views_used)[which, np.arange(J)].any()
    assert np.mean(np.linalg.norm(np.asarray(Xr) - X, axis=-1)) < 0.005
    # masks: a joint with one valid view is NaN and uses no view
    conf2 = conf.copy()
    conf2[1:, 0] = 0
    Xm, info_m = robust(bad, conf2, return_info=True)
    assert np.isnan(np.asarray(Xm)[0]).all() and int(info_m.num_views[0]) == 0
    np.testing.assert_allclose(np.asarray(Xm)[1:], np.asarray(Xr)[1:])


def test_fisheye_falls_back_to_triangulate_dlt(monkeypatch):
    import lift3d.geometry.triangulation.fixed_rig as fast_module

    calls = []

    def spy(cameras, points_2d, confidence=None, *, undistort=True):
        calls.append((cameras.model, np.shape(points_2d), undistort))
        return np.zeros((J, 3)), None

    monkeypatch.setattr(fast_module, "triangulate_dlt", spy)  # the fallback is wiring: no need to compile it
    fish = make_rig(np.random.default_rng(4), 3, dist=(0.05, 0.01, 0.005, 0.001), model="fisheye")
    out = make_triangulator(fish)(np.zeros((3, J, 2), np.float32))
    assert calls == [("fisheye", (3, J, 2), True)] and out.shape == (J, 3)

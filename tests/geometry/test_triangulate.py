"""Triangulation against float64 references, OpenCV, scipy, and the real Pose2Sim balancing trial."""

import glob
import itertools
import json
import os
import tomllib

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from rigs import look_at
from scipy.optimize import least_squares

from lift3d.core.skeleton import BODY_25B
from lift3d.geometry.camera import Camera, project_points, stack_cameras
from lift3d.geometry.rotation import rodrigues_to_matrix
from lift3d.geometry.triangulation import (
    fixed_rig_applies,
    refine_points,
    repair_left_right_swaps,
    reprojection_error,
    triangulate_dlt,
    triangulate_pose2sim,
    triangulate_ransac,
    triangulate_sequence,
)
from lift3d.geometry.triangulation import sequence as sequence_module

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "pose2sim_trials")
TARGET = np.array([0.5, -0.3, 1.0])


def make_rig(rng, v=5, *, distortion=True, model="pinhole"):
    """v portrait cameras on a ring of radius ~4 around TARGET, looking at it, with lens distortion."""
    cams = []
    for i in range(v):
        a = 2 * np.pi * i / v + rng.normal(0, 0.2)
        center = TARGET + [4 * np.cos(a), 4 * np.sin(a), rng.uniform(0.2, 1.5)]
        R, t = look_at(center, TARGET + rng.normal(0, 0.2, 3))
        f = rng.uniform(1300, 1800)
        K = np.array([[f, 0, 540 + rng.normal(0, 5)], [0, f * 1.002, 960 + rng.normal(0, 5)], [0, 0, 1]])
        if not distortion:
            dist = None
        elif model == "fisheye":
            dist = rng.normal(0, [0.05, 0.01, 0.005, 0.001])
        else:
            dist = [rng.uniform(-0.25, -0.1), rng.uniform(0.0, 0.1), 1e-3, -5e-4, 0.0]
        cams.append(Camera.create(K, R=R, t=t, dist=dist, image_size=[1088, 1920], model=model))
    return stack_cameras(cams)


def project64(cams, X):
    with jax.enable_x64(True):
        return np.asarray(project_points(cams, np.asarray(X, np.float64)[..., None, :, :]))


def random_points(rng, n):
    return TARGET + rng.uniform(-1, 1, (n, 3)) * [0.7, 0.7, 0.9]


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    cams = make_rig(rng, 5)
    X = random_points(rng, 64)
    uv = project64(cams, X)  # (v, j, 2)
    noisy = uv + rng.normal(0, 1.0, uv.shape)
    return cams, X, uv, noisy


def undistort_cv(cams, uv, i, P=None):
    K, d = np.asarray(cams.K[i]), np.asarray(cams.dist[i])
    return cv2.undistortPoints(uv[i].reshape(-1, 1, 2), K, d, P=P).reshape(-1, 2)


def svd_dlt(rows):
    """rows (n, 2v, 4) -> points (n, 3) by the float64 SVD."""
    h = np.linalg.svd(rows)[2][:, -1]
    return h[:, :3] / h[:, 3:]


def dlt_reference_same_frame(cams, uv):
    """The float64 SVD DLT of lift3d's formulation (normalised rows, fx/fy scaling, rig frame): (j, 3)."""
    R, t, K = np.asarray(cams.R), np.asarray(cams.t), np.asarray(cams.K)
    centers = -np.einsum("vji,vj->vi", R, t)
    c = centers.mean(0)
    s = np.sqrt(np.mean(np.sum((centers - c) ** 2, -1)))
    rows = []
    for i in range(len(cams)):
        xy = undistort_cv(cams, uv, i)
        P = np.concatenate([R[i], ((R[i] @ c + t[i]) / s)[:, None]], 1)
        rows += [K[i, 0, 0] * (xy[:, :1] * P[2] - P[0]), K[i, 1, 1] * (xy[:, 1:] * P[2] - P[1])]
    return c + s * svd_dlt(np.stack(rows, 1))


def dlt_reference_pixels(cams, uv):
    """The classic DLT (EasyMocap, Pose2Sim, OpenCV) on undistorted pixels with P = K [R | t], world frame."""
    rows = []
    for i in range(len(cams)):
        x = undistort_cv(cams, uv, i, P=np.asarray(cams.K[i]))
        P = np.asarray(cams.K[i]) @ np.concatenate([np.asarray(cams.R[i]), np.asarray(cams.t[i])[:, None]], 1)
        rows += [x[:, :1] * P[2] - P[0], x[:, 1:] * P[2] - P[1]]
    return svd_dlt(np.stack(rows, 1))


# ------------------------------------------------------------------------------------------------ DLT


def test_dlt_equals_float64_svd_reference(scene):
    cams, X, _, noisy = scene
    ref = dlt_reference_same_frame(cams, noisy)
    with jax.enable_x64(True):
        X64, info = triangulate_dlt(cams, noisy)
        X64_eigh, _ = triangulate_dlt(cams, noisy, solver="eigh")
    np.testing.assert_allclose(np.asarray(X64), ref, atol=1e-9)
    np.testing.assert_allclose(np.asarray(X64_eigh), ref, atol=1e-9)
    assert np.all(np.asarray(info.num_views) == 5)
    # float32, the library default: within a few micrometres of the float64 solution (rig radius 4 m).
    X32, _ = triangulate_dlt(cams, noisy.astype(np.float32))
    assert X32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(X32), ref, atol=2e-5)
    # The classic pixel-space DLT minimises a slightly different algebraic error: same answer to ~3 % of the
    # noise-induced error; both recover the truth to the noise level (1 px at ~4 m with f ~ 1500 px).
    pix = dlt_reference_pixels(cams, noisy)
    err = np.linalg.norm(ref - X, axis=-1)
    assert np.max(np.linalg.norm(pix - ref, axis=-1)) < 0.03 * np.mean(err) + 1e-6
    assert np.mean(err) < 3e-3


def test_dlt_noise_free_float32(scene):
    cams, X, uv, _ = scene
    X32, _ = triangulate_dlt(cams, uv.astype(np.float32))
    assert np.max(np.abs(np.asarray(X32) - X)) < 1e-5


def test_dlt_fisheye_noise_free():
    rng = np.random.default_rng(3)
    cams = make_rig(rng, 4, model="fisheye")
    X = random_points(rng, 16)
    with jax.enable_x64(True):
        Xt, _ = triangulate_dlt(cams, project64(cams, X))
    np.testing.assert_allclose(np.asarray(Xt), X, atol=1e-9)


def test_dlt_matches_cv2_triangulate_points_two_views():
    rng = np.random.default_rng(1)
    cams = make_rig(rng, 2, distortion=False)
    X = random_points(rng, 32)
    uv = project64(cams, X) + rng.normal(0, 0.5, (2, 32, 2))
    P = [np.asarray(cams.K[i]) @ np.concatenate([cams.R[i], cams.t[i][:, None]], 1) for i in range(2)]
    h = cv2.triangulatePoints(P[0], P[1], uv[0].T.copy(), uv[1].T.copy())
    ref = (h[:3] / h[3]).T
    Xt, _ = triangulate_dlt(cams, uv.astype(np.float32), undistort=False)
    scatter = np.mean(np.linalg.norm(ref - X, axis=-1))
    assert np.max(np.linalg.norm(np.asarray(Xt) - ref, axis=-1)) < 0.05 * scatter + 2e-5


def test_zero_weight_equals_removed_view_and_nan_equals_zero_weight(scene):
    cams, _, _, noisy = scene
    rng = np.random.default_rng(2)
    conf = rng.uniform(0.3, 1.0, noisy.shape[:-1])
    conf[2, ::2] = 0.0
    keep = [0, 1, 3, 4]
    with jax.enable_x64(True):
        X_w, info = triangulate_dlt(cams, noisy, conf)
        X_rm, _ = triangulate_dlt(cams[np.array(keep)], noisy[keep], conf[keep])
        garbage = noisy.copy()
        garbage[2, ::2] = 1e7  # ignored: weight 0
        X_g, _ = triangulate_dlt(cams, garbage, conf)
        nan = noisy.copy()
        nan[2, ::2] = np.nan
        X_nan, _ = triangulate_dlt(cams, nan, np.where(conf > 0, conf, 0.7))
    np.testing.assert_allclose(np.asarray(X_w)[::2], np.asarray(X_rm)[::2], atol=1e-12)
    assert not np.allclose(np.asarray(X_w)[1::2], np.asarray(X_rm)[1::2], atol=1e-6)  # weights do matter
    np.testing.assert_array_equal(np.asarray(X_g), np.asarray(X_w))
    np.testing.assert_allclose(np.asarray(X_nan), np.asarray(X_w), atol=1e-12)
    np.testing.assert_array_equal(np.asarray(info.num_views)[::2], 4)


def test_fewer_than_two_views_gives_nan(scene):
    cams, _, _, noisy = scene
    uv = noisy.astype(np.float32).copy()
    conf = np.ones(uv.shape[:-1], np.float32)
    conf[1:, 0] = 0  # joint 0: one view
    uv[:, 1] = np.nan  # joint 1: none
    conf[2:, 2] = 0  # joint 2: exactly two views
    X, info = triangulate_dlt(cams, uv, conf)
    X = np.asarray(X)
    assert np.all(np.isnan(X[:2])) and np.all(np.isfinite(X[2:]))
    np.testing.assert_array_equal(np.asarray(info.num_views)[:4], [0, 0, 2, 5])
    assert not np.asarray(info.views_used)[:, :2].any()


def test_jit_equals_eager_and_batching(scene):
    cams, _, _, noisy = scene
    frames = [noisy.astype(np.float32), (noisy + 0.5).astype(np.float32)]
    X_jit, _ = triangulate_dlt(cams, np.stack(frames))  # (2, v, j, 2): a leading frame axis
    for i, frame in enumerate(frames):
        X_i, _ = triangulate_dlt(cams, frame)
        np.testing.assert_allclose(np.asarray(X_jit)[i], np.asarray(X_i), atol=1e-6)
    with jax.disable_jit():  # op by op: slow to start, so on a single tiny frame
        X_eager, _ = triangulate_dlt(cams, frames[0][:, :2])
    np.testing.assert_allclose(np.asarray(X_jit)[0, :2], np.asarray(X_eager), atol=1e-5)
    # cameras with a leading frame axis (..., v) broadcast against the points' leading axes
    cams2 = jax.tree_util.tree_map(lambda a: np.stack([a, a]), cams)
    X2, _ = triangulate_dlt(cams2, np.stack(frames))
    np.testing.assert_allclose(np.asarray(X2), np.asarray(X_jit), atol=1e-6)


def test_dlt_gradients_are_finite_and_match_finite_differences(scene):
    cams, _, _, noisy = scene
    uv = noisy[:, :6].copy()
    conf = np.full(uv.shape[:-1], 0.8)
    conf[1:, 5] = 0  # joint 5 has one view: NaN output, but no NaN gradient may leak into the others
    with jax.enable_x64(True):
        def f(c):
            X, _ = triangulate_dlt(cams, uv, c)
            return jnp.nansum(X**2)

        g = np.asarray(jax.grad(f)(conf))
        step = np.zeros_like(conf)
        step[2, 3] = 1e-6
        fd = float((f(conf + step) - f(conf - step)) / 2e-6)
    assert np.all(np.isfinite(g))
    assert np.allclose(g[2, 3], fd, rtol=1e-5) and abs(fd) > 0


def test_reprojection_error_matches_cv2(scene):
    cams, X, _, noisy = scene
    err = np.asarray(reprojection_error(cams, X.astype(np.float32), noisy.astype(np.float32)))
    for i in range(len(cams)):
        proj = cv2.projectPoints(X, cv2.Rodrigues(np.asarray(cams.R[i]))[0], np.asarray(cams.t[i]),
                                 np.asarray(cams.K[i]), np.asarray(cams.dist[i]))[0][:, 0]
        np.testing.assert_allclose(err[i], np.linalg.norm(proj - noisy[i], axis=-1), atol=2e-3)
    missing = noisy.copy()
    missing[0, 3] = np.nan
    assert np.isnan(np.asarray(reprojection_error(cams, X, missing))[0, 3])


# ------------------------------------------------------------------------------------------------ refinement


def test_refinement_reaches_float64_optimum(scene):
    cams, X, _, noisy = scene
    conf = np.random.default_rng(4).uniform(0.5, 1.0, noisy.shape[:-1])
    X0, _ = triangulate_dlt(cams, noisy.astype(np.float32), conf.astype(np.float32))
    X1 = refine_points(cams, X0, noisy.astype(np.float32), conf.astype(np.float32))
    cost = lambda P: np.sum((conf * np.asarray(reprojection_error(cams, P, noisy))) ** 2, 0)  # noqa: E731
    assert np.all(cost(np.asarray(X1, np.float64)) <= cost(np.asarray(X0, np.float64)) + 1e-6)
    assert np.mean(cost(np.asarray(X1, np.float64))) < np.mean(cost(np.asarray(X0, np.float64)))
    with jax.enable_x64(True):
        X64 = np.asarray(refine_points(cams, np.asarray(X0, np.float64), noisy, conf))
    for k in range(4):  # scipy's trust-region least squares on cv2.projectPoints, float64
        def residual(p, k=k):
            out = []
            for i in range(len(cams)):
                rvec = cv2.Rodrigues(np.asarray(cams.R[i]))[0]
                proj = cv2.projectPoints(p[None], rvec, np.asarray(cams.t[i]), np.asarray(cams.K[i]),
                                         np.asarray(cams.dist[i]))[0][0, 0]
                out.append(conf[i, k] * (proj - noisy[i, k]))
            return np.concatenate(out)

        ref = least_squares(residual, np.asarray(X0[k], np.float64), xtol=1e-14, ftol=1e-14, gtol=1e-14).x
        np.testing.assert_allclose(X64[k], ref, atol=1e-8)
        np.testing.assert_allclose(np.asarray(X1[k]), ref, atol=2e-5)


def test_robust_refinement_resists_an_outlier(scene):
    cams, X, uv, _ = scene
    bad = uv.astype(np.float32).copy()
    bad[0] += 60.0  # view 0 off by 85 px everywhere
    conf = np.ones(bad.shape[:-1], np.float32)
    X0, _ = triangulate_dlt(cams, bad)
    plain = refine_points(cams, X0, bad, conf)
    robust = refine_points(cams, X0, bad, conf, robust="cauchy", scale_px=5.0)
    err = lambda P: np.mean(np.linalg.norm(np.asarray(P) - X, axis=-1))  # noqa: E731
    assert err(robust) < 0.2 * err(plain)
    nan_in = np.asarray(X0).copy()
    nan_in[0] = np.nan
    assert np.all(np.isnan(np.asarray(refine_points(cams, nan_in, bad, conf))[0]))


# ------------------------------------------------------------------------------------------------ robust


def outlier_scene(seed=5, v=5, n=64):
    rng = np.random.default_rng(seed)
    cams = make_rig(rng, v)
    X = random_points(rng, n)
    clean = project64(cams, X) + rng.normal(0, 0.7, (v, n, 2))
    bad = clean.copy()
    which = rng.integers(0, v, n)
    bad[which, np.arange(n)] += rng.choice([-1, 1], (n, 2)) * rng.uniform(60, 300, (n, 2))
    return cams, X, clean.astype(np.float32), bad.astype(np.float32), which


def test_ransac_recovers_points_despite_one_outlier_view_per_joint():
    cams, X, clean, bad, which = outlier_scene()
    X_clean, _ = triangulate_dlt(cams, clean)
    noise_level = np.mean(np.linalg.norm(np.asarray(X_clean) - X, axis=-1))
    X_dlt, _ = triangulate_dlt(cams, bad)
    assert np.mean(np.linalg.norm(np.asarray(X_dlt) - X, axis=-1)) > 10 * noise_level
    for exhaustive in (8, 3):  # all 10 pairs; then sampled pairs (v = 5 > 3)
        Xr, info = triangulate_ransac(jax.random.key(0), cams, bad, threshold_px=8.0,
                                      max_exhaustive_views=exhaustive)
        err = np.linalg.norm(np.asarray(Xr) - X, axis=-1)
        assert np.mean(err) < 1.5 * noise_level and np.max(err) < 6 * noise_level
        used = np.asarray(info.views_used)
        assert not used[which, np.arange(64)].any()
        np.testing.assert_array_equal(np.asarray(info.num_views), 4)
        assert np.all(np.asarray(info.mean_error_px) < 8.0)
    Xa, _ = triangulate_ransac(jax.random.key(1), cams, bad, threshold_px=8.0, max_exhaustive_views=3)
    Xb, _ = triangulate_ransac(jax.random.key(1), cams, bad, threshold_px=8.0, max_exhaustive_views=3)
    np.testing.assert_array_equal(np.asarray(Xa), np.asarray(Xb))


def pose2sim_rule(cams, uv, conf, lik=0.3, thr=15.0, min_cams=2):
    """Loop-by-loop reading of Pose2Sim's `triangulation_from_best_cameras` (one joint), lift3d DLT inside."""
    v = len(cams)
    valid = np.isfinite(uv).all(-1) & (conf >= lik)
    n_valid = valid.sum()
    result = (np.full(3, np.nan), None)
    for k in range(v - min_cams + 1):
        if n_valid - k < min_cams:
            break
        best = (np.inf, None, None)
        for off in itertools.combinations(range(v), k):
            keep = valid.copy()
            keep[list(off)] = False
            X, _ = triangulate_dlt(cams, uv[:, None], np.where(keep, conf, 0)[:, None])
            err = np.linalg.norm(project64(cams, np.asarray(X))[:, 0] - uv, axis=-1)[keep].mean()
            if err < best[0]:
                best = (err, np.asarray(X)[0], keep)
        result = best[1:]
        if best[0] <= thr:
            return result
    return np.full(3, np.nan), result[1]


def test_pose2sim_matches_its_loop_and_drops_the_bad_camera():
    rng = np.random.default_rng(6)
    cams = make_rig(rng, 4)
    X = random_points(rng, 12)
    uv = project64(cams, X) + rng.normal(0, 2.0, (4, 12, 2))
    conf = rng.uniform(0.5, 1.0, (4, 12))
    uv[2, 0] += [45.0, -30.0]  # joint 0: camera 2 is wrong -> dropped
    uv[1, 1] += [80.0, 0.0]
    uv[3, 1] += [0.0, 90.0]  # joint 1: two bad cameras -> dropped down to a good pair
    conf[0, 2] = 0.2  # joint 2: camera 0 below the likelihood threshold
    uv[:, 3] += rng.normal(0, 60, (4, 2))  # joint 3: noisy everywhere
    conf[:3, 4] = 0.1  # joint 4: a single usable camera -> NaN
    with jax.enable_x64(True):
        Xp, info = triangulate_pose2sim(cams, uv, conf, reprojection_threshold_px=15.0)
        used = np.asarray(info.views_used)
        for j in range(12):
            ref_X, ref_keep = pose2sim_rule(cams, uv[:, j], conf[:, j])
            # lift3d solves every subset in the frame of all valid cameras, the loop in the subset's own
            # frame: the same point up to ~1e-3 of the noise-induced error
            np.testing.assert_allclose(np.asarray(Xp)[j], ref_X, atol=1e-5, err_msg=f"joint {j}")
            if np.isfinite(ref_X).all():
                np.testing.assert_array_equal(used[:, j], ref_keep, err_msg=f"joint {j}")
        # nothing reaches a threshold of 1e-6 px: rejected (NaN), or kept on request
        Xn, _ = triangulate_pose2sim(cams, uv, conf, reprojection_threshold_px=1e-6)
        Xk, _ = triangulate_pose2sim(cams, uv, conf, reprojection_threshold_px=1e-6,
                                     reject_above_threshold=False)
    np.testing.assert_array_equal(used[:, 0], [True, True, False, True])
    np.testing.assert_array_equal(used[:, 1], [True, False, True, False])
    assert not used[0, 2] and used[1:, 2].all()
    assert np.isnan(np.asarray(Xn)).all()
    assert np.isfinite(np.delete(np.asarray(Xk), 4, 0)).all()
    assert np.isnan(np.asarray(Xp)[4]).all() and np.isnan(np.asarray(Xk)[4]).all()
    assert np.linalg.norm(np.asarray(Xp)[0] - X[0]) < 0.02
    with pytest.raises(ValueError, match="min_cameras"):
        triangulate_pose2sim(cams, uv, conf, min_cameras=1)


def test_swap_repair_fixes_a_swapped_view():
    rng = np.random.default_rng(7)
    cams = make_rig(rng, 4)
    flip = BODY_25B.flip_permutation()
    pose = TARGET + rng.normal(0, 0.35, (100, 25, 3))  # 100 frames of 25 joints (the real trial's shapes)
    uv = (project64(cams, pose.reshape(-1, 3)).reshape(4, 100, 25, 2) + rng.normal(0, 1, (4, 100, 25, 2)))
    uv = uv.transpose(1, 0, 2, 3).astype(np.float32)  # (t, v, j, 2)
    bad = uv.copy()
    bad[1, 2] = uv[1, 2][flip]  # frame 1, view 2 mirrored
    bad[4, 0] = uv[4, 0][flip]
    conf = np.ones(uv.shape[:-1], np.float32)
    conf[rng.random(conf.shape) < 0.1] = 0  # missing observations: a joint and its counterpart differ
    rep = repair_left_right_swaps(cams, bad, conf, flip)
    np.testing.assert_allclose(np.asarray(rep.points_2d), uv, atol=0)
    views = np.asarray(rep.swapped).any(-1)
    expected = np.zeros((100, 4), bool)
    expected[1, 2] = expected[4, 0] = True
    np.testing.assert_array_equal(views, expected)
    pair = repair_left_right_swaps(cams, bad, conf, flip, granularity="pair")
    np.testing.assert_allclose(np.asarray(pair.points_2d), uv, atol=0)
    with pytest.raises(ValueError, match="permute"):
        repair_left_right_swaps(cams, bad, conf, flip[:-1])


def test_sequence_driver_chunks_and_pads():
    cams, X, clean, bad, _ = outlier_scene(seed=8)
    t = 11
    uv = np.stack([clean + i * 0.1 for i in range(t)])  # (t, v, j, 2)
    uv[3, :, 5] = np.nan
    uv[6, 1] = uv[6, 1][np.arange(64) ^ 1]  # frame 6, view 1: joints (0, 1), (2, 3), ... mirrored
    res = triangulate_sequence(cams, uv, method="dlt", chunk_size=4, flip_perm=np.arange(64) ^ 1)
    assert res.points_3d.shape == (t, 64, 3) and res.views_used.shape == (t, 5, 64)
    expected = np.zeros((t, 5), bool)
    expected[6, 1] = True
    np.testing.assert_array_equal(res.swapped.any(-1), expected)
    repaired = uv.copy()
    repaired[6, 1] = uv[6, 1][np.arange(64) ^ 1]
    for i in range(t):
        X_i, _ = triangulate_dlt(cams, repaired[i])
        np.testing.assert_allclose(res.points_3d[i], np.asarray(X_i), atol=1e-6)
    assert np.isnan(res.points_3d[3, 5]).all() and res.num_views[3, 5] == 0
    for method in ("dlt", "ransac"):  # the kernels' repair (each view against the robust pose) finds the same view
        fast = triangulate_sequence(cams, uv, method=method, chunk_size=4, flip_perm=np.arange(64) ^ 1,
                                    backend="fixed_rig", **({"threshold_px": 8.0} if method == "ransac" else {}))
        np.testing.assert_array_equal(fast.swapped, res.swapped)
        np.testing.assert_allclose(fast.points_3d, res.points_3d, atol=1e-4)
    robust = triangulate_sequence(cams, np.stack([bad] * 5), method="ransac", chunk_size=4, threshold_px=8.0,
                                  refine=True, refine_robust="huber")
    err = np.linalg.norm(robust.points_3d - X, axis=-1)
    assert np.max(err) < 0.01 and np.all(robust.mean_error_px < 8.0)
    with pytest.raises(ValueError, match="shape"):
        triangulate_sequence(cams, uv[0])


def mirrored_scene(seed: int, v: int, t: int, mirrored: dict):
    """A rig of v cameras, t frames of a BODY_25B body (0.5 px noise) and the same detections with the views
    `mirrored[frame]` left/right mirrored: cams, flip, clean uv, mirrored uv, (t, v) expected swaps."""
    rng = np.random.default_rng(seed)
    cams = make_rig(rng, v)
    flip = BODY_25B.flip_permutation()
    pose = TARGET + rng.normal(0, 0.35, (t, 25, 3))
    uv = project64(cams, pose.reshape(-1, 3)).reshape(v, t, 25, 2) + rng.normal(0, 0.5, (v, t, 25, 2))
    uv = uv.transpose(1, 0, 2, 3).astype(np.float32)
    expected = np.zeros((t, v), bool)
    for frame, views in mirrored.items():
        expected[frame, views] = True
    bad = uv.copy()
    bad[expected] = uv[expected][:, flip]
    return cams, flip, uv, bad, expected


def test_kernels_repair_mirrored_views_on_a_wide_rig():
    """Beyond 5 views the kernels' swap repair tests each view against the robust pose (O(v), not the 93 sets
    of up to 3 views `repair_left_right_swaps` would triangulate at 8 views): 1, 2 and 3 mirrored views are
    found and the points equal the clean data's; the numpy backend finds the same."""
    cams, flip, uv, bad, expected = mirrored_scene(11, 8, 40, {3: [1], 7: [0, 5], 20: [2, 4, 6]})
    res = triangulate_sequence(cams, bad, method="ransac", flip_perm=flip, backend="fixed_rig")
    np.testing.assert_array_equal(res.swapped.any(-1), expected)
    clean = triangulate_sequence(cams, uv, method="ransac", backend="fixed_rig")
    np.testing.assert_allclose(res.points_3d, clean.points_3d, atol=1e-5)
    plain = triangulate_sequence(cams, bad, method="ransac", flip_perm=flip, backend="numpy")
    np.testing.assert_array_equal(plain.swapped, res.swapped)
    np.testing.assert_allclose(plain.points_3d, clean.points_3d, atol=1e-5)


def test_numpy_backend_repairs_swaps_as_the_jitted_repair():
    """Up to 5 views the numpy backend tries every set of swapped views like `repair_left_right_swaps`: the same
    views are found mirrored and the points agree with the jitted backend's."""
    cams, flip, _, bad, expected = mirrored_scene(5, 5, 30, {2: [1], 9: [0, 3]})
    plain = triangulate_sequence(cams, bad, method="ransac", flip_perm=flip, refine=True, backend="numpy")
    jitted = triangulate_sequence(cams, bad, method="ransac", flip_perm=flip, refine=True, backend="jax")
    np.testing.assert_array_equal(plain.swapped.any(-1), expected)
    np.testing.assert_array_equal(plain.swapped, jitted.swapped)
    np.testing.assert_allclose(plain.points_3d, jitted.points_3d, atol=2e-5)


def test_sequence_backends_agree_and_auto_picks_the_fixed_rig_kernels(monkeypatch):
    """The fixed-rig kernels and the float64 numpy backend run plain DLT and all-pairs RANSAC; with refinement
    the points agree with the jitted methods far below the noise, same views used; "auto" picks numpy for short
    inputs and the kernels beyond `NUMPY_MAX_OBSERVATIONS`, the default "jax" neither."""
    cams, X, clean, bad, which = outlier_scene(seed=9)
    uv = np.stack([bad, clean, bad])
    assert fixed_rig_applies(cams, "dlt") and fixed_rig_applies(cams, "ransac", threshold_px=8.0, refine_robust="huber")
    assert not fixed_rig_applies(cams, "pose2sim") and not fixed_rig_applies(cams, "dlt", solver="eigh")
    flip = np.arange(64) ^ 1
    assert fixed_rig_applies(cams, "ransac", flip_perm=flip, swap_min_gain_px=2.0)  # swaps: `mirrored_views`
    assert not fixed_rig_applies(cams, "dlt", flip_perm=flip, swap_granularity="pair")
    assert not fixed_rig_applies(cams, "dlt", flip_perm=flip, undistort=False)
    assert not fixed_rig_applies(cams, "dlt", swap_min_gain_px=2.0)  # a swap option without a permutation
    assert fixed_rig_applies(cams, "ransac", max_exhaustive_views=3)  # pairs among the 3 most confident views
    for method, opts, data in (("dlt", {}, np.stack([clean] * 3)), ("ransac", {"threshold_px": 8.0}, uv)):
        fast = triangulate_sequence(cams, data, method=method, refine=True, chunk_size=2, backend="fixed_rig",
                                    **opts)
        slow = triangulate_sequence(cams, data, method=method, refine=True, chunk_size=2, backend="jax", **opts)
        np.testing.assert_array_equal(fast.views_used, slow.views_used)
        np.testing.assert_array_equal(fast.num_views, slow.num_views)
        np.testing.assert_allclose(fast.points_3d, slow.points_3d, atol=2e-5)
        np.testing.assert_allclose(fast.mean_error_px, slow.mean_error_px, atol=1e-3)
        assert fast.points_3d.dtype == slow.points_3d.dtype and not fast.swapped.any()
        plain = triangulate_sequence(cams, data, method=method, refine=True, backend="numpy", **opts)
        np.testing.assert_array_equal(plain.views_used, slow.views_used)
        np.testing.assert_allclose(plain.points_3d, slow.points_3d, atol=2e-5)
        np.testing.assert_allclose(plain.mean_error_px, slow.mean_error_px, atol=1e-3)
        assert plain.points_3d.dtype == slow.points_3d.dtype and not plain.swapped.any()
    with pytest.raises(ValueError, match="numpy"):
        triangulate_sequence(cams, uv, method="ransac", backend="numpy", max_exhaustive_views=3)
    with pytest.raises(ValueError, match="fixed-rig"):
        triangulate_sequence(cams, uv, method="pose2sim", confidence=np.ones(uv.shape[:-1]), backend="fixed_rig")
    calls, real = [], sequence_module._triangulator
    monkeypatch.setattr(sequence_module, "_triangulator", lambda *a: calls.append(a[1]) or real(*a))
    triangulate_sequence(cams, uv, method="ransac", refine=True, chunk_size=2, threshold_px=8.0)
    assert calls == []  # the default backend is "jax"
    triangulate_sequence(cams, uv, method="ransac", refine=True, chunk_size=2, threshold_px=8.0, backend="auto")
    assert calls == []  # short: numpy
    monkeypatch.setattr(sequence_module, "NUMPY_MAX_OBSERVATIONS", uv.size // 2 - 1)
    triangulate_sequence(cams, uv, method="ransac", refine=True, chunk_size=2, threshold_px=8.0, backend="auto")
    assert calls == ["ransac"]


# ------------------------------------------------------------------------------------------------ real data


def load_balancing_trial():
    """Qualisys rig (Pose2Sim TOML) and the first OpenPose person of each view: cameras, (t, v, 25, 3)."""
    path = os.path.join(DATA, "Calib_qualisys_from_v0.4.15.toml")
    try:
        from lift3d.io.rigs import load_rig

        cams = load_rig(path).cameras
    except ImportError:
        with open(path, "rb") as f:
            toml = tomllib.load(f)
        cams = stack_cameras([
            Camera.create(np.array(c["matrix"]), R=np.asarray(rodrigues_to_matrix(np.array(c["rotation"]))),
                          t=np.array(c["translation"]), dist=np.array(c["distortions"]), image_size=c["size"])
            for name, c in toml.items() if name != "metadata"
        ])
    kp = np.full((100, 4, 25, 3), np.nan)
    for v in range(4):
        pattern = os.path.join(DATA, "single_BalancingTrial", "pose", f"cam{v + 1:02d}_json", "*.json")
        files = sorted(glob.glob(pattern))
        assert len(files) == 100
        for t, name in enumerate(files):
            with open(name) as f:
                people = json.load(f)["people"]
            if people:
                kp[t, v] = np.reshape(people[0]["pose_keypoints_2d"], (25, 3))
    return cams, kp


@pytest.mark.skipif(not os.path.isdir(DATA), reason="shared Pose2Sim data not present")
def test_real_balancing_trial_known_errors_and_robust_methods():
    cams, kp = load_balancing_trial()
    uv, lik = kp[..., :2].astype(np.float32), kp[..., 2].astype(np.float32)
    conf = np.where(lik >= 0.3, lik, 0.0)

    def mean_median(X, used):
        err = np.asarray(reprojection_error(cams, X, uv))[np.asarray(used)]
        return err.mean(), np.median(err), err.size

    X, info = triangulate_dlt(cams, uv, conf)
    mean, median, n_obs = mean_median(X, info.views_used)
    assert abs(mean - 13.7) < 0.5 and abs(median - 12.4) < 0.5  # the README's known facts
    Xp, p2s = triangulate_pose2sim(cams, uv, lik)
    p_mean, _, p_obs = mean_median(Xp, p2s.views_used)
    assert p_mean < mean - 2.0 and p_obs > 0.85 * n_obs
    assert np.isfinite(np.asarray(Xp)[..., 0]).sum() > 0.98 * np.isfinite(np.asarray(X)[..., 0]).sum()
    Xr, rs = triangulate_ransac(jax.random.key(0), cams, uv, conf, threshold_px=30.0)
    r_mean, _, r_obs = mean_median(Xr, rs.views_used)
    assert r_mean < mean - 2.0 and r_obs > 0.85 * n_obs
    # whole-view left/right swaps do not occur in this trial: the repair must leave it alone
    rep = repair_left_right_swaps(cams, uv, conf, BODY_25B.flip_permutation())
    assert not np.asarray(rep.swapped).any()

"""`make_triangulator(robust=True)` on lab-sized rigs (8 and 16 views): the same views and points as
`triangulate_ransac` on data with one or two wrong detections per joint and missing views, and the ranked
hypotheses (pairs among each point's most confident views) beyond `max_exhaustive_views`."""

import jax
import numpy as np
import pytest
from rigs import jittered_ring

from lift3d.geometry.camera import project_points
from lift3d.geometry.triangulation import make_triangulator, triangulate_ransac

TARGET = np.array([0.5, -0.3, 1.0])
J = 48  # joints (one compiled shape per rig)


def make_rig(rng, v):
    """v portrait cameras on a ring of radius ~4 m around TARGET, each with its own mild distortion."""
    return jittered_ring(rng, v, TARGET, angle_noise=0.1)


def scene(v, outliers, missing=0.0, seed=11):
    """1 px noise; per joint `outliers` distinct views moved by 40-120 px; a fraction `missing` of the other
    observations dropped (NaN keypoint or confidence 0, at least 4 clean views kept)."""
    rng = np.random.default_rng(seed)
    cams = make_rig(rng, v)
    X = TARGET + rng.uniform(-1, 1, (J, 3)) * [0.7, 0.7, 0.9]
    with jax.enable_x64(True):
        uv = np.asarray(project_points(cams, X[None])) + rng.normal(0, 1.0, (v, J, 2))
    conf = rng.uniform(0.5, 1.0, (v, J))
    bad = np.zeros((v, J), bool)
    for j in range(J):
        order = rng.permutation(v)
        bad[order[:outliers], j] = True
        drop = order[outliers:][rng.random(v - outliers) < missing][: max(0, v - outliers - 4)]
        uv[drop[::2], j] = np.nan
        conf[drop[1::2], j] = 0.0
    uv[bad] += rng.choice([-1, 1], (bad.sum(), 2)) * rng.uniform(40, 120, (bad.sum(), 2))
    return cams, X, uv.astype(np.float32), conf.astype(np.float32), bad


@pytest.mark.parametrize(("v", "outliers", "missing"), [(8, 1, 0.0), (8, 2, 0.3), (16, 2, 0.3)])
def test_robust_kernel_matches_triangulate_ransac(v, outliers, missing):
    cams, X, uv, conf, bad = scene(v, outliers, missing)
    Xr, info = make_triangulator(cams, robust=True, threshold_px=10.0)(uv, conf, return_info=True)
    # v <= 8: all pairs in both; v = 16: 32 random pairs per joint there, pairs of the 8 most confident here
    Xs, ref = triangulate_ransac(jax.random.key(0), cams, uv, conf, threshold_px=10.0)
    np.testing.assert_array_equal(np.asarray(info.views_used), np.asarray(ref.views_used))
    np.testing.assert_array_equal(np.asarray(info.num_views), np.asarray(ref.num_views))
    np.testing.assert_allclose(np.asarray(info.mean_error_px), np.asarray(ref.mean_error_px), atol=1e-3)
    assert np.max(np.linalg.norm(np.asarray(Xr) - np.asarray(Xs), axis=-1)) < 2e-5
    assert not np.asarray(info.views_used)[bad].any()
    valid = np.isfinite(uv).all(-1) & (conf > 0)
    np.testing.assert_array_equal(np.asarray(info.views_used), valid & ~bad)  # every clean view is kept
    assert np.mean(np.linalg.norm(np.asarray(Xr) - X, axis=-1)) < 0.005


def test_ranked_hypotheses_of_a_16_view_rig():
    cams, X, uv, conf, bad = scene(16, 2, 0.3, seed=12)
    conf = np.where(bad, 1.0, conf * 0.9).astype(np.float32)  # the wrong detections are the most confident
    ranked = make_triangulator(cams, robust=True, threshold_px=10.0)  # pairs among the 8 most confident views
    Xr, info = ranked(uv, conf, return_info=True)
    Xa, all_pairs = make_triangulator(cams, robust=True, threshold_px=10.0, max_exhaustive_views=16)(
        uv, conf, return_info=True)  # all 120 pairs
    np.testing.assert_array_equal(np.asarray(info.views_used), np.asarray(all_pairs.views_used))
    np.testing.assert_allclose(np.asarray(Xr), np.asarray(Xa), atol=1e-6)
    assert not np.asarray(info.views_used)[bad].any()
    # 4 slots: the 2 wrong detections and 2 clean views per joint, one clean pair: enough
    Xk, info_k = make_triangulator(cams, robust=True, threshold_px=10.0, max_exhaustive_views=4)(
        uv, conf, return_info=True)
    np.testing.assert_array_equal(np.asarray(info_k.views_used), np.asarray(all_pairs.views_used))
    np.testing.assert_allclose(np.asarray(Xk), np.asarray(Xa), atol=1e-6)
    # masks: one valid view -> NaN, no view used; two consistent views -> both used
    conf2 = conf.copy()
    conf2[1:, 0] = 0
    keep = np.flatnonzero(~bad[:, 1] & np.isfinite(uv[:, 1]).all(-1) & (conf[:, 1] > 0))[:2]
    conf2[:, 1] = 0
    conf2[keep, 1] = 1
    Xm, info_m = ranked(uv, conf2, return_info=True)
    assert np.isnan(np.asarray(Xm)[0]).all() and int(info_m.num_views[0]) == 0
    assert int(info_m.num_views[1]) == 2 and np.asarray(info_m.views_used)[keep, 1].all()
    np.testing.assert_allclose(np.asarray(Xm)[2:], np.asarray(Xr)[2:])


def test_more_than_16_views_fall_back_to_triangulate_ransac(monkeypatch):
    import lift3d.geometry.triangulation.fixed_rig as fast_module

    calls = []

    def spy(key, cameras, points_2d, confidence=None, **kwargs):
        calls.append(np.shape(points_2d))
        return np.zeros((J, 3)), None

    monkeypatch.setattr(fast_module, "triangulate_ransac", spy)
    cams = make_rig(np.random.default_rng(3), 17)
    out = make_triangulator(cams, robust=True)(np.zeros((17, J, 2), np.float32))
    assert calls == [(17, J, 2)] and out.shape == (J, 3)

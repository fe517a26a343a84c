"""Bundle adjustment on projected board corners: Jacobians, recovery of the truth, robustness, divergence."""

import dataclasses

import cv2
import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lift3d.calibration.extrinsics import world_from_camera
from lift3d.calibration.solvers import bundle
from lift3d.calibration.solvers.bundle import bundle_adjust, free_mask, reprojection_residuals
from lift3d.errors import CalibrationError
from lift3d.geometry.camera import Camera
from lift3d.io.boards import Board
from lift3d.synthetic import boards as sb

BOARD = Board("checkerboard", (6, 5), 80.0)


def capture(num_cameras=4, frames=30, noise_px=0.3, seed=0, fisheye=False):
    """True rig and board poses in the first camera's frame, and noisy detections (v, f, n, 2)."""
    rig = sb.ring_rig(jax.random.key(seed), num_cameras)
    if fisheye:
        dist = np.tile([0.05, -0.02, 0.01, 0.0, 0.0], (num_cameras, 1))
        rig = dataclasses.replace(rig, cameras=rig.cameras.replace(dist=dist, model="fisheye"))
    R, t = sb.board_trajectory(jax.random.key(seed + 100), frames, BOARD)
    cams, bR, bt = world_from_camera(rig.cameras, R, t, 0)
    noise = np.random.default_rng(seed).normal(size=(num_cameras, frames, BOARD.num_corners, 2))
    uv = project(cams, bR, bt) + noise_px * noise
    _, seen = sb.visible_corners(rig, BOARD, R, t)
    uv[~seen] = np.nan
    keep = seen.sum(0) >= 1
    return cams, bR[keep], bt[keep], uv[:, keep]


def project(cams: Camera, bR, bt) -> np.ndarray:
    X = np.einsum("fij,nj->fni", bR, BOARD.object_points()) + bt[:, None]
    out = []
    for c in range(len(cams)):
        K, D, R, t = (np.asarray(a)[c] for a in (cams.K, cams.dist, cams.R, cams.t))
        rvec = cv2.Rodrigues(R)[0]
        if cams.model == "fisheye":
            p, _ = cv2.fisheye.projectPoints(X.reshape(-1, 1, 3), rvec, t, K, D[:4])
        else:
            p, _ = cv2.projectPoints(X.reshape(-1, 3), rvec, t, K, D)
        out.append(p.reshape(X.shape[0], X.shape[1], 2))
    return np.stack(out)


def perturb(cams: Camera, bR, bt, seed=1, rot=0.02, trans=0.05):
    rng = np.random.default_rng(seed)
    v, f = len(cams), len(bR)
    dR = Rotation.from_rotvec(rng.normal(0, rot, (v, 3))).as_matrix()
    dR[0] = np.eye(3)
    dt = rng.normal(0, trans, (v, 3))
    dt[0] = 0
    cams0 = cams.replace(R=dR @ np.asarray(cams.R), t=np.asarray(cams.t) + dt)
    bR0 = Rotation.from_rotvec(rng.normal(0, rot, (f, 3))).as_matrix() @ bR
    return cams0, bR0, bt + rng.normal(0, trans, (f, 3))


def rotation_errors_deg(a: Camera, b: Camera) -> np.ndarray:
    return np.rad2deg(Rotation.from_matrix(np.asarray(a.R) @ np.swapaxes(np.asarray(b.R), 1, 2)).magnitude())


def centres(c: Camera) -> np.ndarray:
    return -np.einsum("vji,vj->vi", np.asarray(c.R), np.asarray(c.t))


@pytest.mark.parametrize("fisheye", [False, True])
def test_jacobians_match_finite_differences(fisheye):
    cams, bR, bt, uv = capture(num_cameras=3, frames=6, fisheye=fisheye)
    obs = bundle._observations(uv)
    state = bundle._pack(cams, bR, bt, BOARD.object_points())
    _, _, Jc, Jb = bundle._forward(state, obs, slice(None), fisheye, True)
    v, f = len(cams), len(bR)
    eps = 1e-6
    for c, i in [
        (1, 0),
        (1, 4),
        (2, 6),
        (1, 8),
        (2, 10),
        (1, 11),
        (2, 13),
    ]:  # rotation, translation, intrinsics
        dc = np.zeros((v, 15))
        dc[c, i] = eps
        up = bundle._forward(bundle._apply(state, dc, np.zeros((f, 6))), obs, slice(None), fisheye, False)[0]
        down = bundle._forward(bundle._apply(state, -dc, np.zeros((f, 6))), obs, slice(None), fisheye, False)[
            0
        ]
        np.testing.assert_allclose((up - down) / (2 * eps), Jc[..., i] * (obs.vi == c)[:, None], atol=2e-3)
    for j, i in [(0, 1), (3, 2), (2, 5)]:
        db = np.zeros((f, 6))
        db[j, i] = eps
        up = bundle._forward(bundle._apply(state, np.zeros((v, 15)), db), obs, slice(None), fisheye, False)[0]
        down = bundle._forward(
            bundle._apply(state, np.zeros((v, 15)), -db), obs, slice(None), fisheye, False
        )[0]
        np.testing.assert_allclose((up - down) / (2 * eps), Jb[..., i] * (obs.fi == j)[:, None], atol=2e-3)


def test_residuals_agree_with_opencv():
    cams, bR, bt, uv = capture(num_cameras=3, frames=8)
    err = reprojection_residuals(cams, bR, bt, BOARD.object_points(), uv)
    ref = np.linalg.norm(project(cams, bR, bt) - uv, axis=-1)
    np.testing.assert_array_equal(np.isnan(err), np.isnan(uv[..., 0]))
    np.testing.assert_allclose(err, ref, atol=1e-8)


def test_recovers_the_truth_from_a_perturbed_start():
    cams, bR, bt, uv = capture(noise_px=0.3)
    res = bundle_adjust(*perturb(cams, bR, bt), BOARD.object_points(), uv)
    assert res.status == "converged" and res.initial_rms_px > 5
    assert res.rms_px == pytest.approx(0.3 * np.sqrt(2), rel=0.1)  # the noise, nothing more
    # the same minimum as when started at the truth, and that minimum is near the truth
    ref = bundle_adjust(cams, bR, bt, BOARD.object_points(), uv)
    assert rotation_errors_deg(res.cameras, ref.cameras).max() < 1e-5
    np.testing.assert_allclose(centres(res.cameras), centres(ref.cameras), atol=1e-7)
    assert rotation_errors_deg(res.cameras, cams).max() < 0.2
    assert np.abs(centres(res.cameras) - centres(cams)).max() < 0.01  # metres; rig of 4 m
    np.testing.assert_array_equal(np.asarray(res.cameras.R)[0], np.asarray(cams.R)[0])  # the gauge camera
    assert res.camera_rms_px.shape == (4,) and np.isnan(res.view_rms_px).any()
    assert res.history[0]["rms_px"] == pytest.approx(res.initial_rms_px)


def test_schur_and_scipy_reach_the_same_minimum():
    cams, bR, bt, uv = capture(num_cameras=3, frames=10)
    start = perturb(cams, bR, bt, rot=0.01, trans=0.02)
    a = bundle_adjust(*start, BOARD.object_points(), uv, loss="linear")
    b = bundle_adjust(*start, BOARD.object_points(), uv, loss="linear", method="scipy", max_iterations=300)
    assert a.rms_px == pytest.approx(b.rms_px, rel=1e-6)
    assert a.rms_px <= b.rms_px * (1 + 1e-9)  # at least as low; scipy stops on a flat valley floor (ftol)
    assert rotation_errors_deg(a.cameras, b.cameras).max() < 0.02
    np.testing.assert_allclose(np.asarray(a.cameras.t), np.asarray(b.cameras.t), atol=5e-4)


def test_robust_loss_resists_gross_outliers():
    cams, bR, bt, uv = capture(noise_px=0.3, seed=3)
    rng = np.random.default_rng(0)
    bad = uv.copy()
    obs = np.argwhere(np.isfinite(uv[..., 0]))
    pick = obs[rng.choice(len(obs), len(obs) // 30, replace=False)]
    bad[tuple(pick.T)] += rng.uniform(-25, 25, (len(pick), 2))
    start = perturb(cams, bR, bt)
    clean = bundle_adjust(*start, BOARD.object_points(), uv, loss="linear")  # the answer without outliers
    robust = bundle_adjust(*start, BOARD.object_points(), bad, loss="soft_l1")
    huber = bundle_adjust(*start, BOARD.object_points(), bad, loss="huber", loss_scale_px=1.0)
    plain = bundle_adjust(*start, BOARD.object_points(), bad, loss="linear")
    err = {
        k: rotation_errors_deg(r.cameras, clean.cameras).max()
        for k, r in [("r", robust), ("h", huber), ("p", plain)]
    }
    assert err["r"] < 0.1 and err["h"] < 0.1  # the spread of this small capture is ~0.15 deg
    assert err["p"] > 4 * max(err["r"], err["h"])


def test_refines_intrinsics():
    cams, bR, bt, uv = capture(noise_px=0.2, frames=40, seed=5)
    K = np.asarray(cams.K).copy()
    K[:, 0, 0] *= 1.02
    K[:, 1, 1] *= 0.985
    start = cams.replace(K=K)
    fixed = bundle_adjust(start, bR, bt, BOARD.object_points(), uv)
    refined = bundle_adjust(start, bR, bt, BOARD.object_points(), uv, refine_intrinsics="focal")
    # from 2 % off to within 0.4 % (the spread of this capture: 10-25 views per camera)
    np.testing.assert_allclose(
        np.asarray(refined.cameras.K)[:, :2, :2], np.asarray(cams.K)[:, :2, :2], rtol=4e-3
    )
    assert refined.rms_px < 0.5 < fixed.rms_px
    m = free_mask(3, refine_intrinsics="all", fixed_cameras=(1,))
    assert (
        m[1, :6].sum() == 0
        and m[0, :6].sum() == 6
        and m[:, 6:10].all()
        and m[:, 10:12].all()
        and not m[:, 12:].any()
    )
    with pytest.raises(ValueError, match="refine_intrinsics"):
        free_mask(2, refine_intrinsics="lens")


def test_fisheye_rig():
    cams, bR, bt, uv = capture(noise_px=0.2, fisheye=True)
    res = bundle_adjust(*perturb(cams, bR, bt), BOARD.object_points(), uv)
    ref = bundle_adjust(cams, bR, bt, BOARD.object_points(), uv)
    assert res.cameras.model == "fisheye" and res.rms_px == pytest.approx(0.2 * np.sqrt(2), rel=0.1)
    assert rotation_errors_deg(res.cameras, ref.cameras).max() < 1e-5
    assert rotation_errors_deg(res.cameras, cams).max() < 0.2


def test_divergence_stops_and_keeps_the_last_good_state(monkeypatch):
    cams, bR, bt, uv = capture()
    start = perturb(cams, bR, bt)
    good = bundle_adjust(*start, BOARD.object_points(), uv, max_iterations=2)
    real_apply, calls = bundle._apply, {"n": 0}

    def poisoned(state, dc, db):  # from the third step on, every step blows up
        calls["n"] += 1
        out = real_apply(state, dc, db)
        if calls["n"] > 2:
            out["t"] = out["t"] * np.nan
        return out

    monkeypatch.setattr(bundle, "_apply", poisoned)
    res = bundle_adjust(*start, BOARD.object_points(), uv)
    assert res.status == "diverged"
    assert "non-finite cost" in res.reason and "kept iteration 2" in res.reason
    np.testing.assert_allclose(np.asarray(res.cameras.t), np.asarray(good.cameras.t))
    assert np.isfinite(res.rms_px) and res.rms_px == pytest.approx(good.rms_px)


def test_bad_inputs():
    cams, bR, bt, uv = capture(num_cameras=3, frames=5)
    with pytest.raises(CalibrationError, match=r"expected \(v, f, n, 2\)"):
        bundle_adjust(cams, bR, bt, BOARD.object_points(), uv[:, :-1])
    with pytest.raises(CalibrationError, match="no observed corner"):
        bundle_adjust(cams, bR, bt, BOARD.object_points(), uv * np.nan)
    behind = bt.copy()
    behind[:, 2] -= 100.0  # boards far behind the cameras
    with pytest.raises(CalibrationError, match="behind a camera"):
        bundle_adjust(cams, bR, behind, BOARD.object_points(), uv)
    with pytest.raises(ValueError, match="loss"):
        bundle_adjust(cams, bR, bt, BOARD.object_points(), uv, loss="cauchy")

"""Rig refinement from people's keypoints (`refine`, `points_bundle`, `lsq`): the solver, the gauge, synthetic
recovery and the real balancing trial."""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from rigs import ring
from scipy.spatial.transform import Rotation

from lift3d.calibration import refine as rf
from lift3d.calibration.solvers import lsq
from lift3d.calibration.solvers import points_bundle as pb
from lift3d.calibration.solvers.bundle import free_mask
from lift3d.core.keypoints import match_views
from lift3d.errors import CalibrationError
from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import project_points
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
TRIAL = SHARED / "single_BalancingTrial" / "pose"
CAMS = [TRIAL / f"cam0{i}_json" for i in range(1, 5)]
RIG = SHARED / "Calib.qca.txt"
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def observe(cams, X, rng, noise_px=0.0, keep=0.9):
    """All (camera, point) observations of points X (n, 3), a random share dropped (each point seen twice)."""
    v, n = cams.batch_shape[0], len(X)
    with jax.enable_x64(True):
        uv = np.asarray(project_points(cams, np.broadcast_to(X, (v, n, 3))), np.float64)
    seen = rng.random((v, n)) < keep
    seen[:2] = True
    c, p = np.nonzero(seen)
    return uv[c, p] + noise_px * rng.normal(size=(len(c), 2)), c, p


@pytest.mark.parametrize("model", ["pinhole", "fisheye"])
def test_jacobians_match_finite_differences(model):
    rng = np.random.default_rng(5)
    cams = ring(3, model=model)
    X = rng.normal(size=(10, 3)) * 0.5 + [0, 0, 1]
    uv, c, p = observe(cams, X, rng, keep=1.0)
    prob = pb._Problem(cams, uv, c, p, np.ones(len(uv)), len(X), "linear", 1.0)
    state = prob.state(cams, X)
    act = np.arange(15)
    eps = 1e-6
    for cam in range(3):
        _, _, Jc, Jp = prob.camera(state, cam, act)
        pts = prob.point[prob.slices[cam]]
        for k in (0, 2, 4, 6, 7, 8, 10, 11):  # rotation, translation, fx, fy, cx, k1, k2
            dc = np.zeros((3, 15))
            dc[cam, k] = eps
            plus = prob.camera(prob.apply(state, dc, np.zeros_like(X)), cam, None)[0]
            minus = prob.camera(prob.apply(state, -dc, np.zeros_like(X)), cam, None)[0]
            np.testing.assert_allclose((plus - minus) / (2 * eps), Jc[..., k], rtol=1e-5, atol=1e-4)
        for k in range(3):
            dp = np.zeros_like(X)
            dp[:, k] = eps
            plus = prob.camera(prob.apply(state, np.zeros((3, 15)), dp), cam, None)[0]
            minus = prob.camera(prob.apply(state, np.zeros((3, 15)), -dp), cam, None)[0]
            np.testing.assert_allclose((plus - minus) / (2 * eps), Jp[..., k], rtol=1e-5, atol=1e-4)
        assert len(pts) == 10


def test_schur_step_equals_the_dense_damped_solve():
    """The sparse Schur complement (camera pairs through common points) gives the full system's step."""
    rng = np.random.default_rng(4)
    cams = rf.perturb_cameras(jax.random.key(2), ring(4), 1.0, 0.03)
    X = rng.normal(size=(40, 3)) * 0.5 + [0, 0, 1]
    uv, c, p = observe(ring(4), X, rng, noise_px=1.0, keep=0.6)
    prob = pb._Problem(cams, uv, c, p, rng.uniform(0.3, 1.0, len(uv)), len(X), "huber", 2.0)
    free = pb.gauge_free_mask(cams, 0, "focal")
    act = np.flatnonzero(free.any(0))
    blocks = prob.linearize(prob.state(cams, X), free[:, act], act)
    dc, dp, pred = prob.solve(blocks, free[:, act], 0.01)
    Hcc, Hpp, Hcp, gc, gp = blocks
    v, nc, n = 4, len(act), len(X)
    H = np.zeros((v * nc + 3 * n, v * nc + 3 * n))
    for a in range(v):
        H[a * nc : (a + 1) * nc, a * nc : (a + 1) * nc] = Hcc[a]
    for i in range(n):
        H[v * nc + 3 * i : v * nc + 3 * i + 3, v * nc + 3 * i : v * nc + 3 * i + 3] = Hpp[i]
    for o, (a, i) in enumerate(zip(prob.cam, prob.point, strict=True)):
        H[a * nc : (a + 1) * nc, v * nc + 3 * i : v * nc + 3 * i + 3] = Hcp[o]
        H[v * nc + 3 * i : v * nc + 3 * i + 3, a * nc : (a + 1) * nc] = Hcp[o].T
    D = np.r_[lsq.marquardt_damping(Hcc, 0.01).reshape(-1), lsq.marquardt_damping(Hpp, 0.01).reshape(-1)]
    keep = np.r_[free[:, act].reshape(-1) > 0, np.ones(3 * n, bool)]
    g = np.r_[gc.reshape(-1), gp.reshape(-1)]
    step = np.zeros_like(g)
    step[keep] = -np.linalg.solve((H + np.diag(D))[np.ix_(keep, keep)], g[keep])
    np.testing.assert_allclose(np.r_[dc.reshape(-1), dp.reshape(-1)], step, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(pred, step @ (D * step - g), rtol=1e-8)


def test_levenberg_marquardt_loop_fits_and_says_why_it_stops():
    """The loop both solvers share, on a curve fit `y = a exp(b x)`: the minimum, the history, each stop."""
    x = np.linspace(0.0, 1.0, 20)
    y = 2.0 * np.exp(-1.5 * x) + 0.01 * np.sin(7.0 * x)  # no exact fit: the minimum cost is > 0

    def evaluate(s):
        err2 = (s[0] * np.exp(s[1] * x) - y) ** 2
        return float(err2.sum()), err2, 1.0

    def linearize(s):
        e = np.exp(s[1] * x)
        J = np.stack([e, s[0] * x * e], -1)
        return J.T @ J, J.T @ (s[0] * e - y)

    def solve(blocks, lam):
        H, g = blocks
        D = lsq.marquardt_damping(H, lam)
        d = -np.linalg.solve(H + np.diag(D), g)
        return d, float(d @ (D * d - g))

    s0 = np.array([1.0, 0.0])
    cost, err2, _ = evaluate(s0)
    kw = dict(linearize=linearize, solve=solve, apply=lambda s, d: s + d, evaluate=evaluate, max_iterations=100)
    fit = lsq.levenberg_marquardt(s0, cost, err2, **kw, ftol=1e-6, clock_start=0.0)
    assert fit.status == "converged" and fit.reason == "relative cost decrease below 1e-06"
    np.testing.assert_allclose(fit.state, [2.0, -1.5], atol=0.02)
    assert np.abs(linearize(fit.state)[1]).max() < 1e-6 * np.abs(linearize(s0)[1]).max()  # gradient ~ 0
    costs = [h["cost"] for h in fit.history]
    assert costs[0] == cost and costs[-1] == fit.cost and np.all(np.diff(costs) < 0)
    assert [h["iteration"] for h in fit.history] == list(range(fit.iterations + 1))
    assert fit.history[-1]["rms_px"] == pytest.approx(np.sqrt(fit.err2.mean()))
    assert "seconds" not in fit.history[0] and all(h["seconds"] > 0 for h in fit.history[1:])
    exact = lsq.levenberg_marquardt(s0, cost, err2, **kw, ftol=0.0)  # runs until no step helps
    assert exact.status == "converged" and exact.reason == "no step lowers the cost further"
    assert exact.cost <= fit.cost and exact.iterations > fit.iterations and "seconds" not in exact.history[-1]
    short = lsq.levenberg_marquardt(s0, cost, err2, **{**kw, "max_iterations": 2}, ftol=0.0)
    assert short.status == "max_iterations" and short.iterations == 2 and len(short.history) == 3
    behind = lsq.levenberg_marquardt(s0, cost, err2, **{**kw, "evaluate": lambda s: (*evaluate(s)[:2], -1.0)},
                                     ftol=0.0, what_behind="board corners")  # fmt: skip
    assert behind.status == "diverged" and behind.state is s0 and len(behind.history) == 1
    assert behind.reason == "every step gives board corners behind a camera at iteration 1; kept iteration 0"
    nan = lsq.levenberg_marquardt(s0, cost, err2, **{**kw, "linearize": lambda s: linearize(s)[0] * np.nan},
                                  ftol=0.0)  # fmt: skip
    assert nan.status == "diverged" and nan.reason == "non-finite Jacobian at iteration 1; kept iteration 0"


def test_adjust_recovers_exact_rig_and_rejects_outliers():
    rng = np.random.default_rng(0)
    truth = ring()
    X = rng.normal(size=(300, 3)) * [0.4, 0.4, 0.6] + [0, 0, 1]
    uv, c, p = observe(truth, X, rng)
    start = rf.perturb_cameras(jax.random.key(1), truth, 2.0, 0.05)
    # the gauge: camera 0 and one coordinate of the farthest camera's translation, held at the truth
    free = pb.gauge_free_mask(truth, 0, "none")
    assert free[:, :6].sum() == 4 * 6 - 7
    R, t = np.asarray(start.R).copy(), np.asarray(start.t).copy()
    held = free[:, 3:6] == 0
    R[0], t[held] = np.asarray(truth.R)[0], np.asarray(truth.t)[held]
    start = start.replace(R=R, t=t)
    X0 = X + rng.normal(0, 0.03, X.shape)
    res = pb.adjust_cameras_and_points(start, X0, uv, c, p, free=free, loss="linear", ftol=1e-14)
    assert res.status == "converged"
    np.testing.assert_allclose(np.asarray(res.cameras.R), np.asarray(truth.R), atol=1e-8)
    np.testing.assert_allclose(np.asarray(res.cameras.t), np.asarray(truth.t), atol=1e-8)
    np.testing.assert_allclose(res.points_3d, X, atol=1e-7)
    assert res.errors_px.max() < 1e-5 and res.initial_errors_px.mean() > 10
    # 10 % gross outliers: Huber stays within a few mm, least squares does not
    bad = rng.random(len(uv)) < 0.1
    uv_bad = uv + bad[:, None] * rng.normal(0, 80, uv.shape)
    errs = {}
    for loss in ("huber", "linear"):
        r = pb.adjust_cameras_and_points(start, X0, uv_bad, c, p, free=free, loss=loss, loss_scale_px=2.0)
        errs[loss] = np.abs(np.asarray(r.cameras.t) - np.asarray(truth.t)).max()
    assert errs["huber"] < 0.005 < errs["linear"]


def test_adjust_focal_lengths_and_bad_input():
    rng = np.random.default_rng(2)
    truth = ring(5)
    X = rng.normal(size=(400, 3)) * [0.6, 0.6, 0.7] + [0, 0, 1]
    uv, c, p = observe(truth, X, rng)
    K = np.asarray(truth.K).copy()
    K[1:, 0, 0] *= 1.03
    K[1:, 1, 1] *= 0.98
    free = free_mask(5, fixed_cameras=(0,), refine_intrinsics="focal")
    free[1:, 3:6] = 0  # poses of the others held too: only the focal lengths and the points move
    res = pb.adjust_cameras_and_points(truth.replace(K=K), X, uv, c, p, free=free, loss="linear", ftol=1e-14)
    np.testing.assert_allclose(np.asarray(res.cameras.K), np.asarray(truth.K), rtol=1e-7)
    with pytest.raises(CalibrationError, match="same point by the same camera"):
        pb.adjust_cameras_and_points(truth, X, np.r_[uv, uv[:1]], np.r_[c, c[:1]], np.r_[p, p[:1]])
    with pytest.raises(CalibrationError, match="behind a camera"):
        pb.adjust_cameras_and_points(
            truth, 2 * numpy_camera.camera_centres(truth)[0] - X, uv, c, p
        )  # mirrored behind cam 0
    with pytest.raises(CalibrationError, match="do not match"):
        pb.adjust_cameras_and_points(truth, X, uv[:, :1], c, p)


def test_similarity_and_gauge_helpers():
    rng = np.random.default_rng(3)
    cams = ring(4)
    Q = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    s, d = 1.7, np.array([0.5, -2.0, 3.0])
    moved = pb.transform_cameras(cams, s, Q, d)
    X = rng.normal(size=(20, 3)) + [0, 0, 1]
    with jax.enable_x64(True):
        before = np.asarray(project_points(cams, np.broadcast_to(X, (4, 20, 3))))
        after = np.asarray(project_points(moved, np.broadcast_to(s * X @ Q.T + d, (4, 20, 3))))
    np.testing.assert_allclose(after, before, atol=1e-9)  # same images in the new world
    s2, Q2, d2 = pb.similarity_transform(numpy_camera.camera_centres(cams), numpy_camera.camera_centres(moved))
    np.testing.assert_allclose([s2, *Q2.ravel(), *d2], [s, *Q.ravel(), *d], atol=1e-12)
    err = pb.rig_shape_errors(moved, cams)
    assert err["rotation_deg"].max() < 1e-9 and err["centre"].max() < 1e-12
    np.testing.assert_allclose(err["scale"], 1 / s)
    # perturbation magnitudes are exact
    p = pb.perturb_cameras(jax.random.key(0), cams, 3.0, 0.1)
    dR = np.asarray(p.R) @ np.swapaxes(np.asarray(cams.R), 1, 2)
    np.testing.assert_allclose(np.rad2deg(Rotation.from_matrix(dR).magnitude()), 3.0)
    np.testing.assert_allclose(
        np.linalg.norm(numpy_camera.camera_centres(p) - numpy_camera.camera_centres(cams), axis=-1), 0.1
    )
    # frames spread over the capture, not consecutive
    present = np.ones(100, bool)
    present[:10] = False
    f = rf.spread_frames(present, 10)
    assert len(f) == 10 and f[0] == 10 and f[-1] == 99
    np.testing.assert_array_equal(rf.spread_frames(present, 500), np.arange(10, 100))


@pytest.fixture(scope="module")
def trial_dirs(tmp_path_factory):
    """Every 4th frame (25) of the balancing trial, one folder per camera (tests stay short, and every test
    uses the same array shapes, so the jitted functions compile once)."""
    root = tmp_path_factory.mktemp("trial")
    for cam in CAMS:
        (root / cam.name).mkdir()
        for f in sorted(cam.glob("*.json"))[::4]:
            (root / cam.name / f.name).write_bytes(f.read_bytes())
    return [root / cam.name for cam in CAMS]


@pytest.fixture(scope="module")
def trial(trial_dirs):
    """The 25 frames and the Qualisys rig, views matched."""
    kp = read_keypoints(trial_dirs, format="openpose", skeleton="body_25b")
    kp, rig = match_views(kp, load_rig(RIG))
    return rig, kp.points, kp.confidence


@needs_data
def test_synthetic_keypoints_give_the_rig_back(trial):
    """Keypoints projected through the Qualisys rig with 2 px noise: back within 0.1 deg / 1 cm (the issue)."""
    rig, uv, conf = trial
    people_uv, people_cf = rf._associate(rig.cameras, uv, np.where(conf >= 0.3, conf, 0), 1, 50.0, 0.3, 0.5)
    from lift3d.geometry.triangulation import triangulate_dlt

    X = np.asarray(triangulate_dlt(rig.cameras, people_uv, people_cf)[0], np.float64)[:, 0]
    ok = (people_cf[:, 0] > 0) & np.isfinite(X).all(-1)[:, None, :]
    proj = np.asarray(project_points(rig.cameras, np.nan_to_num(X)[:, None]), np.float64)
    noisy = np.where(ok[..., None], proj + np.random.default_rng(0).normal(0, 2.0, proj.shape), np.nan)
    start = dataclasses.replace(rig, cameras=rf.perturb_cameras(jax.random.key(0), rig.cameras, 3.0, 0.1))
    res = rf.refine_rig_from_keypoints(start, noisy, np.where(ok, people_cf[:, 0], 0.0))
    err = rf.rig_shape_errors(res.rig.cameras, rig.cameras)
    assert err["rotation_deg"].max() < 0.1 and err["centre"].max() < 0.01
    assert res.status == "converged" and res.dlt_error_px["refined"]["all"] < 2.5
    # from the exact rig the world frame is the rig's own: the rig stays put in absolute terms too
    res = rf.refine_rig_from_keypoints(rig, noisy, np.where(ok, people_cf[:, 0], 0.0), gauge="reference")
    np.testing.assert_allclose(np.asarray(res.rig.cameras.R)[0], np.asarray(rig.cameras.R)[0], atol=1e-12)
    assert np.abs(res.rig.centers - rig.centers).max() < 0.01


@needs_data
def test_real_balancing_trial(trial):
    """The issue's targets on 25 of the 100 frames (the full trial is in experiments/RESULTS.md)."""
    rig, uv, conf = trial
    base = rf.refine_rig_from_keypoints(rig, uv, conf)
    assert base.status == "converged"
    before, after = base.dlt_error_px["initial"]["all"], base.dlt_error_px["refined"]["all"]
    assert 12.0 < before < 15.5 and after <= 9.0  # ~13.7 px -> <= 9 px
    assert np.all(base.dlt_error_px["refined"]["cameras"] < base.dlt_error_px["initial"]["cameras"] + 0.5)
    assert np.nanmean(base.errors_px) < np.nanmean(base.initial_errors_px)
    shape = rf.rig_shape_errors(base.rig.cameras, rig.cameras)
    assert shape["rotation_deg"].max() < 1.5 and shape["centre"].max() < 0.08
    # a start 5 deg / 20 cm off (the bystander then wins the association in places) reaches the same optimum
    start = dataclasses.replace(rig, cameras=rf.perturb_cameras(jax.random.key(3), rig.cameras, 5.0, 0.2))
    res = rf.refine_rig_from_keypoints(start, uv, conf)
    same = rf.rig_shape_errors(res.rig.cameras, base.rig.cameras)
    assert same["rotation_deg"].max() < 0.05 and same["centre"].max() < 0.002
    report = rf.refine_report(res)
    json.dumps(report)
    assert set(report["cameras"]) == set(rig.names) and report["rounds"][0]["threshold_px"] > 100

"""`--method pose2sim` is Pose2Sim: lift3d against Pose2Sim's own output (a committed fixture, no Pose2Sim needed).

The fixture ``tests/data/pose2sim/balancing_trial_pose2sim_0.10.49.npz`` was made by
``benchmarks/pose2sim_reference.py`` with pose2sim 0.10.49 (pose2sim 0.8.4 gave identical arrays) on the
balancing trial of the Pose2Sim sample: its association, triangulation and interpolation with the sample's
Config.toml settings.
"""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from rigs import look_at

from lift3d.apps.triangulate import triangulate_capture
from lift3d.geometry.camera import Camera, stack_cameras
from lift3d.geometry.triangulation import interpolate_pose2sim, triangulate_pose2sim_exact, triangulate_sequence
from lift3d.geometry.triangulation.pose2sim import pose2sim_projections

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "pose2sim" / "balancing_trial_pose2sim_0.10.49.npz"
SHARED = ROOT.parent / "shared" / "data" / "pose2sim_trials"
TOL_M = 1e-5  # 0.01 mm


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_matches_pose2sim_on_the_balancing_trial():
    ref = np.load(FIXTURE)
    settings = json.loads(str(ref["settings"]))
    assert settings["undistort_points"] is False and settings["handle_LR_swap"] is False
    cams = [SHARED / "single_BalancingTrial" / "pose" / f"cam0{i}_json" for i in range(1, 5)]
    res = triangulate_capture(
        SHARED / "Calib.qca.txt", cams, format="openpose", skeleton="body_25b", fps=float(ref["frame_rate"]),
        method="pose2sim", threshold_px=float(settings["reproj_error_threshold_triangulation"]),
        min_confidence=float(settings["likelihood_threshold_triangulation"]), refine=False, outliers=False,
        filter="none", progress=False,
    )  # fmt: skip
    X = res.raw_points_3d[:, 0][:, list(ref["joint_ids"])]  # Pose2Sim's joints, in its order
    raw = ref["points_raw"]
    has = np.isfinite(raw[..., 0])
    assert has.sum() == 2094 and (np.isfinite(X[..., 0]) == has).all()  # NaN exactly where Pose2Sim has none
    assert np.abs(X - raw)[has].max() < TOL_M
    # Pose2Sim's gap filling on top gives its TRC (every frame and joint)
    filled = interpolate_pose2sim(X, kind=settings["interpolation"], max_gap=settings["interp_if_gap_smaller_than"])
    assert np.isfinite(ref["points"]).all() and np.abs(filled - ref["points"]).max() < TOL_M


def _rig(rng, v=4):
    cams = []
    for i in range(v):
        a = 2 * np.pi * i / v
        R, t = look_at(np.array([4 * np.cos(a), 4 * np.sin(a), 1.0]), np.zeros(3))
        K = np.array([[1500.0, 0, 540], [0, 1500.0, 960], [0, 0, 1]])
        cams.append(Camera.create(K, R=R, t=t, image_size=[1088, 1920]))
    return stack_cameras(cams)


def _loop(P, uv, w, lik=0.3, thr=15.0, min_cams=2):
    """One point, Pose2Sim's `triangulation_from_best_cameras` loop written plainly (as its source reads)."""
    v = len(P)
    valid = np.isfinite(uv).all(-1) & (w >= lik) & (w != 0)
    X, err_min, k = np.full(3, np.nan), np.inf, 0
    while err_min > thr and v - k >= min_cams:
        subsets = [np.where(np.isin(np.arange(v), off), False, valid) for off in itertools.combinations(range(v), k)]
        if max(v - s.sum() for s in subsets) > v - min_cams:
            break
        errs, pts = [], []
        for s in subsets:
            A = np.concatenate([[(P[c, 0] - uv[c, 0] * P[c, 2]) * w[c], (P[c, 1] - uv[c, 1] * P[c, 2]) * w[c]]
                                for c in np.flatnonzero(s)])
            q = np.linalg.svd(A)[2][-1]
            q = np.append(q[:3] / q[3], 1)
            proj = P[s] @ q
            errs.append(np.mean(np.linalg.norm(proj[:, :2] / proj[:, 2:] - uv[s], axis=-1)))
            pts.append(q[:3])
        err_min = np.nanmin(errs)
        X = pts[int(np.nanargmin(errs))]
        k += 1
    return X if err_min <= thr else np.full(3, np.nan)


def test_rule_matches_the_plain_loop_and_units():
    rng = np.random.default_rng(3)
    cams = _rig(rng)
    P = pose2sim_projections(cams)
    X = rng.uniform(-0.8, 0.8, (40, 3))
    Xh = np.concatenate([X, np.ones((40, 1))], -1)
    proj = np.einsum("vab,jb->vja", P, Xh)
    uv = proj[..., :2] / proj[..., 2:] + rng.normal(0, 2.0, (4, 40, 2))
    uv[rng.integers(0, 4, 15), np.arange(15)] += rng.normal(0, 60, (15, 2))  # a bad view for 15 joints
    w = rng.uniform(0.1, 1.0, (4, 40))
    res = triangulate_pose2sim_exact(cams, uv, w)
    ref = np.array([_loop(P, uv[:, j], w[:, j]) for j in range(40)])
    assert (np.isnan(ref[:, 0]) == np.isnan(res.points_3d[:, 0])).all() and np.isfinite(ref[:, 0]).sum() > 20
    assert np.nanmax(np.abs(res.points_3d - ref)) < 1e-9
    # the same rig in mm: Pose2Sim's DLT runs in metres, the points come back in mm
    mm = Camera.create(cams.K, R=cams.R, t=np.asarray(cams.t) * 1000, image_size=cams.image_size)
    res_mm = triangulate_pose2sim_exact(mm, uv, w, metres_per_unit=0.001)
    assert np.nanmax(np.abs(res_mm.points_3d / 1000 - res.points_3d)) < 1e-9


def test_settings_out_of_range_are_refused():
    cams = _rig(np.random.default_rng(0))
    uv, w = np.zeros((4, 3, 2)), np.ones((4, 3))
    for bad in ({"min_cameras": 1}, {"min_cameras": 5}, {"likelihood_threshold": 1.5},
                {"reprojection_threshold_px": 0.0}, {"metres_per_unit": 0.0}):  # fmt: skip
        with pytest.raises(ValueError):
            triangulate_pose2sim_exact(cams, uv, w, **bad)
    with pytest.raises(ValueError, match="kind"):
        interpolate_pose2sim(np.zeros((5, 1, 3)), kind="spline")
    with pytest.raises(ValueError, match="flip_perm"):
        triangulate_sequence(cams, uv[None], w[None], method="pose2sim", flip_perm=[0, 1, 2])
    with pytest.raises(ValueError, match="options"):
        triangulate_sequence(cams, uv[None], w[None], method="pose2sim", threshold_px=20.0)

"""Calibration from people alone (`people_init`, `people_rig`): synthetic rigs (ring and line, 2-8 cameras,
1 px noise and outliers) recovered from a walking body, the bad inputs, and the real balancing trial."""

from pathlib import Path

import numpy as np
import pytest
from rigs import look_at, ring

from lift3d.calibration import people_init as pi
from lift3d.calibration import people_rig as pr
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import CalibrationError
from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
JOINTS = get_skeleton("body_25b").joints

# BODY_25B joints of a 1.75 m person standing, body frame (x forward, y left, z up), metres
_BODY = {
    "nose": (0.10, 0, 1.62), "left_eye": (0.08, 0.03, 1.66), "right_eye": (0.08, -0.03, 1.66),
    "left_ear": (0, 0.07, 1.63), "right_ear": (0, -0.07, 1.63), "left_shoulder": (0, 0.19, 1.43),
    "right_shoulder": (0, -0.19, 1.43), "left_elbow": (0, 0.22, 1.13), "right_elbow": (0, -0.22, 1.13),
    "left_wrist": (0, 0.23, 0.86), "right_wrist": (0, -0.23, 0.86), "left_hip": (0, 0.10, 0.93),
    "right_hip": (0, -0.10, 0.93), "left_knee": (0, 0.10, 0.50), "right_knee": (0, -0.10, 0.50),
    "left_ankle": (0, 0.10, 0.08), "right_ankle": (0, -0.10, 0.08), "upper_neck": (0, 0, 1.52),
    "head_top": (0, 0, 1.75), "left_big_toe": (0.18, 0.11, 0.02), "left_small_toe": (0.16, 0.15, 0.02),
    "left_heel": (-0.05, 0.10, 0.02), "right_big_toe": (0.18, -0.11, 0.02), "right_small_toe": (0.16, -0.15, 0.02),
    "right_heel": (-0.05, -0.10, 0.02),
}  # fmt: skip


def walking_body(frames=150, radius=1.2, laps=1.0):
    """(t, 25, 3) a body walking a circle around (0, 0) with swinging arms and legs, metres (world z up)."""
    base = np.array([_BODY[n] for n in JOINTS], np.float64)
    out = np.empty((frames, len(base), 3))
    for k in range(frames):
        a = 2 * np.pi * laps * k / frames
        phase = 8 * a
        p = base.copy()
        for side, s in (("left", 1), ("right", -1)):
            arm = [JOINTS.index(f"{side}_{n}") for n in ("elbow", "wrist")]
            leg = [JOINTS.index(f"{side}_{n}") for n in ("knee", "ankle", "big_toe", "small_toe", "heel")]
            for idx, pivot, amp in ((arm, 1.43, 0.5), (leg, 0.93, 0.35)):
                ang = s * amp * np.sin(phase)
                dz = p[idx, 2] - pivot
                dx = p[idx, 0]
                p[idx, 0] = dx * np.cos(ang) - dz * np.sin(ang)
                p[idx, 2] = pivot + dx * np.sin(ang) + dz * np.cos(ang)
        heading = a + np.pi / 2  # along the circle
        c, s_ = np.cos(heading), np.sin(heading)
        Rz = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1]])
        out[k] = p @ Rz.T + [radius * np.cos(a), radius * np.sin(a), 0.0]
    return out


def line(v, spacing=1.0):
    """v portrait cameras in a line 5 m from the origin, all aimed at (0, 0, 1)."""
    x = (np.arange(v) - (v - 1) / 2) * spacing
    R, t = zip(*(look_at(np.array([xi, -5.0, 1.5]), np.array([0, 0, 1.0])) for xi in x), strict=True)
    K = np.tile(np.array([[1650.0, 0, 540], [0, 1650, 960], [0, 0, 1]]), (v, 1, 1))
    return Camera.create(K, R=np.array(R), t=np.array(t), dist=np.tile([-0.05, 0.14, 0, 0, 0], (v, 1)),
                         image_size=np.tile([1088.0, 1920.0], (v, 1)))  # fmt: skip


def observe(cams, X, rng, noise_px=1.0, outliers=0.02):
    """Detections (t, v, 1, j, 2) and confidences of points X (t, j, 3): noise, outliers, off-image missing."""
    params = numpy_camera.camera_params(cams)
    uv, z = numpy_camera.project(params, X[:, None], cams.model == "fisheye")  # (t, v, j, 2)
    uv = uv + noise_px * rng.normal(size=uv.shape)
    bad = rng.random(uv.shape[:-1]) < outliers
    uv[bad] += rng.uniform(30, 150, (bad.sum(), 1)) * rng.normal(size=(bad.sum(), 2))
    size = np.asarray(cams.image_size)[None, :, None]
    seen = (z > 0) & (uv >= 0).all(-1) & (uv < size).all(-1)
    conf = np.where(seen, rng.uniform(0.5, 1.0, seen.shape), 0.0)
    return np.where(seen[..., None], uv, np.nan)[:, :, None], conf[:, :, None]


def shape_errors(est: Camera, truth: Camera):
    """Largest rotation (deg) and centre error (share of the rig size) in camera 0's frame, best scale."""
    from scipy.spatial.transform import Rotation

    def in_cam0(c):
        R, C = np.asarray(c.R), numpy_camera.camera_centres(c)
        return R @ R[0].T, (C - C[0]) @ R[0].T

    Re, Ce = in_cam0(est)
    Rt, Ct = in_cam0(truth)
    s = np.sum(Ce * Ct) / np.sum(Ce * Ce)
    rot = np.rad2deg(Rotation.from_matrix(Re @ np.swapaxes(Rt, 1, 2)).magnitude()).max()
    size = np.linalg.norm(Ct[:, None] - Ct[None], axis=-1).max()
    return float(rot), float(np.linalg.norm(s * Ce - Ct, axis=-1).max() / size)


def _intrinsics(cams):
    v = cams.batch_shape[0]
    return cams.replace(R=np.tile(np.eye(3), (v, 1, 1)), t=np.zeros((v, 3)))


def _calibrate(cams, uv, cf, **kwargs):
    names = [f"cam{i}" for i in range(cams.batch_shape[0])]
    return pr.calibrate_from_people(names, _intrinsics(cams), uv, cf, joints=JOINTS, fps=30, **kwargs)


@pytest.mark.parametrize("kind, v", [("ring", 2), ("ring", 5), ("ring", 8), ("line", 2), ("line", 4)])
def test_synthetic_rigs_recovered_within_tolerance(kind, v):
    """A body walking a circle, 1 px noise, 2 % outliers (30-150 px): rotations <= 0.2 deg, centres <= 1 %."""
    rng = np.random.default_rng(v)
    cams = ring(v) if kind == "ring" else line(v)
    uv, cf = observe(cams, walking_body(60 if v > 4 else 90), rng)
    result = _calibrate(cams, uv, cf)
    rot, centre = shape_errors(result.rig.cameras, cams)
    assert rot <= 0.2 and centre <= 0.01, (rot, centre)
    assert result.rig.units == "m" and len(result.tree) == v - 1
    # the scale comes from the height: the rig's size is the true one within a few per cent
    C, Ct = numpy_camera.camera_centres(result.rig.cameras), numpy_camera.camera_centres(cams)
    size = lambda c: np.linalg.norm(c[:, None] - c[None], axis=-1).max()  # noqa: E731
    assert abs(size(C) / size(Ct) - 1) < 0.05
    report = pr.people_report(result)
    assert set(report["cameras"]) == {f"cam{i}" for i in range(v)}
    assert all(c["frames"] > 0 and c["joints"] > 0 and c["pairs_used"] for c in report["cameras"].values())


def test_known_distance_scale_and_floor_world():
    rng = np.random.default_rng(1)
    cams = ring(3)
    uv, cf = observe(cams, walking_body(80), rng)
    result = _calibrate(cams, uv, cf, distance=("cam0", "cam2", 5.0))
    C = numpy_camera.camera_centres(result.rig.cameras)
    assert np.linalg.norm(C[0] - C[2]) == pytest.approx(5.0, rel=1e-9)
    assert result.scale["source"] == "distance cam0-cam2"
    assert result.world in ("floor", "camera") and result.world_note
    with pytest.raises(CalibrationError, match="camX"):
        _calibrate(cams, uv, cf, distance=("cam0", "camX", 5.0))


def test_subject_height_of_the_body():
    X = walking_body(20)
    assert pr.subject_height(X, JOINTS) == pytest.approx(1.75, rel=0.03)
    with pytest.raises(CalibrationError, match="height"):
        pr.subject_height(X[:, :5], JOINTS[:5])


def test_people_associated_across_views_by_epipolar_consistency():
    """Two people in random detection slots per view: `match_pair` pairs each with itself."""
    rng = np.random.default_rng(2)
    cams = ring(3)
    a, b = walking_body(60), walking_body(60, radius=0.6, laps=-1.0) + [0.3, 0.0, 0.0]
    uv_a, cf_a = observe(cams, a, rng)
    uv_b, cf_b = observe(cams, b, rng)
    uv, cf = np.concatenate([uv_a, uv_b], 2), np.concatenate([cf_a, cf_b], 2)
    swap = rng.random(uv.shape[:2]) < 0.5  # (t, v): slot order scrambled per frame and view
    uv[swap] = uv[swap][:, ::-1]
    cf[swap] = cf[swap][:, ::-1]
    xy, c = pi.normalised_keypoints(_intrinsics(cams), uv, cf, 0.3)
    pair = pi.match_pair(0, 1, xy, c, focal_px=1650.0)
    truth = np.where(swap[:, 0] == swap[:, 1], 0, 1)  # slot of camera 1 matching slot 0 of camera 0
    found = pair.slots[:, 0]
    assert np.mean(found[found >= 0] == truth[found >= 0]) > 0.98 and (found >= 0).mean() > 0.8


def test_bad_input_is_refused_naming_the_cameras():
    rng = np.random.default_rng(3)
    cams = ring(3)
    X = walking_body(60)
    # a person standing still
    still = np.repeat(X[:1], 30, 0)
    uv, cf = observe(cams, still, rng, noise_px=0.5, outliers=0.0)
    with pytest.raises(CalibrationError, match=r"barely move in camera\(s\) cam0 .*at least 5 %"):
        _calibrate(cams, uv, cf)
    # too few frames where two cameras see the person
    uv, cf = observe(cams, X[:6], rng)
    with pytest.raises(CalibrationError, match=r"camera\(s\) cam0, cam1, cam2: too few frames"):
        _calibrate(cams, uv, cf)
    # camera 2 sees the person only in frames where the others see nobody
    uv, cf = observe(cams, X, rng)
    cf[:30, 2] = 0.0
    cf[30:, :2] = 0.0
    uv[cf == 0] = np.nan
    with pytest.raises(CalibrationError, match=r"camera\(s\) cam2: too few frames"):
        _calibrate(cams, uv, cf)
    # a camera whose detections never agree with the others' (another capture's keypoints)
    uv, cf = observe(cams, X, rng)
    uv[:, 2] = observe(cams, walking_body(60, radius=0.5, laps=-2.0), rng)[0][:, 2]
    with pytest.raises(CalibrationError, match="cam2"):
        _calibrate(cams, uv, cf)


@needs_data
def test_real_balancing_trial_with_qualisys_intrinsics():
    """The real trial (OpenPose, 100 frames, a bystander in two views), intrinsics from the Qualisys file."""
    from lift3d.calibration.solvers.points_bundle import rig_shape_errors
    from lift3d.core.keypoints import match_views
    from lift3d.io.keypoints import read_keypoints
    from lift3d.io.rigs import load_rig

    trial = SHARED / "single_BalancingTrial" / "pose"
    kp = read_keypoints([trial / f"cam0{i}_json" for i in range(1, 5)], format="openpose", skeleton="body_25b")
    kp, rig = match_views(kp, load_rig(SHARED / "Calib.qca.txt"))
    result = pr.calibrate_from_people(rig.names, _intrinsics(rig.cameras), kp.points, kp.confidence,
                                      joints=JOINTS, fps=60, height_m=1.72)  # fmt: skip
    err = rig_shape_errors(result.rig.cameras, rig.cameras)
    assert err["rotation_deg"].max() < 1.0 and err["centre"].max() < 0.05
    assert abs(err["scale"] - 1) < 0.03  # the scale from the subject's 1.72 m
    assert result.refine.dlt_error_px["refined"]["all"] < 9.0 and result.world == "floor"

"""Rig calibration: spanning-tree start, world frames, the OpenCV stereo pair, a rendered rig, bad input."""

import dataclasses
import json
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lift3d.apps import calibrate as pipeline
from lift3d.apps.calibrate import calibrate_extrinsics, calibrate_intrinsics
from lift3d.calibration.boards import detect_in_source
from lift3d.calibration.extrinsics import (
    camera_groups_message,
    initial_rig,
    pairwise_poses,
    view_poses,
    world_from_board,
    world_from_camera,
)
from lift3d.calibration.intrinsics import calibrate_camera
from lift3d.calibration.report import compare_rigs
from lift3d.errors import CalibrationError
from lift3d.io.boards import Board, load_board
from lift3d.io.rigs import load_rig
from lift3d.synthetic import boards as sb

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OPENCV = SHARED / "opencv_stereo_chessboard"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
OPENCV_BOARD = ROOT / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml"
BOARD = Board("checkerboard", (8, 5), 70.0, name="synthetic_8x5_70mm")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A rendered 4-camera ring (640x480): close-ups per camera and 24 board poses; intrinsics calibrated."""
    folder = tmp_path_factory.mktemp("ring")
    cap = sb.render_rig_capture(jax.random.key(0), folder, num_cameras=4, intrinsic_views=10, frames=24)
    intr, _ = calibrate_intrinsics(cap["intrinsics"], BOARD, folder / "intrinsics.toml", coverage_png=False)
    dets = {name: detect_in_source(src, BOARD, camera=name) for name, src in cap["extrinsics"].items()}
    return cap | {"folder": folder, "intr": intr, "dets": dets}


def projected(num_cameras=4, frames=30, noise_px=0.0, seed=0):
    rig = sb.ring_rig(jax.random.key(seed), num_cameras)
    R, t = sb.board_trajectory(jax.random.key(seed + 7), frames, BOARD)
    uv = sb.project_capture(jax.random.key(seed + 9), rig, BOARD, R, t, noise_px=noise_px)
    return rig, R, t, uv


def test_initial_rig_from_exact_views_is_exact():
    rig, R, t, uv = projected()
    Rv, tv, rms = view_poses(rig.cameras, uv, BOARD.object_points())
    seen = np.isfinite(uv).all((-1, -2))
    np.testing.assert_array_equal(np.isfinite(rms), seen)
    assert np.nanmax(rms) < 1e-3
    cams, bR, bt, info = initial_rig(rig.cameras, Rv, tv, rms, rig.names)
    truth, tR, tt = world_from_camera(rig.cameras, R, t, 0)
    np.testing.assert_allclose(np.asarray(cams.R), np.asarray(truth.R), atol=1e-6)
    np.testing.assert_allclose(np.asarray(cams.t), np.asarray(truth.t), atol=1e-5)
    ok = seen.any(0)
    np.testing.assert_allclose(bt[ok], tt[ok], atol=1e-5)
    assert np.isnan(bt[~ok]).all()
    assert len(info["tree"]) == 3 and info["shared"].shape == (4, 4)
    pairs = pairwise_poses(Rv, tv)
    assert all(p.inliers == p.shared and p.rotation_spread_deg < 1e-3 for p in pairs.values())


def test_pairwise_average_ignores_a_flipped_view():
    rig, R, t, uv = projected(frames=80)
    Rv, tv, _ = view_poses(rig.cameras, uv, BOARD.object_points())
    good = pairwise_poses(Rv, tv)[(0, 1)]
    shared = np.flatnonzero(np.isfinite(tv[:2]).all(-1).all(0))
    assert len(shared) >= 5
    Rv[1, shared[0]] = Rv[1, shared[0]] @ Rotation.from_euler("z", 180, degrees=True).as_matrix()
    pp = pairwise_poses(Rv, tv)[(0, 1)]
    assert pp.inliers == pp.shared - 1
    assert np.rad2deg(Rotation.from_matrix(pp.R @ good.R.T).magnitude()) < 1e-6


def test_groups_message():
    shared = np.array([[0, 3, 0, 0], [3, 0, 0, 0], [0, 0, 0, 2], [0, 0, 2, 0]])
    names = ["cam1", "cam2", "cam3", "cam4"]
    assert (
        camera_groups_message(names, shared) == "cameras {cam1, cam2} share no board views with {cam3, cam4}"
    )
    shared[2, 3] = shared[3, 2] = 0
    assert "3 groups" in camera_groups_message(names, shared)
    shared[1, 2] = shared[2, 1] = shared[2, 3] = shared[3, 2] = 1
    assert camera_groups_message(names, shared) is None


def test_world_from_board_points_z_out_of_the_board():
    rig, R, t, uv = projected()
    f = int(np.argmax(np.isfinite(uv).all((-1, -2)).sum(0)))
    cams, bR, bt = world_from_board(rig.cameras, R, t, f)
    # the cameras that see the board's face are on its +z side; the board of frame f is the identity (flipped)
    C = -np.einsum("vji,vj->vi", np.asarray(cams.R), np.asarray(cams.t))
    seers = np.isfinite(uv[:, f]).all((-1, -2))
    assert (C[seers, 2] > 0).all()
    np.testing.assert_allclose(bR[f], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(bt[f], 0, atol=1e-12)
    # distances are unchanged
    C0 = rig.centers
    np.testing.assert_allclose(
        np.linalg.norm(C[:, None] - C[None], axis=-1), np.linalg.norm(C0[:, None] - C0[None], axis=-1)
    )
    with pytest.raises(CalibrationError, match="no board pose"):
        world_from_board(rig.cameras, R, t * np.nan, 0)


@needs_shared
def test_opencv_stereo_pair(tmp_path):
    board = load_board(OPENCV_BOARD)
    sources = {"left": str(OPENCV / "left*.jpg"), "right": str(OPENCV / "right*.jpg")}
    rig, report = calibrate_extrinsics(sources, board, tmp_path / "stereo.toml")
    baseline_mm = 1000 * np.linalg.norm(rig.centers[1] - rig.centers[0])
    angle = np.rad2deg(Rotation.from_matrix(np.asarray(rig.cameras.R)[1]).magnitude())
    assert abs(baseline_mm - 83.6) < 1.0  # measured 83.2 mm
    assert 0.2 < angle < 0.6  # measured 0.51 deg; 0.30 deg with OpenCV's 11 px windows (next test)
    assert report["bundle_adjustment"]["rms_px"] < 0.25 and report["status"] == "ok"
    assert report["baselines_m"]["distances"][0][1] == pytest.approx(baseline_mm / 1000)
    # the same detections and intrinsics through cv2.stereoCalibrate: the same answer
    dets = [detect_in_source(sources[n], board, camera=n) for n in ("left", "right")]
    cams = [calibrate_camera(d).camera for d in dets]
    obj = [board.object_points().astype(np.float32)] * 13
    K, D = [np.array(c.K) for c in cams], [np.array(c.dist) for c in cams]
    _, _, _, _, _, R, T, _, _ = cv2.stereoCalibrate(
        obj,
        *[list(d.corners.astype(np.float32)) for d in dets],
        K[0],
        D[0],
        K[1],
        D[1],
        (640, 480),
        flags=cv2.CALIB_FIX_INTRINSIC,
    )
    assert baseline_mm == pytest.approx(1000 * np.linalg.norm(T), abs=0.1)
    assert np.rad2deg(Rotation.from_matrix(R @ np.asarray(rig.cameras.R)[1].T).magnitude()) < 0.02
    saved = load_rig(tmp_path / "stereo.toml")
    np.testing.assert_allclose(np.asarray(saved.cameras.t), np.asarray(rig.cameras.t), atol=1e-12)
    assert saved.metadata["world"] == "camera:left"


@needs_shared
def test_opencv_stereo_sample_figures_with_its_corner_window(tmp_path):
    """With OpenCV's sample corner refinement (11 px half windows, classic detector, no rejection) the whole
    pipeline gives its published facts: left fx 535.92 px at RMS 0.39 px, baseline 83.6 mm, 0.3 deg."""
    sources = {"left": str(OPENCV / "left*.jpg"), "right": str(OPENCV / "right*.jpg")}
    corners = dict(detector="classic", subpix_window=11)
    intr, report = calibrate_intrinsics(sources, OPENCV_BOARD, tmp_path / "intr.toml", reject_k=None,
                                        coverage_png=False, **corners)  # fmt: skip
    assert abs(float(intr.cameras.K[0, 0, 0]) / 535.92 - 1) < 0.005 and report["cameras"]["left"]["rms_px"] <= 0.45
    assert abs(float(intr.cameras.K[1, 0, 0]) - 542) < 2  # "about 542"
    rig, _ = calibrate_extrinsics(sources, OPENCV_BOARD, tmp_path / "stereo.toml", intrinsics=intr, **corners)
    baseline_mm = 1000 * np.linalg.norm(rig.centers[1] - rig.centers[0])
    angle = np.rad2deg(Rotation.from_matrix(np.asarray(rig.cameras.R)[1]).magnitude())
    assert abs(baseline_mm - 83.6) < 1.0 and abs(angle - 0.3) < 0.05  # measured 83.53 mm, 0.297 deg


def test_rendered_rig(rendered, tmp_path):
    out = tmp_path / "rig.toml"
    rig, report = calibrate_extrinsics(rendered["extrinsics"], BOARD, out, intrinsics=rendered["intr"])
    err = compare_rigs(rig, rendered["rig"])
    assert err["rotation_error_deg"] < 0.1
    assert err["center_error_pct"] < 0.5
    assert err["fx_error_pct"] < 0.2
    assert (
        report["bundle_adjustment"]["status"] == "converged" and report["bundle_adjustment"]["rms_px"] < 0.3
    )
    assert [e["cameras"] for e in report["spanning_tree"]] and len(report["spanning_tree"]) == 3
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["status"] == "ok" and saved["cameras"]["cam_2"]["views_found"] > 4
    assert load_rig(out).names == rig.names == rendered["rig"].names
    # world from a board view: the board's first corner is the origin
    key = next(str(f) for f in range(24) if rendered["seen"][:, f].sum() >= 2)
    rig_b, _ = calibrate_extrinsics(
        rendered["dets"], BOARD, tmp_path / "b.toml", intrinsics=rendered["intr"], world=f"board:{key}"
    )
    truth_corner = rendered["board_R"][int(key)] @ BOARD.object_points()[0] + rendered["board_t"][int(key)]
    d_true = np.linalg.norm(rendered["rig"].centers - truth_corner, axis=1)
    np.testing.assert_allclose(np.linalg.norm(rig_b.centers, axis=1), d_true, atol=0.02)
    with pytest.raises(CalibrationError, match="world 'floor'"):
        calibrate_extrinsics(
            rendered["dets"], BOARD, tmp_path / "c.toml", intrinsics=rendered["intr"], world="floor"
        )


def test_disconnected_rig_names_the_groups(rendered, tmp_path):
    seen = rendered["seen"]
    a = [f for f in range(seen.shape[1]) if seen[0, f] and seen[1, f]]
    b = [f for f in range(seen.shape[1]) if seen[2, f] and seen[3, f]]
    assert a and b
    keep = {"cam_1": a, "cam_2": a, "cam_3": b, "cam_4": b}
    sources = {n: d.subset(np.isin(np.array(d.keys, int), keep[n])) for n, d in rendered["dets"].items()}
    out = tmp_path / "rig.toml"
    with pytest.raises(
        CalibrationError, match=r"cameras \{cam_1, cam_2\} share no board views with \{cam_3, cam_4\}"
    ):
        calibrate_extrinsics(sources, BOARD, out, intrinsics=rendered["intr"], min_views=1)
    assert not out.exists()
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "failed"


def test_camera_without_board_and_too_few_views(rendered, tmp_path):
    sources = dict(rendered["dets"])
    blank = tmp_path / "cam_5"
    blank.mkdir()
    for i in range(3):
        cv2.imwrite(str(blank / f"frame_{i:04d}.png"), np.full((480, 640), 90, np.uint8))
    with pytest.raises(CalibrationError, match=r"camera 'cam_5': no board found in any of 3 frames"):
        calibrate_extrinsics(sources | {"cam_5": blank}, BOARD, tmp_path / "r.toml", detector="classic")
    with pytest.raises(CalibrationError, match=r"camera 'cam_1': only \d+ usable view.*at least 50"):
        calibrate_extrinsics(sources, BOARD, tmp_path / "r.toml", intrinsics=rendered["intr"], min_views=50)
    with pytest.raises(CalibrationError, match="at least two cameras"):
        calibrate_extrinsics({"cam_1": sources["cam_1"]}, BOARD, tmp_path / "r.toml")
    assert not (tmp_path / "r.toml").exists()


def test_bad_boards_and_intrinsics(rendered, tmp_path):
    sym = Board("checkerboard", (7, 5), 70.0, name="sym")
    with pytest.raises(CalibrationError, match="180 degrees"):
        calibrate_extrinsics(rendered["dets"], sym, tmp_path / "r.toml")
    with pytest.raises(CalibrationError, match="metres"):
        calibrate_extrinsics(rendered["dets"], BOARD, tmp_path / "r.toml", square_size_mm=0.07)
    small = dataclasses.replace(
        rendered["intr"], cameras=rendered["intr"].cameras.replace(image_size=np.tile([320.0, 240.0], (4, 1)))
    )
    with pytest.raises(CalibrationError, match=r"camera 'cam_1': .*320x240 px images, but .* 640x480 px"):
        calibrate_extrinsics(rendered["dets"], BOARD, tmp_path / "r.toml", intrinsics=small)
    subset = rendered["intr"].subset(["cam_1", "cam_2", "cam_3"])
    with pytest.raises(KeyError, match="cam_4"):
        calibrate_extrinsics(rendered["dets"], BOARD, tmp_path / "r.toml", intrinsics=subset)
    assert not (tmp_path / "r.toml").exists()


def test_divergence_and_poor_fit_write_no_rig(rendered, tmp_path, monkeypatch):
    out = tmp_path / "rig.toml"
    out.write_text("# the previous rig\n")
    real = pipeline.bundle_adjust

    def diverging(*args, **kwargs):
        res = real(*args, **kwargs)
        return dataclasses.replace(
            res,
            status="diverged",
            reason="every step gives a non-finite cost at iteration 3; kept iteration 2",
        )

    monkeypatch.setattr(pipeline, "bundle_adjust", diverging)
    with pytest.raises(
        CalibrationError,
        match=r"bundle adjustment diverged: every step .* kept iteration 2; .*rig.toml was not written",
    ):
        calibrate_extrinsics(rendered["dets"], BOARD, out, intrinsics=rendered["intr"])
    assert out.read_text() == "# the previous rig\n"
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["status"] == "failed" and len(report["last_good_rig"]["names"]) == 4
    monkeypatch.setattr(pipeline, "bundle_adjust", real)
    # intrinsics 10 % off: the rig fits badly, and is not written
    wrong = rendered["intr"].cameras.replace(K=np.asarray(rendered["intr"].cameras.K) * [[1.1], [1.1], [1.0]])
    with pytest.raises(CalibrationError, match=r"ended at RMS .* px \(> 0.5 px; per camera cam_1"):
        calibrate_extrinsics(
            rendered["dets"],
            BOARD,
            out,
            intrinsics=dataclasses.replace(rendered["intr"], cameras=wrong),
            max_rms_px=0.5,
        )
    assert out.read_text() == "# the previous rig\n"

"""`lift3d calibrate` as an app: intrinsics and extrinsics end to end (real OpenCV / Pose2Sim photos, a rendered
rig), the camera arguments, and what a failed calibration leaves behind (no rig)."""

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lift3d.apps import calibrate as pipeline
from lift3d.apps.calibrate import calibrate_extrinsics, calibrate_intrinsics, camera_sources, camera_sources_from_args
from lift3d.calibration.boards import detect_in_source
from lift3d.calibration.intrinsics import calibrate_camera
from lift3d.calibration.report import compare_rigs
from lift3d.errors import CalibrationError, ConfigError
from lift3d.io.boards import Board, load_board
from lift3d.io.rigs import load_rig
from lift3d.synthetic import boards as sb

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OPENCV = SHARED / "opencv_stereo_chessboard"
POSE2SIM = SHARED / "pose2sim_calibration"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
OPENCV_BOARD = ROOT / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml"
POSE2SIM_BOARD = ROOT / "calib" / "boards" / "pose2sim_checkerboard_4x7_60mm.toml"
BOARD = Board("checkerboard", (8, 5), 70.0, name="synthetic_8x5_70mm")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A rendered 4-camera ring (640x480): close-ups per camera and 24 board poses; intrinsics calibrated."""
    folder = tmp_path_factory.mktemp("ring")
    cap = sb.render_rig_capture(jax.random.key(0), folder, num_cameras=4, intrinsic_views=10, frames=24)
    intr, _ = calibrate_intrinsics(cap["intrinsics"], BOARD, folder / "intrinsics.toml", coverage_png=False)
    dets = {name: detect_in_source(src, BOARD, camera=name) for name, src in cap["extrinsics"].items()}
    return cap | {"folder": folder, "intr": intr, "dets": dets}


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
    assert report["bundle_adjustment"]["status"] == "converged" and report["bundle_adjustment"]["rms_px"] < 0.3
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
    with pytest.raises(ConfigError, match="--world floor: expected camera:NAME or board:KEY"):
        calibrate_extrinsics(rendered["dets"], BOARD, tmp_path / "c.toml", intrinsics=rendered["intr"], world="floor")


def test_disconnected_rig_names_the_groups(rendered, tmp_path):
    seen = rendered["seen"]
    a = [f for f in range(seen.shape[1]) if seen[0, f] and seen[1, f]]
    b = [f for f in range(seen.shape[1]) if seen[2, f] and seen[3, f]]
    assert a and b
    keep = {"cam_1": a, "cam_2": a, "cam_3": b, "cam_4": b}
    sources = {n: d.subset(np.isin(np.array(d.keys, int), keep[n])) for n, d in rendered["dets"].items()}
    out = tmp_path / "rig.toml"
    with pytest.raises(CalibrationError, match=r"cameras \{cam_1, cam_2\} share no board views with \{cam_3, cam_4\}"):
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


@needs_shared
def test_pose2sim_cameras_against_qualisys(tmp_path):
    ref = load_rig(POSE2SIM / "Calib.qca.txt")
    sources = camera_sources(POSE2SIM / "intrinsics")
    assert list(sources) == ["cam01", "cam02", "cam03", "cam04"]
    out = tmp_path / "intrinsics.toml"
    rig, report = calibrate_intrinsics(sources, POSE2SIM_BOARD, out)
    assert load_rig(out).names == rig.names == ref.names
    fx, fx_ref = np.asarray(rig.cameras.K)[:, 0, 0], np.asarray(ref.cameras.K)[:, 0, 0]
    assert np.all(np.abs(fx / fx_ref - 1) < 0.015)  # measured: within 0.5 %
    k1, k2 = np.asarray(rig.cameras.dist)[:, 0], np.asarray(rig.cameras.dist)[:, 1]
    assert np.all((-0.07 < k1) & (k1 < -0.03)) and np.all((0.05 < k2) & (k2 < 0.2))  # Qualisys raw: -0.05, 0.14
    np.testing.assert_array_equal(np.asarray(rig.cameras.R), np.broadcast_to(np.eye(3), (4, 3, 3)))
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved == json.loads(json.dumps(report)) and saved["status"] == "ok"
    unusable = {c: [u["name"] for u in saved["cameras"][c]["unusable"]] for c in rig.names}
    # photos whose board is not fully found (classic, then the SB detector): one of cam02, one of cam04
    assert unusable == {
        "cam01": [],
        "cam02": ["cam02_06_int.jpg"],
        "cam03": [],
        "cam04": ["cam04_04_int.jpg"],
    }
    reason = saved["cameras"]["cam02"]["unusable"][0]
    assert reason["status"] == "not found" and "not found" in reason["reason"]
    for c in rig.names:
        entry = saved["cameras"][c]
        assert entry["distortion_model"] == "k1k2" and entry["rms_px"] < 0.3
        assert len(entry["images"]) == 7 and all("rms_px" in i for i in entry["images"] if i["status"] == "used")
        assert Path(entry["coverage_png"]).is_file()
        assert 0 < entry["coverage"]["fraction"] < 1


@needs_shared
def test_failed_calibration_writes_no_rig(tmp_path):
    cams = tmp_path / "cams"
    (cams / "left").mkdir(parents=True)
    for name in ("left01.jpg", "left02.jpg"):
        shutil.copy(OPENCV / name, cams / "left" / name)
    out = tmp_path / "rig.toml"
    out.write_text("# an older rig\n")
    with pytest.raises(CalibrationError, match=r"only 2 usable view.*report: .*rig.json"):
        calibrate_intrinsics(cams, OPENCV_BOARD, out)
    assert out.read_text() == "# an older rig\n"  # untouched
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["status"] == "failed" and "only 2 usable" in report["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cams",
        "rig.json",
        "rig.toml",
    ]  # no temporary files
    with pytest.raises(CalibrationError, match="metres"):
        calibrate_intrinsics(cams, OPENCV_BOARD, out, square_size_mm=0.025)


def test_camera_arguments(tmp_path):
    assert camera_sources_from_args(["calib"]) == Path("calib")
    assert camera_sources_from_args(["l=a/l*.jpg", "r=b.mp4"]) == {"l": "a/l*.jpg", "r": "b.mp4"}
    for bad, words in [
        ([], "no cameras"),
        (["a", "b"], "NAME=SOURCE"),
        (["=x"], "NAME=SOURCE"),
        (["a=1", "a=2"], "twice"),
    ]:
        with pytest.raises(CalibrationError, match=words):
            camera_sources_from_args(bad)
    for name in ("int_cam01_img", "int_cam02_img"):
        (tmp_path / name).mkdir()
    assert list(camera_sources(tmp_path)) == ["cam01", "cam02"]
    (tmp_path / "cam01_extra").mkdir()  # two folders share "cam01": keep the full names
    assert list(camera_sources(tmp_path)) == ["cam01_extra", "int_cam01_img", "int_cam02_img"]
    with pytest.raises(CalibrationError, match="no camera subfolders"):
        camera_sources(tmp_path / "int_cam01_img")

"""Input checks that keep good-looking numbers from being silently wrong: `Rig.check` and `lift3d.core.checks`
on the real Pose2Sim rig and keypoints, and on their broken twins (millimetres read as metres, a copied camera
pose, confidences on another scale, keypoints off the image, a skeleton read in another joint order)."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from lift3d.core.checks import CameraUsage, check_keypoints, nothing_found_message, skeleton_mismatch
from lift3d.core.keypoints import match_views
from lift3d.core.rig import SOURCE_KEY, Rig
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import CaptureInputError, InputWarning, KeypointFileError, RigFileError
from lift3d.geometry.camera import Camera, project_points
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
CAMS = [SHARED / "single_BalancingTrial" / "pose" / f"cam0{i}_json" for i in range(1, 5)]


@pytest.fixture(scope="module")
def rig():
    return load_rig(SHARED / "Calib.qca.txt")


@pytest.fixture(scope="module")
def capture(rig):
    """The balancing trial's first 30 frames (BODY_25B), views matched to the rig."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kp = read_keypoints(CAMS, format="openpose", skeleton="body_25b")
    kp = dataclasses.replace(kp, points=kp.points[:30], confidence=kp.confidence[:30], frame_ids=kp.frame_ids[:30])
    return match_views(kp, rig)


def with_translations(rig, t, name="broken.toml"):
    return dataclasses.replace(rig, cameras=rig.cameras.replace(t=t), metadata={SOURCE_KEY: name})


def test_real_rig_passes(rig):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rig.check() == []
        assert rig.to_units("mm").check() == []


def test_millimetres_read_as_metres(rig):
    t = np.asarray(rig.cameras.t)
    with pytest.raises(RigFileError, match=r"broken.toml: the cameras are \d+ m apart.*millimetres read as metres.*"
                                           r'units = "mm"'):  # fmt: skip
        with_translations(rig, t * 1000).check()
    one = t.copy()
    one[2] *= 1000  # one camera in mm, the others in m
    with pytest.raises(RigFileError, match=r"camera 'cam_03' is 4\d\d\d m from the others \(which are within 6.7 m"):
        with_translations(rig, one).check()
    metres_as_mm = dataclasses.replace(rig, units="mm", metadata={SOURCE_KEY: "broken.toml"})
    with pytest.raises(RigFileError, match=r"within 6.7 mm of each other.*metres read as millimetres"):
        metres_as_mm.check()


def test_two_cameras_with_one_pose(rig):
    cams = rig.cameras
    R, t = np.asarray(cams.R).copy(), np.asarray(cams.t).copy()
    R[1], t[1] = R[0], t[0]  # cam_02's extrinsics copied from cam_01
    broken = dataclasses.replace(rig, cameras=cams.replace(R=R, t=t), metadata={SOURCE_KEY: "copied.toml"})
    with pytest.raises(RigFileError, match="copied.toml: cameras 'cam_01' and 'cam_02' have the same pose"):
        broken.check()
    # one centre, two orientations: allowed, but said
    R[1] = np.diag([1.0, -1.0, -1.0]) @ R[0]  # turned by 180 degrees about its x axis
    t[1] = -R[1] @ rig.centers[0]
    shared = dataclasses.replace(rig, cameras=cams.replace(R=R, t=t))
    with pytest.warns(InputWarning, match="'cam_01' and 'cam_02' share a centre"):
        notes = shared.check()
    assert len(notes) == 1


def test_intrinsics_only_rig_is_refused():
    cams = Camera.create(np.tile(np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]]), (3, 1, 1)),
                         image_size=np.tile([640.0, 480.0], (3, 1)))  # fmt: skip
    rig = Rig(("a", "b", "c"), cams, metadata={SOURCE_KEY: "intrinsics.toml"})
    with pytest.raises(RigFileError, match="intrinsics.toml: all 3 cameras sit at the origin.*calibrate extrinsics"):
        rig.check()


def test_good_keypoints_pass(capture):
    kp, rig = capture
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_keypoints(kp, rig) == []


def test_confidence_on_another_scale_names_file_camera_frame(capture):
    kp, rig = capture
    conf = kp.confidence.copy()
    conf[:, 1] *= 5.0  # cam02 on a 0-5 scale
    with pytest.raises(KeypointFileError, match=r"cam02_json \(camera 'cam02'\): confidence [\d.]+ in frame 0 "
                                                r"\(person 1, joint 'nose'\).*outside \[0, 1\].*divide them by"):
        check_keypoints(dataclasses.replace(kp, confidence=conf), rig)
    conf = kp.confidence.copy()
    conf[3, 0, 0, 5] = -0.5
    with pytest.raises(KeypointFileError, match="cam01.*frame 3.*clip them to"):
        check_keypoints(dataclasses.replace(kp, confidence=conf), rig)


def test_keypoints_outside_the_image(capture):
    kp, rig = capture
    pts = kp.points.copy()
    pts[:, 2, ..., 0] += 5000.0  # cam03's x beyond its 1088 px width
    with pytest.raises(CaptureInputError, match=r"cam03_json \(camera 'cam03'\): all \d+ detected joints lie "
                                                r"outside its 1088x1920 px image"):  # fmt: skip
        check_keypoints(dataclasses.replace(kp, points=pts), rig)
    pts = kp.points.copy()
    pts[:, 0] /= np.array([1088.0, 1920.0])  # normalised coordinates
    with pytest.raises(CaptureInputError, match="normalised to \\[0, 1\\]"):
        check_keypoints(dataclasses.replace(kp, points=pts), rig)
    pts = kp.points.copy()
    pts[:20, 3, ..., 1] += 3000.0  # two thirds of cam04's frames off the image
    with pytest.warns(InputWarning, match=r"camera 'cam04'\): \d+ % of its \d+ detected joints lie outside"):
        notes = check_keypoints(dataclasses.replace(kp, points=pts), rig)
    assert len(notes) == 1


def test_skeleton_in_another_joint_order(capture):
    kp, rig = capture
    assert skeleton_mismatch(kp) is None
    as_body_25 = dataclasses.replace(kp, skeleton=get_skeleton("body_25"))  # BODY_25B files read as BODY_25
    score, limbs, better = skeleton_mismatch(as_body_25)
    assert score > 2.0 and better == "body_25b" and set(limbs) == {"upper arm", "forearm", "thigh", "shin"}
    with pytest.raises(CaptureInputError, match="skeleton 'body_25' does not fit.*pass --skeleton body_25b"):
        check_keypoints(as_body_25, rig)


def test_camera_usage_names_a_camera_that_never_fits(rig):
    """Two frames of three synthetic points seen by the four real cameras; cam_04's detections are shifted."""
    X = np.array([[[0.0, 0.0, 1.0], [0.2, 0.1, 1.5], [-0.1, 0.2, 0.5]]] * 12)  # (n, j, 3)
    uv = np.stack([np.asarray(project_points(rig.cameras[k], X)) for k in range(4)], 1)  # (n, v, j, 2)
    uv[:, 3] += 300.0
    conf = np.ones(uv.shape[:3])
    used = np.ones(uv.shape[:3], bool)
    used[:, 3] = False
    usage = CameraUsage(rig.names)
    usage.add(rig.cameras, np.ones((12, 4), bool), X, uv, conf, used)
    rows = usage.table()
    assert [r["frames_used"] for r in rows] == [12, 12, 12, 0]
    assert rows[0]["median_error_px"] <= 1e-3  # a histogram median: to its bin, about 2 %
    assert rows[3]["median_error_px"] == pytest.approx(300 * 2**0.5, rel=0.02)
    with pytest.warns(InputWarning, match="camera 'cam_04' was used in 0 of the 12 frames"):
        notes = usage.notes(15.0)
    assert len(notes) == 1 and "cam_01" not in notes[0]


def test_nothing_found_message():
    conf = np.zeros((5, 2, 1, 3))
    assert "no person was detected in any of the 5 frames" in nothing_found_message(conf, 0.3, 1)
    conf[:, :, 0, 0] = 0.05
    message = nothing_found_message(conf, 0.3, 1)
    assert "10 detected joints" in message and "0 reach the confidence threshold 0.3 (highest 0.05)" in message

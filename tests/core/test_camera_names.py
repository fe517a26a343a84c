"""Camera names: keypoint folders and videos matched to rig cameras by number, by order, or refused (issue 17)."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.triangulate import triangulate_capture
from lift3d.core.rig import match_camera_names
from lift3d.errors import InputWarning, UnknownCameraError
from lift3d.io.motion import read_motion

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
RIG = SHARED / "Calib.qca.txt"


@pytest.mark.parametrize("views", [
    ["cam1_json", "cam2_json"], ["cam01", "cam02"], ["cam_1", "cam_2"], ["Cam1.mp4", "Cam2.mp4"],
    ["CAM-01", "cam_02"], ["cam01_json", "cam02.json"],
])  # fmt: skip
@pytest.mark.parametrize("cameras", [["cam01", "cam02"], ["cam_1", "cam_2"]])
def test_spellings_of_one_number_match(views, cameras):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no order fallback, no warning
        assert match_camera_names(views, cameras) == cameras
        assert match_camera_names(views[::-1], cameras) == cameras[::-1]


def test_exact_names_win_over_numbers():
    assert match_camera_names(["cam1", "cam01"], ["cam01", "cam1"]) == ["cam1", "cam01"]


def test_names_without_shared_numbers_use_the_rig_order_and_say_so():
    with pytest.warns(InputWarning, match=r"left -> cam_01, right -> cam_02"):
        assert match_camera_names(["left", "right"], ["cam_01", "cam_02"]) == ["cam_01", "cam_02"]
    with pytest.warns(InputWarning, match=r"cam5 -> cam01"):
        assert match_camera_names(["cam5", "cam6"], ["cam01", "cam02"]) == ["cam01", "cam02"]


def test_ambiguity_and_unknown_views_are_errors_naming_both_sides():
    with pytest.raises(UnknownCameraError, match=r"view 'cam1_json' matches cameras \['cam1', 'cam_01'\]"):
        match_camera_names(["cam1_json"], ["cam1", "cam_01"])
    with pytest.raises(UnknownCameraError, match=r"views 'cam1_json' and 'cam01.mp4' both match camera 'cam_1'"):
        match_camera_names(["cam1_json", "cam01.mp4"], ["cam_1", "cam_2"])
    with pytest.raises(UnknownCameraError, match=r"no camera matches view 'cam3'"):  # shares numbers: no fallback
        match_camera_names(["cam1", "cam3"], ["cam01", "cam02"])
    with pytest.raises(UnknownCameraError, match=r"no camera matches view 'left'"):  # counts differ: no fallback
        match_camera_names(["left", "right"], ["cam_1", "cam_2", "cam_3"])
    with pytest.raises(UnknownCameraError, match=r"no camera matches view 'cam01'"):  # one of each is no order
        match_camera_names(["cam01"], ["cam_02"])


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_pose2sim_older_folder_names_triangulate_like_the_new_ones(tmp_path):
    """`cam1_json` ... (Pose2Sim's older layout) against the Qualisys rig's `cam_01` ...: the same 3D."""
    trial = SHARED / "single_BalancingTrial" / "pose"
    old = []
    for i in range(1, 5):
        shutil.copytree(trial / f"cam0{i}_json", tmp_path / f"cam{i}_json")
        old.append(tmp_path / f"cam{i}_json")
    kw = dict(skeleton="body_25b", fps=60, progress=False)
    triangulate_capture(RIG, [trial / f"cam0{i}_json" for i in range(1, 5)], out=[tmp_path / "new.trc"], **kw)
    triangulate_capture(RIG, old[::-1], out=[tmp_path / "old.trc"], **kw)  # other order too
    np.testing.assert_array_equal(read_motion(tmp_path / "old.trc").points, read_motion(tmp_path / "new.trc").points)

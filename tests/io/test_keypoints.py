"""read_keypoints: the format guessed from the paths and dispatched to its reader."""

import json
from pathlib import Path

import pytest

from lift3d.core.skeleton import BLAZEPOSE_33
from lift3d.errors import KeypointFileError
from lift3d.io.keypoints import read_keypoints

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
BALANCING = SHARED / "single_BalancingTrial" / "pose"


@needs_shared
def test_read_keypoints_dispatches(tmp_path):
    kp = read_keypoints(BALANCING, skeleton="body_25b")
    assert kp.points.shape[:2] == (100, 4)
    detection = {"image_id": 3, "category_id": 1, "keypoints": [1.0] * 51, "score": 0.9}
    (tmp_path / "c.json").write_text(json.dumps([detection]))
    assert read_keypoints([tmp_path / "c.json"]).frame_ids.tolist() == [3]
    (tmp_path / "m.json").write_text(json.dumps({"image_width": 2, "image_height": 2, "frames": []}))
    assert read_keypoints(tmp_path / "m.json").skeleton is BLAZEPOSE_33
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(KeypointFileError, match="pass format="):
        read_keypoints(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="unknown keypoint format"):
        read_keypoints(tmp_path / "x.txt", format="vicon")

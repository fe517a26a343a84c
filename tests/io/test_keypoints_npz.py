"""npz keypoints: round trip through write_keypoints_npz, one person, malformed arrays."""


import numpy as np
import pytest

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import COCO_17
from lift3d.errors import KeypointFileError
from lift3d.io.keypoints import read_keypoints
from lift3d.io.keypoints_npz import read_keypoints_npz, write_keypoints_npz


def test_npz_round_trip_and_single_person(tmp_path):
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 100, (4, 2, 3, 17, 2))
    conf = rng.uniform(0, 1, (4, 2, 3, 17))
    conf[0, 0, 0, :3] = 0
    pts[1, 1, 2] = np.nan
    kp = Keypoints2D(pts, conf, ("a", "b"), COCO_17, np.arange(4) + 7, fps=50.0)
    write_keypoints_npz(tmp_path / "k.npz", kp)
    back = read_keypoints(tmp_path / "k.npz", dtype=np.float64)
    assert back.views == ("a", "b") and back.skeleton is COCO_17 and back.fps == 50.0
    np.testing.assert_array_equal(back.frame_ids, kp.frame_ids)
    valid = (conf > 0) & ~np.isnan(pts).any(-1)
    np.testing.assert_array_equal(back.valid, valid)
    np.testing.assert_array_equal(back.points[valid], pts[valid])
    np.savez(tmp_path / "s.npz", points=pts[:, :, 0])  # (t, v, j, 2), no confidence: finite points count
    single = read_keypoints_npz(tmp_path / "s.npz", views=["x", "y"])
    assert single.points.shape == (4, 2, 1, 17, 2) and single.views == ("x", "y")
    assert single.valid.all()
    np.savez(tmp_path / "w.npz", points=pts[:, :, 0], confidence=conf[:, :, :2])
    with pytest.raises(KeypointFileError, match=r"w\.npz: array 'confidence' must have shape"):
        read_keypoints_npz(tmp_path / "w.npz")

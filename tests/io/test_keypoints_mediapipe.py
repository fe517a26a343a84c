"""MediaPipe JSON reader: normalised landmarks to pixels, several people, missing image size."""

import json

import numpy as np
import pytest

from lift3d.core.skeleton import BLAZEPOSE_33
from lift3d.errors import KeypointFileError
from lift3d.io.keypoints_mediapipe import read_mediapipe


def _landmarks(rng):
    return [
        {"x": float(x), "y": float(y), "z": 0.0, "visibility": float(v)}
        for x, y, v in rng.uniform(size=(33, 3))
    ]


def test_mediapipe_layout(tmp_path):
    rng = np.random.default_rng(4)
    p0, p1, p2 = _landmarks(rng), _landmarks(rng), _landmarks(rng)
    doc = {"image_width": 1920, "image_height": 1080, "fps": 30,
           "frames": [{"frame": 1, "landmarks": [p1, p2]}, {"frame": 0, "landmarks": p0},
                      {"frame": 2, "landmarks": []}]}  # fmt: skip
    (tmp_path / "cam.json").write_text(json.dumps(doc))
    kp = read_mediapipe(tmp_path / "cam.json", dtype=np.float64)
    assert kp.skeleton is BLAZEPOSE_33 and kp.fps == 30.0 and kp.points.shape == (3, 1, 2, 33, 2)
    np.testing.assert_array_equal(kp.frame_ids, [0, 1, 2])
    np.testing.assert_allclose(kp.points[1, 0, 1, 7], [p2[7]["x"] * 1920 - 0.5, p2[7]["y"] * 1080 - 0.5])
    np.testing.assert_allclose(kp.confidence[0, 0, 0], [lm["visibility"] for lm in p0])
    assert not kp.valid[0, 0, 1].any() and not kp.valid[2].any()
    del doc["image_width"]
    (tmp_path / "cam.json").write_text(json.dumps(doc))
    with pytest.raises(KeypointFileError, match="image_width.*pass image_size="):
        read_mediapipe(tmp_path / "cam.json")
    assert read_mediapipe(tmp_path / "cam.json", image_size=(100, 50)).points.shape == (3, 1, 2, 33, 2)
    doc["frames"][0]["landmarks"][1] = p1[:32]
    (tmp_path / "cam.json").write_text(json.dumps(doc))
    with pytest.raises(
        KeypointFileError, match=r"cam\.json: frame 1, person 1, field 'landmarks': expected 33"
    ):
        read_mediapipe(tmp_path / "cam.json", image_size=(100, 50))

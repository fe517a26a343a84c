"""COCO keypoint results reader: frames from image ids, people and scores, malformed entries."""

import json

import numpy as np
import pytest

from lift3d.core.skeleton import COCO_17
from lift3d.errors import KeypointFileError, KeypointFileWarning
from lift3d.io.keypoints_coco import read_coco


def _coco_det(image_id, xyc, score=0.9, category_id=1):
    return {
        "image_id": image_id,
        "category_id": category_id,
        "keypoints": xyc.ravel().tolist(),
        "score": score,
    }


def test_coco_results_per_camera(tmp_path):
    rng = np.random.default_rng(0)
    xyc = np.concatenate([rng.uniform(0, 640, (4, 17, 2)), rng.uniform(0.1, 1, (4, 17, 1))], axis=-1)
    xyc[1, 5, 2] = 0  # a joint not detected
    a = [
        _coco_det(0, xyc[0]),
        _coco_det(1, xyc[1], 0.8),
        _coco_det(1, xyc[2], 0.5),
        _coco_det(1, xyc[3], 1, 2),
    ]
    b = [_coco_det("frame_000002.jpg", xyc[3], 0.7)]
    (tmp_path / "left.json").write_text(json.dumps(a))
    (tmp_path / "right.json").write_text(json.dumps(b))
    with pytest.warns(KeypointFileWarning) as caught:
        kp = read_coco([tmp_path / "left.json", tmp_path / "right.json"], fps=25, dtype=np.float64)
    assert [str(w.message).split(" (")[0] for w in caught] == ["camera 'left'", "camera 'right'"]
    assert kp.notes[1].endswith("lacks 2 of 3 frames: 0-1") and kp.notes[0].endswith("lacks 1 of 3 frames: 2")
    assert kp.views == ("left", "right") and kp.skeleton is COCO_17 and kp.fps == 25.0
    np.testing.assert_array_equal(kp.frame_ids, [0, 1, 2])
    assert kp.points.shape == (3, 2, 2, 17, 2)  # the category-2 detection is dropped
    np.testing.assert_array_equal(kp.points[1, 0, 1], xyc[2, :, :2])
    assert np.isnan(kp.points[1, 0, 0, 5]).all() and kp.confidence[1, 0, 0, 5] == 0
    np.testing.assert_array_equal(kp.person_score[1, 0], [0.8, 0.5])
    np.testing.assert_array_equal(kp.points[2, 1, 0], xyc[3, :, :2])
    assert np.isnan(kp.person_score[0, 1]).all() and not kp.valid[:2, 1].any()
    mapped = read_coco(tmp_path / "left.json", image_to_frame={0: 10, 1: 11})
    np.testing.assert_array_equal(mapped.frame_ids, [10, 11])
    a[2]["keypoints"] = a[2]["keypoints"][:-1]
    (tmp_path / "left.json").write_text(json.dumps(a))
    with pytest.raises(
        KeypointFileError, match=r"left\.json: entry 2, field 'keypoints': expected 51 numbers"
    ):
        read_coco(tmp_path / "left.json")

"""`write_openpose`: Pose2Sim's layout, read back by `read_openpose`, each camera folder all or nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import get_skeleton
from lift3d.io.keypoints_openpose import read_openpose, write_openpose


def blazepose_keypoints(t=4, v=2, p=2) -> Keypoints2D:
    skel = get_skeleton("blazepose")
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 640, (t, v, p, skel.num_joints, 2)).astype(np.float32)
    conf = rng.uniform(0.1, 1.0, (t, v, p, skel.num_joints)).astype(np.float32)
    conf[0, 0, 0, 5] = 0  # a missing joint
    conf[1, -1, -1] = 0  # a slot without anybody
    conf[2, :] = 0  # a frame without people
    points[conf == 0] = np.nan
    views = tuple(f"cam{i + 1:02d}" for i in range(v))
    return Keypoints2D(points, conf, views, skel, np.array([0, 1, 5, 6]), fps=30.0)


def test_33_joints_round_trip_and_the_skeleton_is_inferred(tmp_path):
    kp = blazepose_keypoints()
    folders = write_openpose(tmp_path / "pose", kp)
    assert folders == [tmp_path / "pose" / "cam01_json", tmp_path / "pose" / "cam02_json"]
    names = sorted(f.name for f in folders[0].iterdir())
    assert names[0] == "cam01_000000000000_keypoints.json" and len(names) == 4
    doc = json.loads((folders[0] / "cam01_000000000000_keypoints.json").read_text())
    assert doc["version"] == 1.3 and doc["people"][0]["person_id"] == [-1]
    assert doc["people"][0]["pose_keypoints_2d"][15:18] == [0.0, 0.0, 0.0]  # joint 5 missing
    assert json.loads((folders[0] / "cam01_000000000005_keypoints.json").read_text())["people"] == []
    for back in (read_openpose(tmp_path / "pose"), read_openpose(folders, skeleton="blazepose")):
        assert back.skeleton.name == "blazepose" and back.views == ("cam01", "cam02")
        assert list(back.frame_ids) == [0, 1, 5, 6]
        np.testing.assert_allclose(back.points, kp.points, atol=1e-3)
        np.testing.assert_allclose(back.confidence, kp.confidence, atol=1e-4)


def test_per_view_arrays_and_replacing_an_earlier_folder(tmp_path):
    kp = blazepose_keypoints(v=1)
    write_openpose(tmp_path, kp)
    (tmp_path / "cam01_json" / "stale.json").write_text("{}")
    arrays = {"cam01": (np.array([3]), kp.points[:1, 0], kp.confidence[:1, 0])}
    write_openpose(tmp_path, arrays)
    assert sorted(p.name for p in (tmp_path / "cam01_json").iterdir()) == ["cam01_000000000003_keypoints.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam01_json"]  # no temporary folder left


def test_a_failure_half_way_keeps_the_earlier_folder(tmp_path, monkeypatch):
    kp = blazepose_keypoints(v=1)
    write_openpose(tmp_path, kp)
    before = sorted(p.name for p in (tmp_path / "cam01_json").iterdir())
    import lift3d.io.keypoints_openpose as module

    calls = {"n": 0}
    real = module._openpose_document

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(module, "_openpose_document", failing)
    with pytest.raises(KeyboardInterrupt):
        write_openpose(tmp_path, {"cam01": (np.arange(4) + 10, kp.points[:, 0], kp.confidence[:, 0])})
    assert sorted(p.name for p in (tmp_path / "cam01_json").iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam01_json"]

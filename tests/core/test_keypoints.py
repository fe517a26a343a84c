"""Keypoints2D (shapes checked, views selected, joints remapped by name) and match_views (keypoint views paired
with a rig's cameras by normalised name, in the rig's order)."""

import numpy as np
import pytest

from lift3d.core.keypoints import Keypoints2D, match_views
from lift3d.core.rig import Rig
from lift3d.core.skeleton import COCO_17, OPENPOSE_COCO_18
from lift3d.errors import CaptureInputError
from lift3d.geometry.camera import Camera


def _keypoints(views=("cam01", "cam02", "cam03"), skeleton=COCO_17, t=4, p=2) -> Keypoints2D:
    rng = np.random.default_rng(0)
    j = skeleton.num_joints
    points = rng.uniform(0, 100, (t, len(views), p, j, 2))
    return Keypoints2D(points, np.ones(points.shape[:4]), views, skeleton, np.arange(t) + 10,
                       source=tuple(f"/data/{v}_json" for v in views))  # fmt: skip


def _rig(names) -> Rig:
    cams = [Camera.create(np.diag([500.0, 500.0, 1.0]), t=np.array([0.1 * i, 0.0, 3.0]), image_size=(640, 480))
            for i in range(len(names))]  # fmt: skip
    return Rig.from_cameras(names, cams)


def test_shapes_are_checked():
    kp = _keypoints()
    assert (kp.num_frames, kp.num_views, kp.num_people) == (4, 3, 2) and kp.valid.all()
    with pytest.raises(ValueError, match="points must have shape"):
        Keypoints2D(kp.points[:, :2], kp.confidence, kp.views, COCO_17, kp.frame_ids)
    with pytest.raises(ValueError, match="confidence must have shape"):
        Keypoints2D(kp.points, kp.confidence[..., :3], kp.views, COCO_17, kp.frame_ids)
    with pytest.raises(ValueError, match="view names must be unique"):
        Keypoints2D(kp.points, kp.confidence, ("a", "a", "b"), COCO_17, kp.frame_ids)
    with pytest.raises(ValueError, match="strictly increasing"):
        Keypoints2D(kp.points, kp.confidence, kp.views, COCO_17, [3, 2, 1, 0])


def test_select_views_and_remap_by_name():
    kp = _keypoints(skeleton=OPENPOSE_COCO_18)
    sub = kp.select_views(["cam03", "cam01"])
    assert sub.views == ("cam03", "cam01") and sub.source == ("/data/cam03_json", "/data/cam01_json")
    np.testing.assert_array_equal(sub.points[:, 0], kp.points[:, 2])
    with pytest.raises(KeyError, match="no view"):
        kp.select_views(["cam09"])
    coco = kp.remap("coco")
    assert coco.skeleton is COCO_17
    for j, name in enumerate(COCO_17.joints):
        np.testing.assert_array_equal(coco.points[..., j, :], kp.points[..., OPENPOSE_COCO_18.index(name), :])
    assert kp.remap("coco_18").skeleton is OPENPOSE_COCO_18
    with pytest.raises(KeyError, match="no joint"):
        coco.remap(OPENPOSE_COCO_18)  # COCO-17 has no neck


def test_match_views_pairs_by_normalised_name_in_rig_order():
    kp = _keypoints(views=("cam03", "cam01"))
    rig = _rig(["cam_01", "cam_02", "cam_03"])
    matched, sub = match_views(kp, rig)
    assert sub.names == ("cam_01", "cam_03") and matched.views == ("cam01", "cam03")
    np.testing.assert_array_equal(matched.points[:, 0], kp.points[:, 1])
    with pytest.raises(CaptureInputError, match=r"keypoint camera 'cam07' \(/data/cam07_json\) is not in the rig"):
        match_views(_keypoints(views=("cam01", "cam07")), rig)
    with pytest.raises(CaptureInputError, match="at least two cameras"):
        match_views(_keypoints(views=("cam02",)), rig)

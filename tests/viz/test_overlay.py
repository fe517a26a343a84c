"""OpenCV overlays: reprojections drawn at the projected joints, videos and tiles."""

import cv2
import numpy as np
import pytest
from viz.scenes import POSE, small_rig, walking

from lift3d.core.skeleton import H36M_17
from lift3d.geometry.camera import project_points
from lift3d.viz import overlay


def test_overlay_draws_at_the_projected_joints():
    cam = small_rig()[0]
    img = np.zeros((240, 320, 3), np.uint8)
    kp = np.asarray(project_points(cam, POSE)) + np.array([3.0, 4.0])
    kp[0] = np.nan
    out, err = overlay.draw_reprojection(img, cam, POSE, H36M_17, keypoints=kp, color=(1.0, 1.0, 1.0),
                                         keypoint_color=(1.0, 0, 0), radius=3, thickness=1)  # fmt: skip
    assert out is img
    assert np.isnan(err[0]) and np.allclose(err[1:], 5.0, atol=1e-3)
    uv = np.asarray(project_points(cam, POSE))
    # joint dots (centre, or lighter / darker shades of the joint colour) cover every projected joint
    for u, v in uv:
        assert img[int(round(v)), int(round(u))].max() > 100
    ring = kp[5]  # detections are red rings of radius 5 around the offset positions
    assert img[int(round(ring[1])) - 5 : int(round(ring[1])) + 6, int(round(ring[0])) + 5, 2].max() > 150
    assert img[:, : int(uv[:, 0].min()) - 12].max() == 0  # nothing drawn far away
    behind = np.asarray(project_points(cam, POSE))  # points behind the camera are not drawn
    blank = np.zeros_like(img)
    C = np.asarray(cam.R).T @ -np.asarray(cam.t)
    overlay.draw_reprojection(blank, cam, 2 * C - POSE, H36M_17)
    assert blank.max() == 0 and behind.shape == (17, 2)


def test_overlay_video_and_tiles(tmp_path):
    cam = small_rig()[0]
    src = tmp_path / "in.avi"
    with overlay.video_writer(src, 10, (320, 240)) as w:
        for _ in range(4):
            w.write(np.full((240, 320, 3), 40, np.uint8))
    pts = walking(3)
    out = overlay.overlay_video(src, tmp_path / "out.mp4", cam, pts, H36M_17, frame_ids=[1, 2, 3])
    cap = cv2.VideoCapture(str(out))
    frames = [f for ok, f in iter(lambda: cap.read(), (False, None)) if ok]
    cap.release()
    assert len(frames) == 4
    assert np.abs(frames[0].astype(int) - 40).max() < 20  # frame 0 has no pose: unchanged
    u, v = np.asarray(project_points(cam, pts[1]))[H36M_17.index("pelvis")]
    patch = frames[2][int(v) - 2 : int(v) + 3, int(u) - 2 : int(u) + 3].astype(int)
    assert np.abs(patch - 40).max() > 60
    small = cam.replace(image_size=np.array([100.0, 100.0]))
    with pytest.raises(ValueError, match="320x240"):
        overlay.overlay_video(src, tmp_path / "bad.mp4", small, pts)
    assert not (tmp_path / "bad.mp4").exists()
    mosaic = overlay.tile_images([frames[0], frames[1][:, :160], frames[2]], height=100, labels=["a", "b", "c"])
    assert mosaic.shape == (200, 133 + 67, 3)  # 2 columns: (tile 1 over tile 3), tile 2

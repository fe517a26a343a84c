"""render_png and render_video: a PNG that shows the person, a video with every frame."""

import cv2
import numpy as np
from viz.scenes import small_rig, walking

from lift3d.core.skeleton import H36M_17
from lift3d.viz import render
from lift3d.viz.colors import PALETTE
from lift3d.viz.scene import Track, build_scene


def test_png_is_not_blank_and_shows_the_person(offscreen, tmp_path):
    rig = small_rig()
    scene = build_scene([Track(walking(), H36M_17, name="walk")], rig, trajectories=["left_ankle"])
    path = render.render_png(scene, tmp_path / "f.png", frame=2, image_size=(320, 240))
    img = cv2.imread(str(path))[..., ::-1]
    assert img.shape == (240, 320, 3)
    background = (img == 255).all(-1)
    assert 0.01 < (~background).mean() < 0.6
    base = np.round(255 * PALETTE[0])  # the person's colour (lit, so allow shading)
    hue = np.abs(img.astype(float) / np.maximum(img.max(-1, keepdims=True), 1) - base / base.max()).max(-1)
    assert ((hue < 0.15) & ~background).sum() > 30


def test_video_has_every_frame(offscreen, tmp_path):
    scene = build_scene([Track(walking(5), H36M_17)], small_rig())
    path = render.render_video(scene, tmp_path / "v.mp4", fps=10, image_size=(161, 120))
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 5
    assert frames[0].shape == (120, 160, 3)  # odd width cropped to even
    assert np.abs(frames[0].astype(int) - frames[4].astype(int)).mean() > 0.5  # the person moved
    assert not list(tmp_path.glob(".*tmp*"))

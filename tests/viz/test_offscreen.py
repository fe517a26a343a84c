"""OffscreenRenderer: renders through any camera land where project_points says; a rig camera hides its own frustum."""

import numpy as np
import pytest
from viz.scenes import RIG_TOML, blobs, needs_shared

from lift3d.geometry.camera import Camera, project_points
from lift3d.io.rigs import load_rig
from lift3d.viz import viewpoints
from lift3d.viz.offscreen import OffscreenRenderer
from lift3d.viz.scene import Track, build_scene


def _render_points(camera: Camera, points: np.ndarray, rig=None) -> np.ndarray:
    scene = build_scene([Track(points[None], None, colors=np.ones((1, 3)))], rig, floor=False, frusta=rig is not None,
                        joint_radius=0.02)  # fmt: skip
    with OffscreenRenderer(scene, background=(0, 0, 0), lighting=False) as r:
        return r.render(camera)


GRID = np.stack(np.meshgrid([-0.7, 0, 0.7], [-0.5, 0, 0.5], [0.0], indexing="ij"), -1).reshape(-1, 3)


@pytest.mark.parametrize(
    "model, dist", [("pinhole", (-0.25, 0.08, 0.004, -0.003, 0.0)), ("fisheye", (0.08, -0.03, 0.01, 0.0, 0.0))]
)
def test_render_through_a_camera_lands_where_project_points_says(offscreen, model, dist):
    """Off-centre principal point, fx != fy, skew and lens distortion: blob centroids within 0.5 px."""
    pose = viewpoints.look_at([0.4, -3.0, 0.5], [0, 0, 0], (0, 0, 1), image_size=(320, 240))
    K = np.array([[290.0, 1.5, 171.3], [0, 305.0, 104.8], [0, 0, 1]])
    cam = Camera.create(K, R=pose.R, t=pose.t, dist=dist, image_size=(320, 240), model=model)
    X = GRID[:, [0, 2, 1]]  # in the plane facing the camera
    img = _render_points(cam, X)
    assert img.shape == (240, 320, 3)
    uv = np.asarray(project_points(cam, X), float)
    found = blobs(img)
    assert len(found) == len(X)
    d = np.linalg.norm(found[:, None] - uv[None], axis=-1)
    assert d.min(1).max() < 0.5  # every blob sits on a projected joint...
    assert sorted(d.argmin(1).tolist()) == list(range(len(X)))  # ...and every joint has its blob
    centred = viewpoints.look_at([0.4, -3.0, 0.5], [0, 0, 0], (0, 0, 1), image_size=(320, 240))  # the fast path
    uv = np.asarray(project_points(centred, X), float)
    d = np.linalg.norm(blobs(_render_points(centred, X))[:, None] - uv[None], axis=-1)
    assert d.min(1).max() < 0.5


@needs_shared
def test_render_from_a_real_rig_camera_hides_its_own_frustum(offscreen):
    rig = load_rig(RIG_TOML)  # Qualisys cameras, portrait, with distortion
    X = np.array([[0.0, 0.0, 0.5], [0.3, 0.3, 1.0], [-0.3, 0.2, 1.5]])
    scene = build_scene([Track(X[None], None, colors=np.ones((1, 3)))], rig, floor=False, joint_radius=0.02)
    cam = viewpoints.view_camera(scene, (272, 480), camera="cam_02")
    assert tuple(np.asarray(cam.image_size)) == (272, 480)
    with OffscreenRenderer(scene, background=(0, 0, 0), lighting=False) as r:
        img = r.render(cam)
    uv = np.asarray(project_points(cam, X), float)
    found = blobs(img)
    d = np.linalg.norm(found[:, None] - uv[None], axis=-1)
    assert d.min(0).max() < 1.0
    assert img[:, 0].max() < 200 and img[0].max() < 200  # no frustum of cam_02 framing the image

"""Where a render looks from: `look_at` (a camera at an eye looking at a target) and `view_camera` (a rig
camera, or a 3/4 view that frames the whole scene)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from lift3d.geometry.camera import Camera, resize_camera
from lift3d.viz.scene import Scene
from lift3d.viz.static_geometry import plane_basis

__all__ = ["look_at", "view_camera"]


def look_at(
    eye: ArrayLike,
    target: ArrayLike,
    up: ArrayLike = (0, 0, 1),
    *,
    image_size: Sequence[int] = (960, 720),
    fov_deg: float = 45.0,
) -> Camera:
    """A distortion-free camera at `eye` looking at `target`, upright with respect to `up`.

    Args:
        eye: (3,) camera centre, world units.
        target: (3,) point on the optical axis.
        up: (3,) world direction that appears upwards in the image.
        image_size: (width, height), px.
        fov_deg: Vertical field of view, degrees.

    Returns:
        A `Camera` with a centred principal point ((w - 1) / 2, (h - 1) / 2) and square pixels.
    """
    eye, target, up = (np.asarray(a, np.float64) for a in (eye, target, up))
    z = target - eye
    if np.linalg.norm(z) < 1e-12:
        raise ValueError("look_at: eye and target coincide")
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:  # looking along up: any sideways axis
        x = np.cross(z, np.eye(3)[np.argmin(np.abs(z))])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    w, h = (int(s) for s in image_size)
    f = 0.5 * h / np.tan(np.radians(fov_deg) / 2)
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    return Camera.create(K, R=R, t=-R @ eye, image_size=(w, h))


def view_camera(
    scene: Scene,
    image_size: Sequence[int] = (960, 720),
    *,
    camera: str | int | Camera | None = None,
    azimuth_deg: float = 35.0,
    elevation_deg: float = 20.0,
    fov_deg: float = 45.0,
    include_rig: bool = True,
) -> Camera:
    """The camera a render looks through: a rig camera, or a 3/4 view of the whole scene.

    Args:
        scene: The scene.
        image_size: (width, height) of a 3/4 view; for a rig camera the largest size of the camera's aspect that
            fits in it.
        camera: A rig camera (name or index), a `Camera` (used as is), or None for the 3/4 view.
        azimuth_deg: 3/4 view: turn about `up` from the side of the rig's cameras (or a world axis).
        elevation_deg: 3/4 view: height of the eye above the horizon through the people.
        fov_deg: 3/4 view: vertical field of view.
        include_rig: 3/4 view: frame the cameras too, not only the people.

    Returns:
        The camera (in metres, the scene's units).
    """
    if isinstance(camera, Camera):
        return camera
    if camera is not None:
        if scene.rig is None:
            raise ValueError(f"view from camera {camera!r} needs a rig")
        cam = scene.rig[camera]
        w, h = np.asarray(cam.image_size, float)
        s = min(image_size[0] / w, image_size[1] / h)
        if s != 1.0:
            cam = resize_camera(cam, np.round(np.array([w, h]) * s))
        return _numpy_camera(cam)
    pts = scene.all_points()
    centre = np.median(pts, 0) if len(pts) else (scene.rig.centers.mean(0) if scene.rig is not None else np.zeros(3))
    frame_pts = pts
    if include_rig and scene.rig is not None:
        frame_pts = np.concatenate([pts, scene.rig.centers])
    up = scene.up
    ref = plane_basis(up)[0]
    if scene.rig is not None:
        d = scene.rig.centers.mean(0) - centre
        d -= up * (d @ up)
        if np.linalg.norm(d) > 0.25:
            ref = d / np.linalg.norm(d)
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    horizontal = np.cos(az) * ref + np.sin(az) * np.cross(up, ref)
    direction = np.cos(el) * horizontal + np.sin(el) * up
    # the nearest eye distance along `direction` that keeps every point inside 90 % of the image
    z = -direction
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rel = (frame_pts - centre) if len(frame_pts) else np.zeros((1, 3))
    ty = 0.9 * np.tan(np.radians(fov_deg) / 2)
    tx = ty * image_size[0] / image_size[1]
    depth = rel @ z
    dist = max(float(np.max(np.maximum(np.abs(rel @ x) / tx, np.abs(rel @ y) / ty) - depth)), 0.5 - depth.min(), 1.0)
    return look_at(centre + dist * direction, centre, up, image_size=image_size, fov_deg=fov_deg)


def _numpy_camera(cam: Camera) -> Camera:
    return cam.replace(**{k: np.asarray(getattr(cam, k), np.float64) for k in ("K", "dist", "R", "t", "image_size")})

"""Headless renders of a `Scene` through any lift3d `Camera` (`OffscreenRenderer`).

Headless rendering uses Open3D's legacy `Visualizer` with an invisible window: without a display Open3D 0.19+
falls back to an EGL offscreen context, served on a machine without a GPU by Mesa's software rasteriser
(Debian packages libegl1, libegl-mesa0, libgl1-mesa-dri). `RendererUnavailable` says so when it cannot start.

Open3D's view control only knows a centred principal point and square pixels (it reads fy and ignores cx, cy
and fx). `OffscreenRenderer.render` therefore draws an ideal centred pinhole image ("canvas") with the camera's
pose and then resamples it with `cv2.remap` into the camera's own image: principal point, fx != fy, skew and
lens distortion (pinhole or fisheye, via `undistort_points`). A rendered point lands where `project_points`
puts it (checked by the tests to a fraction of a pixel).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lift3d.errors import RendererUnavailable
from lift3d.geometry.camera import Camera, project_points, undistort_points
from lift3d.viz._open3d import load_open3d_for_windows
from lift3d.viz.scene import Scene

__all__ = ["BACKGROUND", "OffscreenRenderer"]

BACKGROUND = (1.0, 1.0, 1.0)
"""Background colour of renders and of the interactive window, RGB in [0, 1]."""


def _is_centred(cam: Camera) -> bool:
    K = np.asarray(cam.K, float)
    w, h = np.asarray(cam.image_size, float)
    return (
        cam.model == "pinhole"
        and not np.any(np.asarray(cam.dist))
        and K[0, 1] == 0
        and np.isclose(K[0, 0], K[1, 1])
        and np.isclose(K[0, 2], (w - 1) / 2)
        and np.isclose(K[1, 2], (h - 1) / 2)
    )


def _upsample(coarse: np.ndarray, w: int, h: int, step: int) -> np.ndarray:
    """Bilinear interpolation of samples at (0, step, 2 step, ...)^2 onto every pixel of a (h, w) image."""

    def weights(n, m):
        x = np.arange(n) / step
        i = np.minimum(x.astype(int), m - 2)
        return i, x - i

    iu, fu = weights(w, coarse.shape[1])
    iv, fv = weights(h, coarse.shape[0])
    rows = coarse[:, iu] * (1 - fu) + coarse[:, iu + 1] * fu
    return (rows[iv] * (1 - fv)[:, None] + rows[iv + 1] * fv[:, None]).astype(np.float32)


def _canvas_plan(cam: Camera, max_canvas: int, step: int = 4) -> tuple[np.ndarray, int, int, tuple | None]:
    """The centred pinhole canvas (K, width, height) to render, and the remap into `cam`'s image (or None).

    The lens is inverted on a grid of every `step` px and the maps interpolated bilinearly in between (the
    distortion is smooth: the interpolation error is far below a pixel).
    """
    w, h = (int(round(s)) for s in np.asarray(cam.image_size, float))
    if _is_centred(cam):
        return np.asarray(cam.K, float), w, h, None
    gu = np.arange(0, w - 1 + step, step, dtype=np.float64)
    gv = np.arange(0, h - 1 + step, step, dtype=np.float64)
    u, v = np.meshgrid(gu, gv)
    uv = np.stack([u, v], -1).reshape(-1, 2)
    xy = np.asarray(undistort_points(cam, uv, normalized=True), np.float64)
    ray = np.concatenate([xy, np.ones((len(xy), 1))], -1)
    back = np.asarray(project_points(cam.replace(R=np.eye(3), t=np.zeros(3)), ray), np.float64)
    ok = np.isfinite(xy).all(-1) & (np.linalg.norm(back - uv, axis=-1) < 0.1)
    if not ok.any():
        raise ValueError("the camera's distortion cannot be inverted anywhere in its image")
    f = float(np.asarray(cam.K)[1, 1])
    ext = np.abs(xy[ok]).max(0)
    f = min(f, (max_canvas - 3) / (2 * max(ext[0], 1e-9)), (max_canvas - 3) / (2 * max(ext[1], 1e-9)))
    cw, ch = (int(np.ceil(2 * f * e)) + 3 for e in ext)
    cx, cy = (cw - 1) / 2, (ch - 1) / 2
    coarse_x = np.where(ok, f * xy[:, 0] + cx, -1e4).reshape(len(gv), len(gu))
    coarse_y = np.where(ok, f * xy[:, 1] + cy, -1e4).reshape(len(gv), len(gu))
    mx, my = _upsample(coarse_x, w, h, step), _upsample(coarse_y, w, h, step)
    K = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    return K, cw, ch, (mx, my)


class OffscreenRenderer:
    """Renders a `Scene` headless through lift3d cameras (a context manager; `close` frees the window)."""

    def __init__(
        self,
        scene: Scene,
        *,
        background: ArrayLike = BACKGROUND,
        lighting: bool = True,
        line_width: float = 2.0,
        point_size: float = 4.0,
        max_canvas: int = 4096,
        z_near: float = 0.02,
        z_far: float = 500.0,
    ):
        """Prepare a renderer (the window opens at the first `render`).

        Args:
            scene: What to draw; `scene.set_frame` chooses the frame.
            background: (3,) RGB in [0, 1].
            lighting: Shade meshes (False: flat colours, exact for pixel tests).
            line_width: Line width, px (where the OpenGL driver supports wide lines).
            point_size: Point size, px (volume heatmaps).
            max_canvas: Largest side of the intermediate canvas, px (wide-angle lenses).
            z_near: Near clipping distance, m.
            z_far: Far clipping distance, m.
        """
        self.scene = scene
        self.background = np.asarray(background, float)
        self.lighting, self.line_width, self.point_size = lighting, line_width, point_size
        self.max_canvas, self.z_near, self.z_far = max_canvas, z_near, z_far
        self._vis = None
        self._size = None
        self._plans: dict = {}

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Destroy the offscreen window."""
        if self._vis is not None:
            self._vis.destroy_window()
            self._vis = None
            self._size = None

    def _window(self, width: int, height: int):
        if self._vis is not None and self._size == (width, height):
            return self._vis
        self.close()
        o3d = load_open3d_for_windows()
        vis = o3d.visualization.Visualizer()
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            ok = vis.create_window(window_name="lift3d", width=width, height=height, visible=False)
        if not ok:
            raise RendererUnavailable(
                "Open3D could not open an offscreen rendering context: without a display it needs EGL with a "
                "driver (Debian: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)"
            )
        for g in self.scene.geometries:
            vis.add_geometry(g, reset_bounding_box=True)
        opt = vis.get_render_option()
        opt.background_color = self.background
        opt.light_on = self.lighting
        opt.mesh_show_back_face = True
        opt.line_width = self.line_width
        opt.point_size = self.point_size
        self._vis, self._size = vis, (width, height)
        return vis

    def _plan(self, cam: Camera):
        key = tuple(np.asarray(getattr(cam, k), np.float64).tobytes() for k in ("K", "dist", "image_size")) + (
            cam.model,
        )
        if key not in self._plans:
            self._plans[key] = _canvas_plan(cam, self.max_canvas)
        return self._plans[key]

    def _own_frustum(self, camera: Camera):
        """The frustum of the rig camera at `camera`'s centre (it would frame the image), or None."""
        if self.scene.rig is None or not self.scene.frusta:
            return None
        R, t = np.asarray(camera.R, float), np.asarray(camera.t, float)
        d = np.linalg.norm(self.scene.rig.centers - (-R.T @ t), axis=-1)
        k = int(np.argmin(d))
        return self.scene.frusta.get(self.scene.rig.names[k]) if d[k] < 1e-3 else None

    def render(self, camera: Camera) -> np.ndarray:
        """Draw the scene's current frame as seen by `camera`.

        Args:
            camera: An unbatched camera in metres (e.g. `view_camera(...)` or `rig[name]` of a metre rig).

        Returns:
            (h, w, 3) uint8 RGB image of the camera's `image_size`.
        """
        import cv2

        o3d = load_open3d_for_windows()
        if camera.batch_shape:
            raise ValueError(f"render needs one camera, got a batch of shape {camera.batch_shape}")
        K, cw, ch, maps = self._plan(camera)
        vis = self._window(cw, ch)
        for g in self.scene.dynamic:
            vis.update_geometry(g)
        hidden = self._own_frustum(camera)
        if hidden is not None:
            vis.remove_geometry(hidden, reset_bounding_box=False)
        params = o3d.camera.PinholeCameraParameters()
        params.intrinsic = o3d.camera.PinholeCameraIntrinsic(cw, ch, K)
        E = np.eye(4)
        E[:3, :3], E[:3, 3] = np.asarray(camera.R, np.float64), np.asarray(camera.t, np.float64)
        params.extrinsic = E
        ctl = vis.get_view_control()
        if not ctl.convert_from_pinhole_camera_parameters(params, allow_arbitrary=True):
            raise RuntimeError("Open3D refused the camera parameters")
        ctl.set_constant_z_near(self.z_near)
        ctl.set_constant_z_far(self.z_far)
        buf = np.asarray(vis.capture_screen_float_buffer(do_render=True))
        if hidden is not None:
            vis.add_geometry(hidden, reset_bounding_box=False)
        img = (np.clip(buf, 0, 1) * 255 + 0.5).astype(np.uint8)
        if maps is None:
            return img
        border = tuple(int(round(255 * c)) for c in self.background)
        return cv2.remap(img, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)

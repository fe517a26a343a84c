"""Render Open3D scenes: headless PNG and MP4, renders through any lift3d `Camera`, and an interactive player.

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

import contextlib
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from lift3d.errors import RendererUnavailable  # noqa: F401  (re-exported)
from lift3d.geometry.camera import Camera, project_points, resize_camera, undistort_points, world_to_camera
from lift3d.io.atomic import atomic_write
from lift3d.viz.scene import Scene, _plane_basis

__all__ = [
    "RendererUnavailable",
    "has_display",
    "look_at",
    "view_camera",
    "OffscreenRenderer",
    "annotate",
    "render_png",
    "render_video",
    "Playback",
    "show",
]

BACKGROUND = (1.0, 1.0, 1.0)


def has_display() -> bool:
    """True when an X11 or Wayland display is available (DISPLAY or WAYLAND_DISPLAY set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _o3d():
    if not os.environ.get("XDG_RUNTIME_DIR"):  # Mesa complains on every window without one
        import tempfile

        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="lift3d-xdg-")
    import open3d

    return open3d


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
    ref = _plane_basis(up)[0]
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
        o3d = _o3d()
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

        o3d = _o3d()
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


def annotate(
    image: np.ndarray,
    scene: Scene,
    camera: Camera,
    *,
    text: str | None = None,
    camera_names: bool = True,
    legend: bool = True,
) -> np.ndarray:
    """Draw 2D labels on a render: camera names at their projected centres, a legend and a caption.

    Args:
        image: (h, w, 3) uint8 RGB render of `scene` through `camera` (modified in place).
        scene: The scene (rig and track colours).
        camera: The camera of the render.
        text: Caption in the top-left corner (e.g. the frame number).
        camera_names: Label the rig's cameras that are in front of `camera`.
        legend: List the tracks with their colours (top right) when there is more than one colour.

    Returns:
        The image.
    """
    import cv2

    h, w = image.shape[:2]
    scale = max(0.4, min(w, h) / 900)
    thick = max(1, int(round(scale * 1.5)))
    font = cv2.FONT_HERSHEY_SIMPLEX

    def put(s, org, color=(20, 20, 20)):
        cv2.putText(image, s, org, font, scale, (255, 255, 255), thick + 2, cv2.LINE_AA)
        cv2.putText(image, s, org, font, scale, color, thick, cv2.LINE_AA)

    if camera_names and scene.rig is not None:
        C = scene.rig.centers
        z = np.asarray(world_to_camera(camera, C))[:, 2]
        uv = np.asarray(project_points(camera, C))
        for name, (u, v), depth in zip(scene.rig.names, uv, z, strict=True):
            if depth > 0 and np.isfinite(u) and -50 < u < w + 50 and -50 < v < h + 50:
                put(str(name), (int(u) + 6, int(v) - 6))
    if text:
        put(text, (int(10 * scale), int(30 * scale)))
    items = scene.legend()
    if legend and len(items) > 1:
        for i, (name, col) in enumerate(items):
            y = int((30 + 28 * i) * scale)
            rgb = tuple(int(255 * c) for c in col)
            (tw, _), _ = cv2.getTextSize(name, font, scale, thick)
            x = w - tw - int(40 * scale)
            cv2.rectangle(image, (x - int(22 * scale), y - int(14 * scale)), (x - int(6 * scale), y + 2), rgb, -1)
            put(name, (x, y))
    return image


def _caption(scene: Scene, frame: int, frame_ids: Sequence[int] | None, fps: float | None) -> str:
    fid = int(frame_ids[frame]) if frame_ids is not None else frame
    return f"frame {fid}" + (f"  t = {fid / fps:.2f} s" if fps else "")


def render_png(
    scene: Scene,
    path: str | os.PathLike,
    *,
    frame: int = 0,
    camera: str | int | Camera | None = None,
    image_size: Sequence[int] = (960, 720),
    labels: bool = True,
    frame_ids: Sequence[int] | None = None,
    fps: float | None = None,
    renderer: OffscreenRenderer | None = None,
) -> Path:
    """Render one frame headless to a PNG (written atomically).

    Args:
        scene: The scene.
        path: Destination `.png`.
        frame: Frame index into the scene's tracks.
        camera: A rig camera name or index, a `Camera`, or None for the 3/4 view (see `view_camera`).
        image_size: (width, height), px (a rig camera keeps its aspect within it).
        labels: Draw camera names, legend and caption (`annotate`).
        frame_ids: (t,) frame numbers shown in the caption.
        fps: Frame rate for the caption's time.
        renderer: Re-use an open renderer of this scene.

    Returns:
        The path written.
    """
    import cv2

    cam = view_camera(scene, image_size, camera=camera)
    scene.set_frame(frame)
    with contextlib.ExitStack() as stack:
        r = renderer if renderer is not None else stack.enter_context(OffscreenRenderer(scene))
        img = r.render(cam)
    if labels:
        annotate(img, scene, cam, text=_caption(scene, frame, frame_ids, fps))
    ok, data = cv2.imencode(".png", img[..., ::-1])
    if not ok:
        raise RuntimeError(f"{path}: PNG encoding failed")
    with atomic_write(path, "wb") as f:
        f.write(data.tobytes())
    return Path(path)


def render_video(
    scene: Scene,
    path: str | os.PathLike,
    *,
    frames: Iterable[int] | None = None,
    camera: str | int | Camera | None = None,
    fps: float = 30.0,
    image_size: Sequence[int] = (960, 720),
    labels: bool = True,
    frame_ids: Sequence[int] | None = None,
    progress: bool = False,
) -> Path:
    """Render frames headless into a video (MPEG-4 Part 2 for .mp4, MJPEG for .avi), written atomically.

    Args:
        scene: The scene.
        path: Destination `.mp4` / `.avi`.
        frames: Frame indices to render; default all.
        camera: A rig camera name or index, a `Camera`, or None for the 3/4 view.
        fps: Frame rate of the video (and of the captions' time).
        image_size: (width, height), px; odd sizes lose their last column / row (codecs want even sizes).
        labels: Draw camera names, legend and caption.
        frame_ids: (t,) frame numbers shown in the captions.
        progress: Show a progress bar.

    Returns:
        The path written.
    """
    from lift3d.viz.overlay import video_writer

    cam = view_camera(scene, image_size, camera=camera)
    w, h = (int(round(s)) for s in np.asarray(cam.image_size, float))
    w2, h2 = w - w % 2, h - h % 2
    frames = list(range(scene.num_frames)) if frames is None else [int(f) for f in frames]
    with video_writer(path, fps, (w2, h2)) as writer, OffscreenRenderer(scene) as r:
        it = frames
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(frames, desc=f"render {Path(path).name}", unit="frame")
        for k in it:
            scene.set_frame(k)
            img = r.render(cam)
            if labels:
                annotate(img, scene, cam, text=_caption(scene, k, frame_ids, fps))
            writer.write(np.ascontiguousarray(img[:h2, :w2, ::-1]))
    return Path(path)


class Playback:
    """Frame clock of the interactive player: play / pause, step, and advance with wall time."""

    def __init__(self, num_frames: int, fps: float = 30.0, *, frame: int = 0, loop: bool = True):
        """Start paused at `frame` (0-based index)."""
        if num_frames < 1 or fps <= 0:
            raise ValueError(f"need at least one frame and fps > 0, got {num_frames} frames at {fps} fps")
        self.num_frames, self.fps, self.loop = num_frames, float(fps), loop
        self.frame = int(np.clip(frame, 0, num_frames - 1))
        self.playing = False
        self._t0: float | None = None
        self._f0 = self.frame

    def toggle(self, now: float | None = None) -> None:
        """Play if paused, pause if playing."""
        self.playing = not self.playing
        self._t0, self._f0 = (time.perf_counter() if now is None else now), self.frame

    def step(self, delta: int) -> None:
        """Pause and move `delta` frames (wrapping around)."""
        self.playing = False
        self.frame = (self.frame + delta) % self.num_frames

    def tick(self, now: float | None = None) -> bool:
        """Advance with the clock while playing; True when the frame changed."""
        if not self.playing:
            return False
        now = time.perf_counter() if now is None else now
        target = self._f0 + int((now - self._t0) * self.fps)
        if not self.loop and target >= self.num_frames:
            target, self.playing = self.num_frames - 1, False
        target %= self.num_frames
        changed = target != self.frame
        self.frame = target
        return changed


_KEY_SPACE, _KEY_RIGHT, _KEY_LEFT = 32, 262, 263


def show(
    scene: Scene,
    *,
    camera: str | int | Camera | None = None,
    fps: float = 30.0,
    frame: int = 0,
    window_size: Sequence[int] = (1280, 960),
    title: str = "lift3d",
    close_after_s: float | None = None,
) -> None:
    """Open an interactive window with playback: space plays / pauses, left / right arrows step, Q quits.

    Needs a display (`has_display`); the mouse rotates, pans and zooms as in any Open3D window.

    Args:
        scene: The scene.
        camera: Initial view: rig camera, `Camera` or None (3/4 view).
        fps: Playback rate.
        frame: First frame shown (index).
        window_size: (width, height), px.
        title: Window title.
        close_after_s: Close the window by itself after this many seconds (demos and tests).

    Raises:
        RendererUnavailable: Without a display, or when the window cannot open.
    """
    if not has_display():
        raise RendererUnavailable("no display (DISPLAY / WAYLAND_DISPLAY unset): render a PNG or a video instead")
    o3d = _o3d()
    vis = o3d.visualization.VisualizerWithKeyCallback()
    if not vis.create_window(window_name=title, width=int(window_size[0]), height=int(window_size[1])):
        raise RendererUnavailable("Open3D could not open a window on this display")
    for g in scene.geometries:
        vis.add_geometry(g)
    opt = vis.get_render_option()
    opt.background_color, opt.mesh_show_back_face, opt.line_width = np.asarray(BACKGROUND), True, 2.0
    cam = view_camera(scene, window_size, camera=camera)
    K = np.asarray(cam.K, float)
    params = o3d.camera.PinholeCameraParameters()
    w, h = (int(round(s)) for s in np.asarray(cam.image_size))
    params.intrinsic = o3d.camera.PinholeCameraIntrinsic(w, h, K)
    E = np.eye(4)
    E[:3, :3], E[:3, 3] = np.asarray(cam.R), np.asarray(cam.t)
    params.extrinsic = E
    vis.get_view_control().convert_from_pinhole_camera_parameters(params, allow_arbitrary=True)
    play = Playback(scene.num_frames, fps, frame=frame)
    start = time.perf_counter()

    def redraw(v) -> bool:
        scene.set_frame(play.frame)
        for g in scene.dynamic:
            v.update_geometry(g)
        return True

    def on_space(v) -> bool:
        play.toggle()
        return False

    def on_step(delta):
        return lambda v: (play.step(delta), redraw(v))[1]

    def on_tick(v) -> bool:
        if close_after_s is not None and time.perf_counter() - start > close_after_s:
            v.close()
            return False
        return redraw(v) if play.tick() else False

    vis.register_key_callback(_KEY_SPACE, on_space)
    vis.register_key_callback(_KEY_RIGHT, on_step(1))
    vis.register_key_callback(_KEY_LEFT, on_step(-1))
    vis.register_animation_callback(on_tick)
    redraw(vis)
    print(f"{title}: {scene.num_frames} frames. Space: play/pause, arrows: step, Q: quit", flush=True)
    vis.run()
    vis.destroy_window()

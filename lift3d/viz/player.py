"""The interactive player: an Open3D window with playback (`show`; space plays / pauses, arrows step), its
frame clock (`Playback`) and whether there is a display to open it on (`has_display`)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from lift3d.errors import RendererUnavailable
from lift3d.geometry.camera import Camera
from lift3d.viz._open3d import load_open3d_for_windows
from lift3d.viz.offscreen import BACKGROUND
from lift3d.viz.scene import Scene
from lift3d.viz.viewpoints import view_camera

__all__ = ["has_display", "Playback", "show"]


def has_display() -> bool:
    """True when an X11 or Wayland display is available (DISPLAY or WAYLAND_DISPLAY set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


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
    o3d = load_open3d_for_windows()
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

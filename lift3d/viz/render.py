"""Render a `Scene` headless to files: one frame to a PNG (`render_png`), frames to a video (`render_video`),
with camera names, a legend and a caption drawn on (`annotate`).

The pixels come from `lift3d.viz.offscreen.OffscreenRenderer` (see there for the headless context and how a
render matches `project_points`), the viewpoint from `lift3d.viz.viewpoints.view_camera`; the interactive
window is `lift3d.viz.player.show`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lift3d.geometry.camera import Camera, project_points, world_to_camera
from lift3d.io.atomic import atomic_write
from lift3d.viz.offscreen import OffscreenRenderer
from lift3d.viz.scene import Scene
from lift3d.viz.viewpoints import view_camera

__all__ = ["annotate", "render_png", "render_video"]


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

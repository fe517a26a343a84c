"""2D overlays with OpenCV: skeletons drawn on images and video frames, detections vs reprojections.

Images are OpenCV's BGR uint8 arrays (as `cv2.imread` and `cv2.VideoCapture` give them); colours are RGB in
[0, 1], like the 3D scenes' (`lift3d.viz.colors.PALETTE`). Pixel centres are at integer coordinates (the
project's convention), so a joint at (u, v) is drawn centred on pixel (u, v) with sub-pixel precision (cv2's
`shift`). cv2 is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.skeleton import Skeleton
from lift3d.geometry.camera import Camera, project_points, world_to_camera
from lift3d.io.atomic import atomic_path
from lift3d.viz.colors import PALETTE, side_colors

__all__ = ["draw_skeleton", "draw_reprojection", "overlay_video", "tile_images", "video_writer"]

_SHIFT = 4  # cv2 drawing with 4 fractional bits: 1/16 px


def _bgr(rgb: ArrayLike) -> tuple[int, int, int]:
    r, g, b = (int(round(255 * float(c))) for c in np.asarray(rgb, float)[:3])
    return b, g, r


def _pt(uv: np.ndarray) -> tuple[int, int]:
    return int(round(uv[0] * (1 << _SHIFT))), int(round(uv[1] * (1 << _SHIFT)))


def _sizes(image: np.ndarray, thickness: int | None, radius: int | None) -> tuple[int, int]:
    scale = max(image.shape[:2]) / 1000
    return (max(1, round(3 * scale)) if thickness is None else thickness,
            max(2, round(5 * scale)) if radius is None else radius)  # fmt: skip


def draw_skeleton(
    image: np.ndarray,
    points_2d: ArrayLike,
    skeleton: Skeleton | None = None,
    *,
    confidence: ArrayLike | None = None,
    min_confidence: float = 0.0,
    color: ArrayLike = PALETTE[0],
    thickness: int | None = None,
    radius: int | None = None,
    joints: bool = True,
) -> np.ndarray:
    """Draw one person's 2D skeleton: bones as lines, joints as filled dots, left lighter and right darker.

    Args:
        image: (h, w, 3) BGR uint8, drawn on in place.
        points_2d: (j, 2) pixel coordinates; NaN where missing.
        skeleton: Bones and left/right pairs (None: joints only).
        confidence: (j,) confidences; joints at or below `min_confidence` are not drawn.
        min_confidence: See `confidence`.
        color: (3,) base RGB in [0, 1].
        thickness: Bone thickness, px (default: from the image size).
        radius: Joint radius, px (default: from the image size).
        joints: Draw the joint dots.

    Returns:
        The image.
    """
    import cv2

    uv = np.asarray(points_2d, np.float64)
    if uv.ndim != 2 or uv.shape[-1] != 2:
        raise ValueError(f"points_2d must have shape (j, 2), got {uv.shape}")
    j = len(uv)
    if skeleton is not None and skeleton.num_joints != j:
        raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints, the points {j}")
    ok = np.isfinite(uv).all(-1) & (np.abs(np.nan_to_num(uv)) < 1e6).all(-1)
    if confidence is not None:
        ok &= np.nan_to_num(np.asarray(confidence, np.float64), nan=-np.inf) > min_confidence
    th, rad = _sizes(image, thickness, radius)
    jc, bc = side_colors(skeleton, j, color)
    if skeleton is not None:
        for (a, b), c in zip(skeleton.edges, bc, strict=True):
            if ok[a] and ok[b]:
                cv2.line(image, _pt(uv[a]), _pt(uv[b]), _bgr(c), th, cv2.LINE_AA, _SHIFT)
    if joints:
        for k in np.flatnonzero(ok):
            cv2.circle(image, _pt(uv[k]), rad << _SHIFT, _bgr(jc[k]), -1, cv2.LINE_AA, _SHIFT)
    return image


def draw_reprojection(
    image: np.ndarray,
    camera: Camera,
    points_3d: ArrayLike,
    skeleton: Skeleton | None = None,
    *,
    keypoints: ArrayLike | None = None,
    confidence: ArrayLike | None = None,
    min_confidence: float = 0.0,
    color: ArrayLike = PALETTE[0],
    keypoint_color: ArrayLike = (1.0, 0.85, 0.0),
    thickness: int | None = None,
    radius: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the reprojection of 3D joints into one view, and, when given, the view's detections against it.

    The reprojected skeleton is drawn as in `draw_skeleton`; each detection is a ring in `keypoint_color`
    joined by a thin line to its joint's reprojection, so the error is visible as the line's length.

    Args:
        image: (h, w, 3) BGR uint8 frame of this camera, drawn on in place.
        camera: The view's camera (with its distortion), in the units of `points_3d`.
        points_3d: (j, 3) joints, world units; NaN where missing.
        skeleton: Bones (None: joints only).
        keypoints: (j, 2) detections in this view, px; NaN where missing.
        confidence: (j,) detection confidences; at or below `min_confidence` a detection is not drawn.
        min_confidence: See `confidence`.
        color: (3,) RGB of the reprojected skeleton.
        keypoint_color: (3,) RGB of the detections.
        thickness: Bone thickness, px.
        radius: Joint radius, px.

    Returns:
        The image and the (j,) reprojection errors, px (NaN where a detection or a joint is missing).
    """
    import cv2

    X = np.asarray(points_3d, np.float64)
    if X.ndim != 2 or X.shape[-1] != 3:
        raise ValueError(f"points_3d must have shape (j, 3), got {X.shape}")
    uv = np.asarray(project_points(camera, np.nan_to_num(X)), np.float64)
    front = np.asarray(world_to_camera(camera, np.nan_to_num(X)))[:, 2] > 0
    uv[~(np.isfinite(X).all(-1) & front)] = np.nan
    draw_skeleton(image, uv, skeleton, color=color, thickness=thickness, radius=radius)
    errors = np.full(len(X), np.nan)
    if keypoints is None:
        return image, errors
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != uv.shape:
        raise ValueError(f"keypoints must have shape {uv.shape}, got {kp.shape}")
    ok = np.isfinite(kp).all(-1)
    if confidence is not None:
        ok &= np.nan_to_num(np.asarray(confidence, np.float64), nan=-np.inf) > min_confidence
    th, rad = _sizes(image, thickness, radius)
    kc = _bgr(keypoint_color)
    for k in np.flatnonzero(ok):
        if np.isfinite(uv[k]).all():
            cv2.line(image, _pt(kp[k]), _pt(uv[k]), kc, max(1, th // 2), cv2.LINE_AA, _SHIFT)
            errors[k] = float(np.linalg.norm(kp[k] - uv[k]))
        cv2.circle(image, _pt(kp[k]), (rad + 2) << _SHIFT, kc, max(1, th // 2), cv2.LINE_AA, _SHIFT)
    return image, errors


def tile_images(
    images: Sequence[np.ndarray], *, cols: int | None = None, height: int = 480, labels: Sequence[str] | None = None
) -> np.ndarray:
    """Resize images to a common height and tile them in a grid (e.g. one overlay per camera).

    Args:
        images: BGR uint8 images, any sizes.
        cols: Columns; default ceil(sqrt(n)).
        height: Height of every tile, px (widths keep each image's aspect; a column is as wide as its widest).
        labels: A caption per image (top-left corner).

    Returns:
        The mosaic, BGR uint8 (white where there is no image).
    """
    import cv2

    if not images:
        raise ValueError("no image to tile")
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = (n + cols - 1) // cols
    tiles = [cv2.resize(im, (max(1, round(im.shape[1] * height / im.shape[0])), height), interpolation=cv2.INTER_AREA)
             for im in images]  # fmt: skip
    widths = [max(t.shape[1] for t in tiles[c::cols]) for c in range(cols)]
    out = np.full((rows * height, sum(widths), 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        x = sum(widths[:c])
        out[r * height : (r + 1) * height, x : x + t.shape[1]] = t
        if labels is not None:
            cv2.putText(
                out,
                str(labels[i]),
                (x + 8, r * height + 24),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.7,
                (255, 255, 255),
                4,
                cv2.LINE_AA,
            )
            cv2.putText(
                out, str(labels[i]), (x + 8, r * height + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA
            )
    return out


_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
VIDEO_SUFFIXES = tuple(_FOURCC)  # the video files `video_writer` can write


@contextlib.contextmanager
def video_writer(path: str | os.PathLike, fps: float, size: Sequence[int]) -> Iterator:
    """A `cv2.VideoWriter` into a temporary file beside `path`, renamed to `path` when the block succeeds.

    Args:
        path: Destination `.mp4` (MPEG-4 Part 2) or `.avi` (MJPEG).
        fps: Frame rate.
        size: (width, height) of every frame written, px.

    Yields:
        The writer (write BGR uint8 frames of exactly `size`).
    """
    import cv2

    path = Path(path)
    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"{path}: unknown video format {path.suffix!r}; use one of {', '.join(_FOURCC)}")
    with atomic_path(path) as tmp:  # renamed into place on success (or with the command's other outputs)
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(int(s) for s in size))
        if not writer.isOpened():
            raise RuntimeError(f"{path}: OpenCV cannot write {fourcc} video (is OpenCV built with FFmpeg?)")
        try:
            yield writer
        finally:
            writer.release()


def overlay_video(
    video: str | os.PathLike,
    out: str | os.PathLike,
    camera: Camera,
    points_3d: ArrayLike,
    skeleton: Skeleton | None = None,
    *,
    keypoints: ArrayLike | None = None,
    confidence: ArrayLike | None = None,
    frame_ids: ArrayLike | None = None,
    fps: float | None = None,
    min_confidence: float = 0.0,
    color: ArrayLike = PALETTE[0],
) -> Path:
    """Draw reprojected 3D joints (and the view's detections) on every frame of a camera's video.

    Video frame k (0-based) shows the row of `points_3d` whose frame number is k; frames without a row are
    copied unchanged.

    Args:
        video: The camera's video file.
        out: Destination `.mp4` / `.avi` (written atomically).
        camera: The camera (units of `points_3d`); its image size must be the video's.
        points_3d: (t, j, 3) joints.
        skeleton: Bones.
        keypoints: (t, j, 2) detections in this view, px.
        confidence: (t, j) detection confidences.
        frame_ids: (t,) video frame numbers of the rows (default 0..t-1).
        fps: Output frame rate (default the video's).
        min_confidence: Detections at or below are not drawn.
        color: RGB of the reprojected skeleton.

    Returns:
        The path written.

    Raises:
        ValueError: A video that cannot be read, or whose size differs from the camera's.
    """
    import cv2

    X = np.asarray(points_3d, np.float64)
    ids = np.arange(len(X)) if frame_ids is None else np.asarray(frame_ids, np.int64)
    if X.ndim != 3 or len(ids) != len(X):
        raise ValueError(f"points_3d must have shape (t, j, 3) with t frame ids, got {X.shape} and {len(ids)} ids")
    row = {int(f): i for i, f in enumerate(ids)}
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ValueError(f"{video}: cannot open the video")
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cw, ch = (int(round(s)) for s in np.asarray(camera.image_size, float))
        if (w, h) != (cw, ch):
            raise ValueError(f"{video}: frames are {w}x{h} px, the camera's image is {cw}x{ch} px")
        rate = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        with video_writer(out, rate, (w, h)) as writer:
            k = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                i = row.get(k)
                if i is not None:
                    draw_reprojection(
                        frame,
                        camera,
                        X[i],
                        skeleton,
                        color=color,
                        min_confidence=min_confidence,
                        keypoints=None if keypoints is None else np.asarray(keypoints)[i],
                        confidence=None if confidence is None else np.asarray(confidence)[i],
                    )
                writer.write(frame)
                k += 1
            if k == 0:
                raise ValueError(f"{video}: no frame could be read")
    finally:
        cap.release()
    return Path(out)

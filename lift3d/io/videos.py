"""Frames to detect people in: one video file or one image folder per camera (`open_frames`, `FrameSource`).

A `FrameSource` knows its frame rate (a video's metadata; an image folder has none unless the caller gives
one), its frame count (the video's advertised count, or the number of images) and its image size, and yields
``(frame_index, BGR image)`` pairs. Frame indices count from 0 in decoding order (videos) or in the order of the
images' frame numbers (`lift3d.io.image_sources.frame_key`: ``img_0002.png`` before ``img_0010.png``).

Damage is an error, never a shorter result reported as whole: `VideoError` names the file and the frame when a
file is not a video, holds no frame, an image of a folder cannot be read, or a video's decoder stops before its
advertised frame count (a truncated file). Containers often advertise a count estimated from the duration, a
frame or two off for a healthy file; a shortfall up to `TRUNCATION_TOLERANCE` frames is therefore kept with an
`InputWarning` naming the file and both counts.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from lift3d.errors import InputWarning, VideoError
from lift3d.io.image_sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, frame_key

__all__ = ["FrameSource", "open_frames", "is_video", "TRUNCATION_TOLERANCE"]

TRUNCATION_TOLERANCE = 2
"""Frames a video may fall short of its advertised count with a warning only (estimated counts are approximate)."""


def is_video(path: str | os.PathLike) -> bool:
    """Whether a path names a video file by its extension (`lift3d.io.image_sources.VIDEO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclasses.dataclass(frozen=True)
class FrameSource:
    """One camera's frames: a video file or a folder of images.

    Attributes:
        path: The video file or image folder.
        kind: ``"video"`` or ``"images"``.
        num_frames: Advertised frame count (video metadata) or number of images.
        fps: Frame rate, frames/s (video metadata or the caller's); None if unknown.
        size: (width, height) of the first frame, px.
        files: The image files in frame order (image folders; empty for a video).
    """

    path: Path
    kind: str
    num_frames: int
    fps: float | None
    size: tuple[int, int]
    files: tuple[Path, ...] = ()

    def frames(self, *, every: int = 1, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield the frames, every `every`-th one from frame 0.

        Args:
            every: Frame step (1: every frame).
            max_frames: Stop after yielding this many frames (None: all).

        Yields:
            (frame_index, image): the 0-based frame index and the (h, w, 3) BGR uint8 image.

        Raises:
            VideoError: An image cannot be read, or the video stops (or a frame cannot be decoded) before
                its advertised frame count, naming the file and the frame.
        """
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        if self.kind == "images":
            yield from self._image_frames(every, max_frames)
        else:
            yield from self._video_frames(every, max_frames)

    def _image_frames(self, every: int, max_frames: int | None) -> Iterator[tuple[int, np.ndarray]]:
        count = 0
        for index in range(0, len(self.files), every):
            if max_frames is not None and count >= max_frames:
                return
            yield index, _read_image(self.files[index], index)
            count += 1

    def _video_frames(self, every: int, max_frames: int | None) -> Iterator[tuple[int, np.ndarray]]:
        cap = _open_video(self.path)
        index = count = 0
        try:
            while max_frames is None or count < max_frames:
                if not cap.grab():
                    break
                if index % every == 0:
                    ok, image = cap.retrieve()
                    if not ok or image is None or image.size == 0:
                        raise VideoError(f"{self.path}: frame {index} cannot be decoded (the video is damaged "
                                         f"there; --max-frames can keep the frames before it)")  # fmt: skip
                    yield index, _bgr(image)
                    count += 1
                index += 1
        finally:
            cap.release()
        if max_frames is not None and count >= max_frames:
            return
        _check_complete(self.path, index, self.num_frames, every)


def _check_complete(path: Path, decoded: int, advertised: int, every: int) -> None:
    """Refuse (or, within the tolerance, warn about) a video that stopped before its advertised count."""
    if advertised <= 0 or decoded >= advertised:
        return
    short = advertised - decoded
    if short <= TRUNCATION_TOLERANCE:
        warnings.warn(f"{path}: the decoder stopped at frame {decoded} of the {advertised} the file advertises; "
                      f"keeping the {decoded} frames read", InputWarning, stacklevel=4)  # fmt: skip
        return
    keep = -(-decoded // every)
    raise VideoError(f"{path}: truncated or damaged: the decoder stops at frame {decoded} of the {advertised} the "
                     f"file advertises; re-encode or re-copy it, or pass --max-frames {keep} to use the frames "
                     "before the damage")  # fmt: skip


def _bgr(image: np.ndarray) -> np.ndarray:
    """A decoded frame as (h, w, 3) uint8 BGR (grey images expanded, alpha dropped, 16-bit scaled)."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _read_image(path: Path, index: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise VideoError(f"{path}: frame {index}: cannot read this image (damaged, empty or not an image)")
    return image


def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    # FFmpeg's own messages about a damaged stream ("[mjpeg @ 0x..] overread") would bury the one line that names
    # the file and the frame; quiet unless the user set the level
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: cannot be opened as a video (damaged, truncated or not a video)")
    return cap


def _sorted_images(folder: Path) -> list[Path]:
    """Images of a folder in frame order: by the last number of the name when every name has one, else by name."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    keys = [frame_key(p.name) for p in files]
    if files and all(k.isdigit() for k in keys):
        if len(set(keys)) != len(keys):
            twice = next(p for i, p in enumerate(files) if keys[i] in keys[:i])
            raise VideoError(f"{twice}: its frame number {int(frame_key(twice.name))} is already another image's "
                             f"in {folder}")  # fmt: skip
        files = [p for _, p in sorted(zip((int(k) for k in keys), files, strict=True))]
    return files


def open_frames(path: str | os.PathLike, *, fps: float | None = None) -> FrameSource:
    """Open one camera's video file or image folder, reading its first frame to check that it can be decoded.

    Args:
        path: A video file (`VIDEO_EXTENSIONS`) or a folder of images (`IMAGE_EXTENSIONS`).
        fps: Frame rate, frames/s, for an image folder (or a video whose metadata has none); a video's own rate
            wins over it.

    Returns:
        The source; its frames are read by `FrameSource.frames`.

    Raises:
        VideoError: No such file or folder, not a video, a video without frames, a folder without images, or a
            first frame that cannot be read; naming the file (and the frame).
    """
    path = Path(path)
    if path.is_dir():
        files = _sorted_images(path)
        if not files:
            raise VideoError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
        first = _read_image(files[0], 0)
        return FrameSource(path, "images", len(files), fps, (first.shape[1], first.shape[0]), tuple(files))
    if not path.exists():
        raise VideoError(f"{path}: no such video file or image folder")
    if not is_video(path):
        raise VideoError(f"{path}: not a video ({', '.join(VIDEO_EXTENSIONS)}) or an image folder")
    cap = _open_video(path)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        rate = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        ok, image = cap.read()
    finally:
        cap.release()
    if not ok or image is None or image.size == 0:
        what = "holds no frame" if count <= 0 else f"frame 0 of the {count} it advertises cannot be decoded"
        raise VideoError(f"{path}: {what} (empty, truncated or damaged video)")
    rate_ok = np.isfinite(rate) and 0 < rate < 10_000
    return FrameSource(path, "video", max(count, 0), rate if rate_ok else fps, (image.shape[1], image.shape[0]))

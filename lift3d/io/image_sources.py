"""Frames to calibrate from: image folders, glob patterns, lists of images, videos (every n-th frame)."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from lift3d.errors import CalibrationError

__all__ = ["frame_key", "iter_images", "frames", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


_DIGITS = re.compile(r"(\d+)(?!.*\d)")


def frame_key(name: str) -> str:
    """The key that matches one frame across cameras: the last number in a file stem, else the stem.

    `left01.jpg` and `right01.jpg` -> "1"; `cam2/frame_0042.png` -> "42"; a video frame index i -> "i".

    Args:
        name: File name or path.

    Returns:
        The key.
    """
    stem = Path(name).stem
    m = _DIGITS.search(stem)
    return str(int(m.group(1))) if m else stem


def _resolve(source: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[str, list[Path]]:
    """("images", files) or ("video", [file]) for a folder, a glob pattern, a video or a list of files."""
    if isinstance(source, (list, tuple)):
        files = [Path(p) for p in source]
    else:
        text = os.fspath(source)
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise CalibrationError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
            return "images", files
        if path.is_file():
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                return "video", [path]
            return "images", [path]
        if any(ch in text for ch in "*?["):
            files = sorted(Path(p) for p in glob.glob(text))
            if not files:
                raise CalibrationError(f"{text}: no file matches this pattern")
        else:
            raise FileNotFoundError(2, "no such image folder, video or file pattern", text)
    missing = [p for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(2, "no such image", str(missing[0]))
    if any(p.suffix.lower() in VIDEO_EXTENSIONS for p in files):
        if len(files) != 1:
            raise CalibrationError(f"{files[0]}: give one video per camera, got {len(files)} files")
        return "video", files
    return "images", files


def frames(source, every: int) -> Iterator[tuple[str, str, str, np.ndarray | None]]:
    """(key, name, path, image) of each kept frame: `iter_images` plus the file each frame came from."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    kind, files = _resolve(source)
    if kind == "images":
        for path in files[::every]:
            yield frame_key(path.name), path.name, str(path), cv2.imread(str(path), cv2.IMREAD_COLOR)
        return
    cap = cv2.VideoCapture(str(files[0]))
    if not cap.isOpened():
        raise CalibrationError(f"{files[0]}: cannot be opened as a video")
    try:
        index = 0
        while cap.grab():
            if index % every == 0:
                ok, frame = cap.retrieve()
                yield str(index), f"{files[0].name} frame {index}", str(files[0]), frame if ok else None
            index += 1
    finally:
        cap.release()


def iter_images(
    source: str | os.PathLike | Sequence[str | os.PathLike], *, every: int = 1
) -> Iterator[tuple[str, str, np.ndarray | None]]:
    """Frames of an image folder, a glob pattern, a list of images or a video.

    Args:
        source: A folder (its images, sorted by name), a glob pattern ("cam1/*.png"), a list of image files,
            or one video file.
        every: Keep every n-th image or video frame (1: all).

    Yields:
        (key, name, image): the frame key (see `frame_key`; the frame index for videos), a readable name
        ("left01.jpg", "cam1.mp4 frame 120") and the BGR image, or None if the file cannot be read.
    """
    for key, name, _, image in frames(source, every):
        yield key, name, image

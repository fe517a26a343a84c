"""MediaPipe Pose (BlazePose-33) landmarks saved as JSON into `Keypoints2D` (`read_mediapipe`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import (
    PathLike,
    View,
    as_paths,
    assemble,
    frame_number,
    load_json,
    number,
    short,
    view_names,
)

__all__ = ["read_mediapipe"]


def _landmark(lm: Any, width: float, height: float) -> list[float]:
    """(x px, y px, visibility) of a normalised MediaPipe landmark (pixel centres at integer coordinates)."""
    if not isinstance(lm, dict):
        raise ValueError(f"expected an object, got {short(lm)}")
    x, y = number(lm.get("x")), number(lm.get("y"))
    vis = 1.0 if lm.get("visibility") is None else number(lm["visibility"])
    if x is None or y is None or vis is None:
        raise ValueError(f"expected numeric 'x', 'y' (and 'visibility'), got {short(lm)}")
    return [x * width - 0.5, y * height - 0.5, vis]


def read_mediapipe(
    paths: PathLike | Sequence[PathLike],
    *,
    views: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    fps: float | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read MediaPipe Pose (BlazePose-33) landmarks saved as JSON, one file per camera.

    Accepted layout (``image_width`` / ``image_height`` may be omitted if `image_size` is given; ``fps`` is
    optional; ``z`` is ignored)::

        {"image_width": 1920, "image_height": 1080, "fps": 30,
         "frames": [{"frame": 0,
                     "landmarks": [{"x": 0.51, "y": 0.32, "z": -0.1, "visibility": 0.99}, ... 33 landmarks]},
                    {"frame": 1, "landmarks": [[...33 of person 0...], [...33 of person 1...]]},
                    {"frame": 2, "landmarks": []}]}

    ``landmarks`` is one person's 33 landmarks, a list of such lists (several people), or empty. ``x``, ``y``
    are MediaPipe's normalised image coordinates (0 and 1 at the image edges); pixels, with lift3d's
    convention of pixel centres at integer coordinates, are ``x * width - 0.5`` and ``y * height - 0.5``.
    ``visibility`` (default 1) is the confidence.

    Args:
        paths: One file per camera.
        views: Camera names; default: the file stems.
        image_size: (width, height) in pixels, overriding the file's.
        fps: Frame rate, overriding the file's.
        dtype: Floating dtype of the arrays.

    Raises:
        KeypointFileError: Naming the file, the frame and the field.
    """
    skel = get_skeleton("blazepose")
    files = as_paths(paths)
    out, rates = [], []
    for path, name in zip(files, view_names(files, views, lambda p: p.stem), strict=True):
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
            raise KeypointFileError(f"{path}: field 'frames': expected a list (MediaPipe JSON layout)")
        if image_size is not None:
            w, h = image_size
        elif "image_width" not in data or "image_height" not in data:
            raise KeypointFileError(f"{path}: fields 'image_width'/'image_height' missing: pass image_size=")
        else:
            w, h = number(data["image_width"]), number(data["image_height"])
            if not all(s is not None and 0 < s < np.inf for s in (w, h)):
                raise KeypointFileError(f"{path}: fields 'image_width'/'image_height': expected positive numbers, "
                                        f"got {short(data['image_width'])}, {short(data['image_height'])}")  # fmt: skip
        if data.get("fps") is not None:
            fps_file = number(data["fps"])
            if fps_file is None or not 0 < fps_file < np.inf:
                raise KeypointFileError(f"{path}: field 'fps': expected a positive number, got {short(data['fps'])}")
            rates.append(fps_file)
        frames, people = [], []
        for i, entry in enumerate(data["frames"]):
            frame = frame_number(entry.get("frame")) if isinstance(entry, dict) else None
            if frame is None or not isinstance(entry.get("landmarks"), list):
                raise KeypointFileError(f"{path}: frames[{i}]: expected 'frame' (int) and 'landmarks' (list)")
            marks = entry["landmarks"]
            persons = marks if marks and isinstance(marks[0], list) else ([marks] if marks else [])
            rows = []
            for k, person in enumerate(persons):
                where = f"{path}: frame {frame}, person {k}, field 'landmarks'"
                if not isinstance(person, list) or len(person) != skel.num_joints:
                    raise KeypointFileError(f"{where}: expected {skel.num_joints} landmarks")
                try:
                    rows.append([_landmark(lm, w, h) for lm in person])
                except ValueError as e:
                    raise KeypointFileError(f"{where}: each landmark needs numeric 'x' and 'y' ({e})") from None
            frames.append(frame)
            people.append(np.asarray(rows, dtype=np.float64).reshape(len(rows), skel.num_joints, 3))
        if len(set(frames)) != len(frames):
            raise KeypointFileError(f"{path}: field 'frame': repeated frame numbers")
        p = max([len(x) for x in people] + [0])
        xyc = np.full((len(frames), p, skel.num_joints, 3), np.nan)
        for row, x in enumerate(people):
            xyc[row, : len(x)] = x
        order = np.argsort(frames)
        out.append(View(name, str(path), np.asarray(frames, dtype=np.int64)[order], xyc[order]))
    return assemble(
        out, skel, fps=fps if fps is not None else (rates[0] if rates else None), dtype=dtype, notes=[]
    )

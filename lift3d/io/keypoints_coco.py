"""COCO keypoint-detection results (COCO's results files, MMPose, AlphaPose) into `Keypoints2D` (`read_coco`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import (
    PathLike,
    View,
    as_paths,
    assemble,
    flat_numbers,
    frame_number,
    last_int,
    load_json,
    number,
    short,
    triplets,
    view_names,
)

__all__ = ["read_coco"]


def read_coco(
    paths: PathLike | Sequence[PathLike],
    *,
    skeleton: str | Skeleton = "coco",
    views: Sequence[str] | None = None,
    image_to_frame: Mapping[Any, int] | Callable[[Any], int] | None = None,
    category_id: int | None = 1,
    fps: float | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read COCO keypoint-detection results, one JSON file per camera.

    Each file is a list of ``{"image_id": int | str, "category_id": 1, "keypoints": [x, y, v] * J,
    "score": s}`` (the format of COCO's results files, MMPose and AlphaPose). ``v`` is the keypoint's
    confidence (0 = missing); ``score`` becomes `Keypoints2D.person_score`. Detections of one image become the
    people of that frame, in file order.

    Args:
        paths: One results file per camera.
        skeleton: Joint layout of ``keypoints`` (default MS-COCO-17; e.g. ``"halpe_26"`` for AlphaPose).
        views: Camera names; default: the file stems.
        image_to_frame: Frame number of an ``image_id``, as a mapping or a function. Default: the id itself if
            it is an integer, else the last integer group of the string (``"frame_000042.jpg"`` -> 42).
        category_id: Keep only detections of this category (entries without one are kept); None keeps all.
        fps: Frame rate to record.
        dtype: Floating dtype of the arrays.

    Raises:
        KeypointFileError: Naming the file, the entry index and the field.
    """
    skel = get_skeleton(skeleton)
    files = as_paths(paths)
    out = []
    for path, name in zip(files, view_names(files, views, lambda p: p.stem), strict=True):
        data = load_json(path)
        if not isinstance(data, list):
            raise KeypointFileError(f"{path}: expected a list of detections (COCO results JSON)")
        by_frame: dict[int, list[tuple[np.ndarray, float]]] = {}
        for i, det in enumerate(data):
            where = f"{path}: entry {i}"
            if not isinstance(det, dict) or "image_id" not in det or "keypoints" not in det:
                raise KeypointFileError(f"{where}: expected an object with 'image_id' and 'keypoints'")
            if category_id is not None and det.get("category_id", category_id) != category_id:
                continue
            image_id = det["image_id"]
            if image_to_frame is None:
                frame = frame_number(image_id) if isinstance(image_id, int) else last_int(str(image_id))
            else:
                try:
                    frame = image_to_frame(image_id) if callable(image_to_frame) else image_to_frame[image_id]
                except (KeyError, IndexError):
                    raise KeypointFileError(
                        f"{where}, field 'image_id': {image_id!r} not in image_to_frame"
                    ) from None
            if frame_number(frame) is None:
                raise KeypointFileError(f"{where}, field 'image_id': no frame number in {short(image_id)}")
            field = f"{where}, field 'keypoints'"
            kp = triplets(flat_numbers(det["keypoints"], field), skel.num_joints, skel, field)
            score = det.get("score")
            if score is not None and number(score) is None:
                raise KeypointFileError(f"{where}, field 'score': expected a number, got {short(score)}")
            by_frame.setdefault(int(frame), []).append((kp, np.nan if score is None else number(score)))
        order = sorted(by_frame)
        p = max([len(by_frame[k]) for k in order] + [0])
        xyc, sc = np.full((len(order), p, skel.num_joints, 3), np.nan), np.full((len(order), p), np.nan)
        for row, k in enumerate(order):
            for i, (kp, s) in enumerate(by_frame[k]):
                xyc[row, i], sc[row, i] = kp, s
        out.append(View(name, str(path), np.asarray(order, dtype=np.int64), xyc, sc))
    return assemble(out, skel, fps=fps, dtype=dtype, notes=[])

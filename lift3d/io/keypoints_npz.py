"""2D keypoints of all cameras in one ``.npz`` file: `read_keypoints_npz` and `write_keypoints_npz`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import SKELETON_BY_JOINT_COUNT, PathLike, View, assemble
from lift3d.io.atomic import atomic_write

__all__ = ["read_keypoints_npz", "write_keypoints_npz"]


def read_keypoints_npz(
    path: PathLike,
    *,
    skeleton: str | Skeleton | None = None,
    views: Sequence[str] | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read keypoints of all cameras from one ``.npz``.

    Arrays: ``points`` (t, v, j, 2) or (t, v, p, j, 2) px, NaN missing; optional ``confidence`` (the same
    without the last axis; default 1 where the point is finite), ``views`` (v strings), ``skeleton`` (a name),
    ``frame_ids`` (t,), ``fps`` (scalar). The `skeleton` / `views` arguments override the file's.

    Raises:
        KeypointFileError: Naming the file and the array.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise KeypointFileError(f"{path}: cannot read npz ({e})") from None
    if "points" not in data:
        raise KeypointFileError(f"{path}: array 'points' missing")
    pts = np.asarray(data["points"], dtype=np.float64)
    if pts.ndim not in (4, 5) or pts.shape[-1] != 2:
        raise KeypointFileError(
            f"{path}: array 'points': expected (t, v, j, 2) or (t, v, p, j, 2), got {pts.shape}"
        )
    conf = np.asarray(data.get("confidence", np.ones(pts.shape[:-1])), dtype=np.float64)
    if conf.shape != pts.shape[:-1]:
        raise KeypointFileError(
            f"{path}: array 'confidence' must have shape {pts.shape[:-1]}, got {conf.shape}"
        )
    if pts.ndim == 4:  # one person
        pts, conf = pts[:, :, None], conf[:, :, None]
    name = skeleton if skeleton is not None else (str(data["skeleton"]) if "skeleton" in data else None)
    if name is None:
        if pts.shape[3] not in SKELETON_BY_JOINT_COUNT:
            raise KeypointFileError(
                f"{path}: array 'skeleton' missing; pass skeleton= (--skeleton) for {pts.shape[3]} joints"
            )
        name = SKELETON_BY_JOINT_COUNT[pts.shape[3]]
    skel = get_skeleton(name)
    if pts.shape[3] != skel.num_joints:
        raise KeypointFileError(f"{path}: array 'points': {pts.shape[3]} joints, skeleton {skel.name!r} has "
                                f"{skel.num_joints}")  # fmt: skip
    t, v = pts.shape[:2]
    names = (
        list(views)
        if views is not None
        else [str(s) for s in data.get("views", [f"cam{i}" for i in range(v)])]
    )
    frames = np.asarray(data.get("frame_ids", np.arange(t)), dtype=np.int64)
    if len(names) != v or frames.shape != (t,):
        raise KeypointFileError(f"{path}: arrays 'views'/'frame_ids' must have {v} names / {t} frames")
    fps = float(data["fps"]) if "fps" in data and np.isfinite(data["fps"]) else None
    xyc = np.concatenate([pts, conf[..., None]], axis=-1)
    return assemble([View(n, str(path), frames, xyc[:, i]) for i, n in enumerate(names)], skel, fps=fps,
                     dtype=dtype, notes=[])  # fmt: skip


def write_keypoints_npz(path: PathLike, keypoints: Keypoints2D) -> Path:
    """Write `keypoints` atomically as ``.npz`` (readable by `read_keypoints_npz` if its skeleton is named).

    Returns:
        The path written.
    """
    with atomic_write(path, "wb") as f:
        np.savez_compressed(
            f, points=keypoints.points, confidence=keypoints.confidence, views=np.array(keypoints.views),
            skeleton=np.array(keypoints.skeleton.name), frame_ids=keypoints.frame_ids,
            fps=np.array(np.nan if keypoints.fps is None else keypoints.fps),
        )  # fmt: skip
    return Path(path)

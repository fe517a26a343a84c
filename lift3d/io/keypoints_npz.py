"""2D keypoints of all cameras in one ``.npz`` file: `read_keypoints_npz` and `write_keypoints_npz`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import SKELETON_BY_JOINT_COUNT, PathLike, View, assemble, short
from lift3d.io.atomic import atomic_write
from lift3d.io.npz import load_npz

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
        KeypointFileError: Naming the file and the array: not an npz, a damaged member, an array of Python
            objects (never unpickled), of text where numbers belong, or of the wrong shape.
    """
    path = Path(path)
    data = load_npz(path, KeypointFileError)
    fail = lambda name, problem: KeypointFileError(f"{path}: array {name!r}: {problem}")  # noqa: E731
    if "points" not in data:
        raise KeypointFileError(f"{path}: array 'points' missing (the file holds {short(sorted(data), 120)})")
    pts = _numbers(data["points"], "points", fail)
    if pts.ndim not in (4, 5) or pts.shape[-1] != 2:
        raise fail("points", f"expected shape (t, v, j, 2) or (t, v, p, j, 2), got {pts.shape}")
    conf = _numbers(data["confidence"], "confidence", fail) if "confidence" in data else np.ones(pts.shape[:-1])
    if conf.shape != pts.shape[:-1]:
        raise KeypointFileError(f"{path}: array 'confidence' must have shape {pts.shape[:-1]}, got {conf.shape}")
    if pts.ndim == 4:  # one person
        pts, conf = pts[:, :, None], conf[:, :, None]
    if skeleton is not None:
        skel = get_skeleton(skeleton)
    elif "skeleton" in data:
        name = _string(data["skeleton"], "skeleton", fail)
        try:
            skel = get_skeleton(name)
        except KeyError as err:
            raise fail("skeleton", str(err.args[0])) from None
    elif pts.shape[3] in SKELETON_BY_JOINT_COUNT:
        skel = get_skeleton(SKELETON_BY_JOINT_COUNT[pts.shape[3]])
    else:
        raise KeypointFileError(
            f"{path}: array 'skeleton' missing; pass skeleton= (--skeleton) for {pts.shape[3]} joints"
        )
    if pts.shape[3] != skel.num_joints:
        raise fail("points", f"{pts.shape[3]} joints, skeleton {skel.name!r} has {skel.num_joints}")
    t, v = pts.shape[:2]
    if views is not None:
        names = [str(n) for n in views]
    elif "views" in data:
        names = [_string(n, "views", fail) for n in np.atleast_1d(data["views"])]
    else:
        names = [f"cam{i}" for i in range(v)]
    if len(names) != v or len(set(names)) != v:
        raise fail("views", f"expected {v} distinct camera names, got {names[:8]}")
    frames = _numbers(data["frame_ids"], "frame_ids", fail) if "frame_ids" in data else np.arange(t)
    if frames.shape != (t,) or not np.all(np.isfinite(frames) & (frames % 1 == 0) & (np.abs(frames) < 2**53)):
        raise fail("frame_ids", f"expected {t} integer frame numbers, got shape {frames.shape}")
    fps = _numbers(data["fps"], "fps", fail) if "fps" in data else np.array(np.nan)
    fps = float(fps.ravel()[0]) if fps.size == 1 else -1.0
    if not (np.isnan(fps) or (np.isfinite(fps) and fps > 0)):  # NaN: none recorded (the writer's None)
        raise fail("fps", f"expected a positive frame rate or NaN, got {data['fps'].ravel()[:4].tolist()}")
    xyc = np.concatenate([pts, conf[..., None]], axis=-1)
    return assemble([View(n, str(path), frames.astype(np.int64), xyc[:, i]) for i, n in enumerate(names)], skel,
                    fps=None if np.isnan(fps) else fps, dtype=dtype, notes=[])  # fmt: skip


def _numbers(arr: np.ndarray, name: str, fail) -> np.ndarray:
    """`arr` as float64 if it holds real numbers (bool, int, float), else `fail`."""
    if arr.dtype.kind not in "biuf":
        raise fail(name, f"expected numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _string(arr: np.ndarray, name: str, fail) -> str:
    """A scalar string array (``np.array("coco")``) as str, else `fail`."""
    if np.ndim(arr) != 0 or np.asarray(arr).dtype.kind not in "US":
        raise fail(name, f"expected text, got {np.asarray(arr).dtype} of shape {np.shape(arr)}")
    value = np.asarray(arr).item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


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

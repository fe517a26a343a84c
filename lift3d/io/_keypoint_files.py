"""What the keypoint readers share: a parsed camera (`View`), `assemble` (frame alignment, people padding,
masking into a `Keypoints2D`), path and name handling, and the JSON / number checks that name file and field.

Private to `lift3d.io`: the format modules (`keypoints_openpose`, `keypoints_coco`, `keypoints_dlc`,
`keypoints_mediapipe`, `keypoints_npz`) import it; users import the readers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton
from lift3d.errors import KeypointFileError, KeypointFileWarning

PathLike = str | os.PathLike[str]

SKELETON_BY_JOINT_COUNT = {17: "coco", 18: "openpose_coco_18", 26: "halpe_26", 33: "blazepose"}
"""Skeleton name a reader infers from a joint count when none is given (25 is ambiguous: BODY_25 or BODY_25B)."""


_INT_GROUP = re.compile(r"\d+")


def last_int(text: str) -> int | None:
    """The last group of digits of `text` as an int (``"cam1_000042"`` -> 42), or None without digits (or
    with more than 18: no frame number)."""
    groups = _INT_GROUP.findall(text)
    return int(groups[-1]) if groups and len(groups[-1]) <= 18 else None


def number(value: Any) -> float | None:
    """A JSON number (int or float, not bool) as a float, else None (also for an int beyond float64)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def frame_number(value: Any) -> int | None:
    """A JSON integer usable as a frame number (|n| < 2**53, not bool), else None."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and abs(int(value)) < 2**53
    return int(value) if ok else None


def _ranges(frames: np.ndarray) -> str:
    """'3, 7-9, 12' for [3, 7, 8, 9, 12] (at most 12 runs, then '...')."""
    if frames.size == 0:
        return ""
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    runs = [(r[0], r[-1]) for r in np.split(frames, breaks)]
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:12]]
    return ", ".join(text) + (", ..." if len(runs) > 12 else "")


def warn(notes: list[str], message: str, stacklevel: int = 3) -> None:
    """Record `message` in `notes` (for `Keypoints2D.notes`) and raise it as a `KeypointFileWarning`."""
    notes.append(message)
    warnings.warn(message, KeypointFileWarning, stacklevel=stacklevel)  # default: the reader's caller


@dataclasses.dataclass
class View:
    """One camera as parsed: frames (n,), xyc (n, p, j, 3) and optional detection scores (n, p)."""

    name: str
    source: str
    frames: np.ndarray
    xyc: np.ndarray
    score: np.ndarray | None = None


def assemble(
    views: list[View], skeleton: Skeleton, *, fps: float | None, dtype, notes: list[str]
) -> Keypoints2D:
    """Align the views on the union of their frames, pad people, mask missing joints. `views` is consumed: each
    entry is dropped once copied, so that an hour of cameras is not held twice."""
    if not views:
        raise KeypointFileError("no keypoint files given")
    for v in views:
        if len(np.unique(v.frames)) != len(v.frames):
            raise KeypointFileError(f"{v.source}: repeated frame numbers (camera {v.name!r})")
        if v.xyc.shape[-2] != skeleton.num_joints:
            raise KeypointFileError(f"{v.source}: {v.xyc.shape[-2]} joints, skeleton {skeleton.name!r} has "
                                    f"{skeleton.num_joints}")  # fmt: skip
        negative = v.xyc[..., 2] < 0  # NaN compares False
        if negative.any():  # masking them as missing would silently drop a camera on another scale
            f, p, j = np.unravel_index(int(np.argmax(negative)), negative.shape)
            raise KeypointFileError(
                f"{v.source}: {int(negative.sum())} confidences are negative (camera {v.name!r}), e.g. "
                f"{float(v.xyc[f, p, j, 2]):.4g} in frame {int(v.frames[f])} (person {p + 1}, joint "
                f"{skeleton.joints[j]!r}); give confidences as probabilities in [0, 1]")
    frames = np.unique(np.concatenate([v.frames for v in views]).astype(np.int64))
    t, n_views, j = len(frames), len(views), skeleton.num_joints
    p = max([v.xyc.shape[1] for v in views] + [1])
    # the output arrays filled view by view: besides them, only one view's temporaries (an hour of 8 cameras)
    points = np.full((t, n_views, p, j, 2), np.nan, dtype=dtype)
    conf = np.zeros((t, n_views, p, j), dtype=dtype)
    score = np.full((t, n_views, p), np.nan) if any(v.score is not None for v in views) else None
    names, sources = tuple(v.name for v in views), tuple(v.source for v in views)
    for i in range(n_views):
        v, views[i] = views[i], None
        rows = np.searchsorted(frames, v.frames)
        with np.errstate(over="ignore"):  # coordinates beyond `dtype`'s range become inf: missing, as NaN is
            cast = v.xyc.astype(dtype, copy=False)
        valid = np.isfinite(cast).all(axis=-1) & (cast[..., 2] > 0)
        points[rows, i, : v.xyc.shape[1]] = np.where(valid[..., None], cast[..., :2], np.nan)
        conf[rows, i, : v.xyc.shape[1]] = np.where(valid, cast[..., 2], 0.0)
        if v.score is not None:
            score[rows, i, : v.score.shape[1]] = v.score
        lacking = np.setdiff1d(frames, v.frames)
        if lacking.size:
            message = f"camera {v.name!r} ({v.source}) lacks {lacking.size} of {t} frames: {_ranges(lacking)}"
            warn(notes, message, stacklevel=4)
    return Keypoints2D(
        points=points, confidence=conf,
        views=names,
        skeleton=skeleton, frame_ids=frames, fps=None if fps is None else float(fps),
        source=sources, person_score=score, notes=tuple(notes),
    )  # fmt: skip


def view_names(paths: Sequence[Path], views: Sequence[str] | None, default: Callable[[Path], str]) -> list[str]:
    """Camera names: `views` (one per path, else ValueError), or `default(path)` of each path."""
    if views is None:
        return [default(p) for p in paths]
    if len(views) != len(paths):
        raise ValueError(f"{len(views)} view names for {len(paths)} inputs")
    return [str(v) for v in views]


def as_paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    """One path or several as a list of `Path`."""
    return [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]


def load_json(path: Path) -> Any:
    """The JSON document of `path`, else `KeypointFileError` naming the file and the error's line and column."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        try:
            return orjson.loads(data)  # 2-3x faster than json
        except orjson.JSONDecodeError:  # json's own error, or its reading of what orjson refuses (NaN, huge ints)
            return json.loads(data.decode("utf-8"))
    except json.JSONDecodeError as e:
        raise KeypointFileError(
            f"{path}: invalid JSON at line {e.lineno} column {e.colno} (char {e.pos}): {e.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"{path}: cannot read: {e}") from None
    except (RecursionError, ValueError) as e:  # nested too deeply; an integer of over 4300 digits
        raise KeypointFileError(f"{path}: invalid JSON: {short(e, 100)}") from None


def short(value: Any, limit: int = 60) -> str:
    """`value` (its str for an exception, else its repr) on one line, cut to `limit` characters."""
    text = " ".join((str(value) if isinstance(value, BaseException) else repr(value)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_PLAIN_NUMBERS = {int, float}


def flat_numbers(value: Any, where: str) -> np.ndarray:
    """A flat list of numbers (JSON null read as NaN) as float64, else KeypointFileError naming `where`."""
    if isinstance(value, list) and set(map(type, value)) <= _PLAIN_NUMBERS:  # what JSON gives: 4x faster
        try:
            return np.array(value, dtype=np.float64)  # rounds an int as float() does
        except OverflowError:
            raise KeypointFileError(f"{where}: a number too large for a float") from None
    if not isinstance(value, list) or not all(
        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in value
    ):
        raise KeypointFileError(f"{where}: expected a flat list of numbers, got {short(value)}")
    try:
        return np.array([np.nan if x is None else float(x) for x in value], dtype=np.float64)
    except OverflowError:  # an integer beyond float64
        raise KeypointFileError(f"{where}: a number too large for a float") from None


def triplets(flat: np.ndarray, n_joints: int, skeleton: Skeleton, where: str) -> np.ndarray:
    """(n_joints, 3) (x px, y px, confidence) rows of a flat (3 n_joints,) array, else `KeypointFileError`."""
    if flat.size != 3 * n_joints:
        raise KeypointFileError(
            f"{where}: expected {3 * n_joints} numbers ({n_joints} joints x (x, y, confidence)) for skeleton "
            f"{skeleton.name!r}, got {flat.size}"
        )
    return flat.reshape(n_joints, 3)

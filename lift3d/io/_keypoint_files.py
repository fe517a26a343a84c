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

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton
from lift3d.errors import KeypointFileError, KeypointFileWarning

PathLike = str | os.PathLike[str]

SKELETON_BY_JOINT_COUNT = {17: "coco", 18: "openpose_coco_18", 26: "halpe_26", 33: "blazepose"}
"""Skeleton name a reader infers from a joint count when none is given (25 is ambiguous: BODY_25 or BODY_25B)."""


_INT_GROUP = re.compile(r"\d+")


def last_int(text: str) -> int | None:
    """The last group of digits of `text` as an int (``"cam1_000042"`` -> 42), or None without digits."""
    groups = _INT_GROUP.findall(text)
    return int(groups[-1]) if groups else None


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
    """Align the views on the union of their frames, pad people, mask missing joints."""
    if not views:
        raise KeypointFileError("no keypoint files given")
    for v in views:
        if len(np.unique(v.frames)) != len(v.frames):
            raise KeypointFileError(f"{v.source}: repeated frame numbers (camera {v.name!r})")
        if v.xyc.shape[-2] != skeleton.num_joints:
            raise KeypointFileError(f"{v.source}: {v.xyc.shape[-2]} joints, skeleton {skeleton.name!r} has "
                                    f"{skeleton.num_joints}")  # fmt: skip
    frames = np.unique(np.concatenate([v.frames for v in views]).astype(np.int64))
    t, n_views, j = len(frames), len(views), skeleton.num_joints
    p = max([v.xyc.shape[1] for v in views] + [1])
    xyc = np.full((t, n_views, p, j, 3), np.nan, dtype=np.float64)
    score = np.full((t, n_views, p), np.nan) if any(v.score is not None for v in views) else None
    for i, v in enumerate(views):
        rows = np.searchsorted(frames, v.frames)
        xyc[rows, i, : v.xyc.shape[1]] = v.xyc
        if v.score is not None:
            score[rows, i, : v.score.shape[1]] = v.score
        lacking = np.setdiff1d(frames, v.frames)
        if lacking.size:
            message = f"camera {v.name!r} ({v.source}) lacks {lacking.size} of {t} frames: {_ranges(lacking)}"
            warn(notes, message, stacklevel=4)
    conf = xyc[..., 2]
    valid = np.isfinite(xyc).all(axis=-1) & (conf > 0)
    points = np.where(valid[..., None], xyc[..., :2], np.nan).astype(dtype)
    return Keypoints2D(
        points=points, confidence=np.where(valid, conf, 0.0).astype(dtype),
        views=tuple(v.name for v in views),
        skeleton=skeleton, frame_ids=frames, fps=None if fps is None else float(fps),
        source=tuple(v.source for v in views), person_score=score, notes=tuple(notes),
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
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise KeypointFileError(
            f"{path}: invalid JSON at line {e.lineno} column {e.colno} (char {e.pos}): {e.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"{path}: cannot read: {e}") from None


def flat_numbers(value: Any, where: str) -> np.ndarray:
    """A flat list of numbers (JSON null read as NaN) as float64, else KeypointFileError naming `where`."""
    if not isinstance(value, list) or not all(
        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in value
    ):
        raise KeypointFileError(f"{where}: expected a flat list of numbers, got {str(value)[:60]}")
    return np.array([np.nan if x is None else x for x in value], dtype=np.float64)


def triplets(flat: np.ndarray, n_joints: int, skeleton: Skeleton, where: str) -> np.ndarray:
    """(n_joints, 3) (x px, y px, confidence) rows of a flat (3 n_joints,) array, else `KeypointFileError`."""
    if flat.size != 3 * n_joints:
        raise KeypointFileError(
            f"{where}: expected {3 * n_joints} numbers ({n_joints} joints x (x, y, confidence)) for skeleton "
            f"{skeleton.name!r}, got {flat.size}"
        )
    return flat.reshape(n_joints, 3)

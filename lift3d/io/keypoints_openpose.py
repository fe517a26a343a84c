"""OpenPose JSON output into `Keypoints2D` (`read_openpose`).

Layout: one folder per camera of ``<name><frame>.json`` files (the frame is the last integer group of the name;
``*.json.old`` and other files are ignored), ``people[i].pose_keypoints_2d`` = flat (x px, y px, confidence) * J.
Undetected joints are (0, 0, 0). Skeletons: ``body_25``, ``body_25b``, ``coco_18`` (OpenPose's 18-joint COCO
model, which adds ``neck`` to MS-COCO-17: `lift3d.core.skeleton.OPENPOSE_COCO_18`; use ``kp.remap(COCO_17)`` to
drop the neck), and any other named skeleton by its joint count. Frame alignment, padding and errors as described
in `lift3d.io.keypoints`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import (
    SKELETON_BY_JOINT_COUNT,
    PathLike,
    View,
    as_paths,
    assemble,
    flat_numbers,
    last_int,
    load_json,
    triplets,
    view_names,
    warn,
)

__all__ = ["read_openpose"]


def _openpose_folders(folders: PathLike | Sequence[PathLike]) -> list[Path]:
    paths = as_paths(folders)
    if len(paths) == 1 and paths[0].is_dir() and not any(paths[0].glob("*.json")):
        subs = sorted(d for d in paths[0].iterdir() if d.is_dir() and any(d.glob("*.json")))
        if subs:
            return subs  # a pose/ folder holding one folder per camera
    for p in paths:
        if not p.is_dir():
            raise KeypointFileError(f"{p}: not a folder of OpenPose .json files")
    return paths


def _openpose_file(path: Path, skeleton: Skeleton | None) -> list[np.ndarray]:
    """People of one OpenPose file as (J, 3) arrays (an empty pose_keypoints_2d gives an all-NaN person)."""
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise KeypointFileError(f"{path}: people: expected a list (OpenPose JSON)")
    people = []
    for i, person in enumerate(data["people"]):
        where = f"{path}: people[{i}].pose_keypoints_2d"
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise KeypointFileError(f"{where}: missing")
        flat = flat_numbers(person["pose_keypoints_2d"], where)
        if flat.size == 0:  # OpenPose writes empty lists for a person it dropped: keep the slot, all missing
            people.append(None)
            continue
        if skeleton is None:
            n = flat.size // 3
            if flat.size % 3 or n not in SKELETON_BY_JOINT_COUNT:
                hint = "body_25 or body_25b" if n == 25 else "one"
                raise KeypointFileError(f"{where}: {flat.size} numbers; pass skeleton= (--skeleton): {hint}")
            skeleton = get_skeleton(SKELETON_BY_JOINT_COUNT[n])
        people.append(triplets(flat, skeleton.num_joints, skeleton, where))
    return people


def read_openpose(
    folders: PathLike | Sequence[PathLike],
    *,
    skeleton: str | Skeleton | None = None,
    views: Sequence[str] | None = None,
    on_error: str = "raise",
    fps: float | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read OpenPose JSON output, one folder per camera.

    Args:
        folders: One folder per camera (e.g. ``pose/cam01_json``), or one folder holding such folders.
        skeleton: ``"body_25"``, ``"body_25b"``, ``"coco_18"`` (`OPENPOSE_COCO_18`) or any named skeleton.
            None infers it from the joint count (17 coco, 18 coco_18, 26 halpe_26, 33 blazepose); 25 joints
            are ambiguous (BODY_25 or BODY_25B) and must be named.
        views: Camera names; default: the folder names without a ``_json`` suffix.
        on_error: ``"raise"``: a malformed file raises `KeypointFileError`. ``"skip"``: that file's frame is
            missing for that camera and a `KeypointFileWarning` is recorded in ``notes``.
        fps: Frame rate to record (OpenPose files carry none).
        dtype: Floating dtype of `points` and `confidence`.

    Returns:
        `Keypoints2D` with the union of the frame numbers of all cameras.

    Raises:
        KeypointFileError: Naming the file, the JSON error position or the person and field.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    dirs = _openpose_folders(folders)
    names = view_names(dirs, views, lambda d: d.name.removesuffix("_json"))
    skel = None if skeleton is None else get_skeleton(skeleton)
    notes: list[str] = []
    parsed = []
    for d, name in zip(dirs, names, strict=True):
        files = sorted(f for f in d.iterdir() if f.name.endswith(".json") and f.is_file())
        if not files:
            raise KeypointFileError(f"{d}: no OpenPose .json files")
        frames: dict[int, Path] = {}
        for f in files:
            frame = last_int(f.name[: -len(".json")])
            if frame is None:
                raise KeypointFileError(f"{f}: no frame number in the file name")
            if frame in frames:
                raise KeypointFileError(f"{f}: frame {frame} already read from {frames[frame].name}")
            frames[frame] = f
        people = {}
        for frame, f in frames.items():
            try:
                people[frame] = _openpose_file(f, skel)
            except KeypointFileError as e:
                if on_error == "raise":
                    raise
                warn(notes, f"skipped (camera {name!r}, frame {frame}): {e}")
                people[frame] = []
                continue
            if skel is None and any(p is not None for p in people[frame]):
                skel = get_skeleton(SKELETON_BY_JOINT_COUNT[next(p for p in people[frame] if p is not None).shape[0]])
        parsed.append((name, d, frames, people))
    if notes and len(notes) == sum(len(frames) for _, _, frames, _ in parsed):
        raise KeypointFileError(f"every file failed; the first: {notes[0]}")
    if skel is None:
        raise KeypointFileError(f"{dirs[0]}: no detections to infer the skeleton from; pass skeleton= (--skeleton)")
    out = []
    for name, d, frames, people in parsed:
        order = sorted(frames)
        p = max([len(people[k]) for k in order] + [0])
        xyc = np.full((len(order), p, skel.num_joints, 3), np.nan)
        for row, k in enumerate(order):
            for i, person in enumerate(people[k]):
                if person is not None:
                    xyc[row, i] = person
        out.append(View(name, str(d), np.asarray(order), xyc))
    return assemble(out, skel, fps=fps, dtype=dtype, notes=notes)

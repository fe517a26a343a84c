"""OpenPose JSON output into `Keypoints2D` (`read_openpose`).

Layout: one folder per camera of ``<name><frame>.json`` files (the frame is the last integer group of the name;
``*.json.old`` and other files are ignored), ``people[i].pose_keypoints_2d`` = flat (x px, y px, confidence) * J.
Undetected joints are (0, 0, 0). Skeletons: ``body_25``, ``body_25b``, ``coco_18`` (OpenPose's 18-joint COCO
model, which adds ``neck`` to MS-COCO-17: `lift3d.core.skeleton.OPENPOSE_COCO_18`; use ``kp.remap(COCO_17)`` to
drop the neck), and any other named skeleton by its joint count. Frame alignment, padding and errors as described
in `lift3d.io.keypoints`.

`write_openpose` writes the same layout, Pose2Sim's file names: ``<out>/<cam>_json/<cam>_<frame:012d>_keypoints.json``,
one camera folder at a time, built in a hidden temporary folder and renamed into place only when complete.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import KeypointFileError, OutputError
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
from lift3d.io.atomic import deferred_interrupts

__all__ = ["read_openpose", "write_openpose"]


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


def _openpose_file(path: str | Path, skeleton: Skeleton | None) -> list[np.ndarray]:
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
    cameras = [(name, d, _frame_files(d)) for d, name in zip(dirs, names, strict=True)]
    all_files = [f for _, _, frames in cameras for f in frames.values()]
    skel = skel or _first_skeleton(all_files, on_error)
    if skel is None:
        raise KeypointFileError(f"{dirs[0]}: no detections to infer the skeleton from; pass skeleton= (--skeleton)")
    chunks = [(i, files[k : k + _CHUNK]) for i, (_, _, frames) in enumerate(cameras)
              for files in [list(frames.values())] for k in range(0, len(files), _CHUNK)]  # fmt: skip
    n_files = len(all_files)
    del all_files
    parsed = _parse_all([c for _, c in chunks], skel.name, np.dtype(dtype).str, parallel=n_files >= _PARALLEL_MIN_FILES)
    chunk_camera = [cam for cam, _ in chunks]
    del chunks  # an hour of file names is 100-200 MB
    notes: list[str] = []
    failed, views_out = 0, []
    for i in range(len(cameras)):
        (name, d, frames), cameras[i] = cameras[i], None
        mine = [k for k, cam in enumerate(chunk_camera) if cam == i]
        parts = [parsed[k] for k in mine]
        for k in mine:  # held once: in this camera's array below, not also in its chunks
            parsed[k] = None
        for k, (frame, _) in enumerate(frames.items()):  # errors in file order, as a sequential read meets them
            offset = k // _CHUNK
            message = parts[offset][1].get(k % _CHUNK)
            if message is None:
                continue
            if on_error == "raise":
                raise KeypointFileError(message)
            warn(notes, f"skipped (camera {name!r}, frame {frame}): {message}")
            failed += 1
        p = max([xyc.shape[1] for xyc, _ in parts] + [0])
        xyc = np.concatenate([np.pad(a, ((0, 0), (0, p - a.shape[1]), (0, 0), (0, 0)), constant_values=np.nan)
                              for a, _ in parts])  # fmt: skip
        del parts
        ids = np.asarray(list(frames))
        if np.any(np.diff(ids) < 0):  # the files were listed by name: frames may need sorting
            order = np.argsort(ids)
            ids, xyc = ids[order], xyc[order]
        views_out.append(View(name, str(d), ids, xyc))
    if notes and failed == n_files:
        raise KeypointFileError(f"every file failed; the first: {notes[0]}")
    return assemble(views_out, skel, fps=fps, dtype=dtype, notes=notes)


_CHUNK = 2048  # files per task of the reading pool
_PARALLEL_MIN_FILES = 8192  # fewer files are read in this process: a pool's start would cost more than it saves


def _frame_files(d: Path) -> dict[int, str]:
    """A camera folder's JSON files (paths as strings: 10x cheaper than `Path`s for an hour of files) by frame
    number, in name order."""
    with os.scandir(d) as entries:  # names sorted as strings: the order of their paths, 5x faster
        names = sorted(e.name for e in entries if e.name.endswith(".json") and e.is_file())
    if not names:
        raise KeypointFileError(f"{d}: no OpenPose .json files")
    frames: dict[int, str] = {}
    folder = str(d)
    for name in names:
        frame = last_int(name[: -len(".json")])
        if frame is None:
            raise KeypointFileError(f"{os.path.join(folder, name)}: no frame number in the file name")
        if frame in frames:
            raise KeypointFileError(f"{os.path.join(folder, name)}: frame {frame} already read from "
                                    f"{os.path.basename(frames[frame])}")  # fmt: skip
        frames[frame] = os.path.join(folder, name)
    return frames


def _first_skeleton(files: list[str], on_error: str) -> Skeleton | None:
    """The skeleton given by the joint count of the first file with a person (files read in order)."""
    for f in files:
        try:
            people = _openpose_file(f, None)
        except KeypointFileError:
            if on_error == "raise":
                raise
            continue
        first = next((p for p in people if p is not None), None)
        if first is not None:
            return get_skeleton(SKELETON_BY_JOINT_COUNT[first.shape[0]])
    return None


def _parse_all(chunks: list[list[str]], skeleton: str, dtype: str, *, parallel: bool) -> list[tuple[np.ndarray, dict]]:
    """`_parse_chunk` of every chunk: in this process, or (many files, several cores) in a process pool."""
    workers = min(len(chunks), os.cpu_count() or 1, 8)
    # forked workers only: forking after JAX started its threads is unsafe, and fresh interpreters (spawn,
    # forkserver) would re-run the caller's script unless it has a `__main__` guard
    if not parallel or workers < 2 or "jax" in sys.modules or sys.platform != "linux":
        return [_parse_chunk(c, skeleton, dtype) for c in chunks]
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(_parse_chunk, chunks, [skeleton] * len(chunks), [dtype] * len(chunks)))


def _parse_chunk(files: list[str], skeleton: str, dtype: str) -> tuple[np.ndarray, dict[int, str]]:
    """Files of one camera as (n, p, j, 3) `dtype` (x px, y px, confidence; NaN = no person in that slot) and
    the error message of each file that failed, by position (its row stays NaN)."""
    skel = get_skeleton(skeleton)
    people, errors = [], {}
    for k, f in enumerate(files):
        try:
            people.append(_openpose_file(f, skel))
        except KeypointFileError as e:
            errors[k] = str(e)
            people.append([])
    xyc = np.full((len(files), max([len(p) for p in people] + [0]), skel.num_joints, 3), np.nan, dtype)
    with np.errstate(over="ignore"):  # beyond `dtype`'s range: inf, missing as NaN is (`assemble`)
        for k, persons in enumerate(people):
            for i, person in enumerate(persons):
                if person is not None:
                    xyc[k, i] = person
    return xyc, errors


_EMPTY_PARTS = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d", "pose_keypoints_3d",
                "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d")  # fmt: skip


def _openpose_document(points: np.ndarray, confidence: np.ndarray) -> dict:
    """One frame's OpenPose JSON: people with at least one joint; a missing joint is (0, 0, 0)."""
    people = []
    for xy, c in zip(points, confidence, strict=True):
        ok = np.isfinite(xy).all(-1) & (np.nan_to_num(c) > 0)
        if not ok.any():
            continue
        xyc = np.where(ok[:, None], np.concatenate([xy, c[:, None]], axis=-1), 0.0)
        flat = [round(float(v), 3) if i % 3 < 2 else round(float(v), 4) for i, v in enumerate(xyc.ravel())]
        people.append({"person_id": [-1], "pose_keypoints_2d": flat, **{k: [] for k in _EMPTY_PARTS}})
    return {"version": 1.3, "people": people}


def write_openpose(
    out: PathLike,
    keypoints: Keypoints2D | Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> list[Path]:
    """Write OpenPose / Pose2Sim JSON, one folder per camera, each folder complete or not written at all.

    Each camera's files are written into a hidden temporary folder beside the target (``<out>/.<cam>_json.*``),
    which replaces ``<out>/<cam>_json`` (and any earlier folder of that name) when every file is written; on an
    error or Ctrl-C the temporary folder is deleted and the earlier folder stays as it was.

    Args:
        out: The folder that receives ``<cam>_json/<cam>_<frame:012d>_keypoints.json`` (created if missing).
        keypoints: `Keypoints2D` (its views, frame_ids, points (t, v, p, j, 2) px and confidence (t, v, p, j)),
            or ``{camera: (frame_ids (t,), points (t, p, j, 2) px, confidence (t, p, j))}``. Frames are written
            even without people (``"people": []``); a detection slot without any joint is left out.

    Returns:
        The camera folders written, in camera order.

    Raises:
        OutputError: The folder cannot be written (read-only, full disk, a file in the way).
    """
    if isinstance(keypoints, Keypoints2D):
        views = {name: (keypoints.frame_ids, keypoints.points[:, i], keypoints.confidence[:, i])
                 for i, name in enumerate(keypoints.views)}  # fmt: skip
    else:
        views = dict(keypoints)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{out}: cannot create the folder: {err.strerror or err}") from None
    written = []
    for name, (frame_ids, points, confidence) in views.items():
        points, confidence = np.asarray(points, np.float64), np.asarray(confidence, np.float64)
        if points.ndim != 4 or points.shape[-1] != 2 or confidence.shape != points.shape[:3]:
            raise ValueError(f"camera {name}: points (t, p, j, 2) and confidence (t, p, j) expected, got "
                             f"{points.shape} and {confidence.shape}")  # fmt: skip
        written.append(_write_camera_folder(out / f"{name}_json", name, np.asarray(frame_ids), points, confidence))
    return written


def _write_camera_folder(target: Path, name: str, frame_ids, points, confidence) -> Path:
    """Build one camera's folder in a temporary folder, then swap it into place."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as err:
        raise OutputError(f"{target}: cannot write: {err.strerror or err}") from None
    try:
        for row, frame in enumerate(frame_ids):
            with open(tmp / f"{name}_{int(frame):012d}_keypoints.json", "w", encoding="utf-8") as f:
                json.dump(_openpose_document(points[row], confidence[row]), f, separators=(",", ":"))
        with deferred_interrupts():
            _swap_folder(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            why = err.strerror or err
            raise OutputError(f"{target}: cannot write: {why}; any earlier folder is unchanged") from None
        raise
    return target


def _swap_folder(tmp: Path, target: Path) -> None:
    """Rename the finished folder `tmp` to `target`, replacing an earlier folder (put back if the rename fails)."""
    if not target.exists():
        tmp.replace(target)
        return
    if not target.is_dir():
        raise OutputError(f"{target}: is a file, not a folder")
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    target.replace(old / target.name)
    try:
        tmp.replace(target)
    except OSError:
        (old / target.name).replace(target)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)

"""Read multi-camera 2D keypoint files into one in-memory type, `Keypoints2D`.

Formats (one reader each, and `read_keypoints` to dispatch):

- OpenPose JSON (`read_openpose`): one folder per camera of ``<name><frame>.json`` files (the frame is the
  last integer group of the name; ``*.json.old`` and other files are ignored), ``people[i].pose_keypoints_2d``
  = flat (x px, y px, confidence) * J. Undetected joints are (0, 0, 0). Skeletons: ``body_25``, ``body_25b``,
  ``coco_18`` (OpenPose's 18-joint COCO model, which adds ``neck`` to MS-COCO-17: `OPENPOSE_COCO_18`; use
  ``kp.remap(COCO_17)`` to drop the neck), and any other named skeleton by its joint count.
- COCO keypoint results JSON (`read_coco`): one file per camera, a list of ``{"image_id", "category_id",
  "keypoints": [x, y, v] * J, "score"}``.
- DeepLabCut (`read_dlc`): ``.csv`` or ``.h5`` per camera, columns scorer / [individuals] / bodyparts /
  coords (x, y, likelihood); ``.h5`` is read with h5py, without pandas / PyTables.
- MediaPipe-style JSON (`read_mediapipe`, layout in its docstring): BlazePose-33, normalised coordinates.
- npz arrays (`read_keypoints_npz`, and `write_keypoints_npz` for the reverse).

The COCO, DeepLabCut and MediaPipe readers live in `lift3d.io.keypoint_formats`; they can be imported
from here too.

Frames are aligned across cameras by frame number (union of the frames of all cameras; a frame a camera lacks
is missing there, and a warning names the camera and the frames). People are padded to the largest number of
detections in any frame and view: missing data is NaN with confidence 0, masked, never dropped. Errors are
`KeypointFileError` with one line naming the file, the frame / person and the field.
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

from lift3d.core.rig import Rig
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import (  # noqa: F401  (re-exported)
    CaptureInputError,
    KeypointFileError,
    KeypointFileWarning,
    UnknownCameraError,
)
from lift3d.io.atomic import atomic_write

__all__ = ["Keypoints2D", "KeypointFileError", "KeypointFileWarning", "OPENPOSE_COCO_18", "read_keypoints"]
__all__ += ["read_openpose", "read_keypoints_npz"]
__all__ += ["write_keypoints_npz"]

PathLike = str | os.PathLike[str]


def _skeleton_from_names(name: str, joints: Sequence[str], bones: Sequence[tuple[str, str]] = ()) -> Skeleton:
    """Skeleton with left/right pairs found by the ``left_`` / ``right_`` prefixes."""
    idx = {j: i for i, j in enumerate(joints)}
    pairs = tuple(
        (i, idx["right_" + j[5:]])
        for i, j in enumerate(joints)
        if j.startswith("left_") and "right_" + j[5:] in idx
    )
    return Skeleton(name, tuple(joints), tuple((idx[a], idx[b]) for a, b in bones), pairs)


OPENPOSE_COCO_18 = dataclasses.replace(
    _skeleton_from_names(
        "openpose_coco_18",
        ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
         "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
         "right_eye", "left_eye", "right_ear", "left_ear"),
        [("neck", "right_shoulder"), ("neck", "left_shoulder"), ("right_shoulder", "right_elbow"),
         ("right_elbow", "right_wrist"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
         ("neck", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
         ("neck", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("neck", "nose"),
         ("nose", "right_eye"), ("right_eye", "right_ear"), ("nose", "left_eye"), ("left_eye", "left_ear")],
    ),
    root=1,
)  # fmt: skip
"""OpenPose's 18-joint COCO model: MS-COCO-17 joints plus ``neck``, in OpenPose order (a tree rooted at the
neck). It has no H36M mapping of its own: ``kp.remap(COCO_17)`` gives MS-COCO-17 (drops the neck)."""

_COCO18_ALIASES = ("coco_18", "coco18", "openpose_coco", "openpose_coco_18")
_BY_COUNT = {17: "coco", 18: "openpose_coco_18", 26: "halpe_26", 33: "blazepose"}


def _resolve_skeleton(skeleton: str | Skeleton) -> Skeleton:
    if isinstance(skeleton, str) and skeleton.strip().lower().replace("-", "_") in _COCO18_ALIASES:
        return OPENPOSE_COCO_18
    return get_skeleton(skeleton)


@dataclasses.dataclass(frozen=True, eq=False)
class Keypoints2D:
    """2D keypoints of several cameras over time, as read from files.

    Attributes:
        points: (t, v, p, j, 2) pixel coordinates (x, y), float32 or float64; NaN where missing.
        confidence: (t, v, p, j) detector confidence; 0 exactly where `points` is missing.
        views: v camera names.
        skeleton: The joint layout (j joints).
        frame_ids: (t,) int64 frame numbers, unique and increasing.
        fps: Frame rate if the file or the caller gave one, else None.
        source: The file or folder each view was read from.
        person_score: (t, v, p) per-detection score where the format has one (COCO results), else None.
        notes: Warnings raised while reading (missing frames, skipped files), for reports.
    """

    points: np.ndarray
    confidence: np.ndarray
    views: tuple[str, ...]
    skeleton: Skeleton
    frame_ids: np.ndarray
    fps: float | None = None
    source: tuple[str, ...] = ()
    person_score: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "views", tuple(str(v) for v in self.views))
        object.__setattr__(self, "source", tuple(str(s) for s in self.source))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "frame_ids", np.asarray(self.frame_ids, dtype=np.int64))
        t, v, j = len(self.frame_ids), len(self.views), self.skeleton.num_joints
        if self.points.ndim != 5 or self.points.shape[:2] != (t, v) or self.points.shape[3:] != (j, 2):
            raise ValueError(f"points must have shape ({t}, {v}, p, {j}, 2), got {self.points.shape}")
        if self.confidence.shape != self.points.shape[:4]:
            raise ValueError(
                f"confidence must have shape {self.points.shape[:4]}, got {self.confidence.shape}"
            )
        if self.person_score is not None and self.person_score.shape != self.points.shape[:3]:
            raise ValueError(
                f"person_score must have shape {self.points.shape[:3]}, got {self.person_score.shape}"
            )
        if len(set(self.views)) != v:
            raise ValueError(f"view names must be unique, got {self.views}")
        if t > 1 and not np.all(np.diff(self.frame_ids) > 0):
            raise ValueError("frame_ids must be strictly increasing")

    @property
    def num_frames(self) -> int:
        """t: number of frames."""
        return self.points.shape[0]

    @property
    def num_views(self) -> int:
        """v: number of cameras."""
        return self.points.shape[1]

    @property
    def num_people(self) -> int:
        """p: the most detections in any frame and view (slots beyond a frame's count are missing)."""
        return self.points.shape[2]

    @property
    def valid(self) -> np.ndarray:
        """(t, v, p, j) bool: detected joints."""
        return self.confidence > 0

    def person(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Detection slot `index`: ``(points (t, v, j, 2), confidence (t, v, j))`` (slots are not people)."""
        return self.points[:, :, index], self.confidence[:, :, index]

    def select_views(self, names: Sequence[str]) -> Keypoints2D:
        """Views reordered / subset by name (e.g. to the order of a rig).

        Raises:
            KeyError: Naming the missing cameras and the available ones.
        """
        missing = [n for n in names if n not in self.views]
        if missing:
            raise KeyError(f"keypoints have no view(s) {missing}; views: {list(self.views)}")
        idx = [self.views.index(n) for n in names]
        sel = lambda a: None if a is None else a[:, idx]  # noqa: E731
        src = tuple(self.source[i] for i in idx) if len(self.source) == self.num_views else self.source
        return dataclasses.replace(
            self, points=sel(self.points), confidence=sel(self.confidence), views=tuple(names), source=src,
            person_score=sel(self.person_score),
        )  # fmt: skip

    def remap(self, skeleton: str | Skeleton) -> Keypoints2D:
        """Joints selected and reordered by name into another skeleton, e.g. OpenPose COCO-18 -> `COCO_17`.

        Raises:
            KeyError: If a joint of `skeleton` is not in this data's skeleton.
        """
        skeleton = _resolve_skeleton(skeleton)
        missing = [n for n in skeleton.joints if n not in self.skeleton.joints]
        if missing:
            raise KeyError(f"cannot remap {self.skeleton.name!r} to {skeleton.name!r}: no joint(s) {missing}")
        idx = self.skeleton.indices(skeleton.joints)
        return dataclasses.replace(
            self, points=self.points[..., idx, :], confidence=self.confidence[..., idx], skeleton=skeleton
        )


# ------------------------------------------------------------------------------------------------ assembly

_INT_GROUP = re.compile(r"\d+")


def _last_int(text: str) -> int | None:
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


def _warn(notes: list[str], message: str, stacklevel: int = 3) -> None:
    notes.append(message)
    warnings.warn(message, KeypointFileWarning, stacklevel=stacklevel)  # default: the reader's caller


@dataclasses.dataclass
class _View:
    """One camera as parsed: frames (n,), xyc (n, p, j, 3) and optional detection scores (n, p)."""

    name: str
    source: str
    frames: np.ndarray
    xyc: np.ndarray
    score: np.ndarray | None = None


def _assemble(
    views: list[_View], skeleton: Skeleton, *, fps: float | None, dtype, notes: list[str]
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
            _warn(notes, message, stacklevel=4)
    conf = xyc[..., 2]
    valid = np.isfinite(xyc).all(axis=-1) & (conf > 0)
    points = np.where(valid[..., None], xyc[..., :2], np.nan).astype(dtype)
    return Keypoints2D(
        points=points, confidence=np.where(valid, conf, 0.0).astype(dtype),
        views=tuple(v.name for v in views),
        skeleton=skeleton, frame_ids=frames, fps=None if fps is None else float(fps),
        source=tuple(v.source for v in views), person_score=score, notes=tuple(notes),
    )  # fmt: skip


def _names(paths: Sequence[Path], views: Sequence[str] | None, default: Callable[[Path], str]) -> list[str]:
    if views is None:
        return [default(p) for p in paths]
    if len(views) != len(paths):
        raise ValueError(f"{len(views)} view names for {len(paths)} inputs")
    return [str(v) for v in views]


def _as_paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    return [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise KeypointFileError(
            f"{path}: invalid JSON at line {e.lineno} column {e.colno} (char {e.pos}): {e.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"{path}: cannot read: {e}") from None


def _flat_numbers(value: Any, where: str) -> np.ndarray:
    """A flat list of numbers (JSON null read as NaN) as float64, else KeypointFileError naming `where`."""
    if not isinstance(value, list) or not all(
        x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in value
    ):
        raise KeypointFileError(f"{where}: expected a flat list of numbers, got {str(value)[:60]}")
    return np.array([np.nan if x is None else x for x in value], dtype=np.float64)


def _triplets(flat: np.ndarray, n_joints: int, skeleton: Skeleton, where: str) -> np.ndarray:
    if flat.size != 3 * n_joints:
        raise KeypointFileError(
            f"{where}: expected {3 * n_joints} numbers ({n_joints} joints x (x, y, confidence)) for skeleton "
            f"{skeleton.name!r}, got {flat.size}"
        )
    return flat.reshape(n_joints, 3)


# ------------------------------------------------------------------------------------------------ OpenPose


def _openpose_folders(folders: PathLike | Sequence[PathLike]) -> list[Path]:
    paths = _as_paths(folders)
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
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise KeypointFileError(f"{path}: field 'people': expected a list (OpenPose JSON)")
    people = []
    for i, person in enumerate(data["people"]):
        where = f"{path}: person {i}, field 'pose_keypoints_2d'"
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise KeypointFileError(f"{where}: missing")
        flat = _flat_numbers(person["pose_keypoints_2d"], where)
        if flat.size == 0:
            people.append(
                None
            )  # OpenPose writes empty lists for a person it dropped: keep the slot, all missing
            continue
        if skeleton is None:
            n = flat.size // 3
            if flat.size % 3 or n not in _BY_COUNT:
                hint = "body_25 or body_25b" if n == 25 else "one"
                raise KeypointFileError(f"{where}: {flat.size} numbers; pass skeleton= (--skeleton): {hint}")
            skeleton = get_skeleton(_BY_COUNT[n]) if n != 18 else OPENPOSE_COCO_18
        people.append(_triplets(flat, skeleton.num_joints, skeleton, where))
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
    names = _names(dirs, views, lambda d: d.name.removesuffix("_json"))
    skel = None if skeleton is None else _resolve_skeleton(skeleton)
    notes: list[str] = []
    parsed = []
    for d, name in zip(dirs, names, strict=True):
        files = sorted(f for f in d.iterdir() if f.name.endswith(".json") and f.is_file())
        if not files:
            raise KeypointFileError(f"{d}: no OpenPose .json files")
        frames: dict[int, Path] = {}
        for f in files:
            frame = _last_int(f.name[: -len(".json")])
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
                _warn(notes, f"skipped (camera {name!r}, frame {frame}): {e}")
                people[frame] = []
                continue
            if skel is None and any(p is not None for p in people[frame]):
                skel = _resolve_skeleton(_BY_COUNT[next(p for p in people[frame] if p is not None).shape[0]])
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
        out.append(_View(name, str(d), np.asarray(order), xyc))
    return _assemble(out, skel, fps=fps, dtype=dtype, notes=notes)


_OTHER_READERS = ("read_coco", "read_dlc", "read_mediapipe")


def __getattr__(name: str) -> Any:
    """`read_coco`, `read_dlc`, `read_mediapipe` from `lift3d.io.keypoint_formats` (which imports this)."""
    if name in _OTHER_READERS:
        from lift3d.io import keypoint_formats as keypoints_formats

        return getattr(keypoints_formats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------ npz


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
        if pts.shape[3] not in _BY_COUNT:
            raise KeypointFileError(
                f"{path}: array 'skeleton' missing; pass skeleton= (--skeleton) for {pts.shape[3]} joints"
            )
        name = _BY_COUNT[pts.shape[3]]
    skel = _resolve_skeleton(name)
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
    return _assemble([_View(n, str(path), frames, xyc[:, i]) for i, n in enumerate(names)], skel, fps=fps,
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


# ------------------------------------------------------------------------------------------------ dispatch

FORMATS = ("openpose", "coco", "dlc", "mediapipe", "npz")


def _guess_format(paths: list[Path]) -> str:
    first = paths[0]
    if first.is_dir():
        return "openpose"
    suffix = first.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".h5", ".hdf5", ".csv"):
        return "dlc"
    if suffix == ".json":
        with open(first, encoding="utf-8") as f:
            head = f.read(256).lstrip()
        if head.startswith("["):
            return "coco"
        if head.startswith("{"):
            return "mediapipe"
    raise KeypointFileError(
        f"{first}: cannot tell the keypoint format; pass format= (one of {', '.join(FORMATS)})"
    )


def read_keypoints(
    paths: PathLike | Sequence[PathLike],
    *,
    format: str | None = None,
    skeleton: str | Skeleton | None = None,
    views: Sequence[str] | None = None,
    **kwargs: Any,
) -> Keypoints2D:
    """Read 2D keypoints of several cameras in any supported format.

    Args:
        paths: OpenPose: camera folders (or their parent); COCO / DLC / MediaPipe: one file per camera;
            npz: one file.
        format: ``"openpose"``, ``"coco"``, ``"dlc"``, ``"mediapipe"`` or ``"npz"``; None guesses from the
            paths (folder -> openpose, .npz, .h5/.csv -> dlc, .json list -> coco, .json object -> mediapipe).
        skeleton: Passed to the reader (MediaPipe is always BlazePose-33).
        views: Camera names.
        **kwargs: Reader options (``on_error``, ``fps``, ``image_size``, ``image_to_frame``, ``dtype``).

    Returns:
        `Keypoints2D`.
    """
    files = _as_paths(paths)
    if not files:
        raise ValueError("no keypoint paths given")
    fmt = format or _guess_format(files)
    from lift3d.io.keypoint_formats import read_coco, read_dlc, read_mediapipe

    if fmt == "openpose":
        return read_openpose(files, skeleton=skeleton, views=views, **kwargs)
    if fmt == "coco":
        return read_coco(files, skeleton=skeleton or "coco", views=views, **kwargs)
    if fmt == "dlc":
        return read_dlc(files, skeleton=skeleton, views=views, **kwargs)
    if fmt == "mediapipe":
        if skeleton is not None and _resolve_skeleton(skeleton).name != "blazepose":
            raise ValueError(f"MediaPipe keypoints are BlazePose-33, not {skeleton!r}")
        return read_mediapipe(files, views=views, **kwargs)
    if fmt == "npz":
        if len(files) != 1:
            raise ValueError(f"npz keypoints come in one file, got {len(files)}")
        return read_keypoints_npz(files[0], skeleton=skeleton, views=views, **kwargs)
    raise ValueError(f"unknown keypoint format {fmt!r}; formats: {', '.join(FORMATS)}")


def match_views(keypoints: Keypoints2D, rig: Rig) -> tuple[Keypoints2D, Rig]:
    """Pair keypoint views with rig cameras by name ("cam01" matches "cam_01", "Cam-01").

    Args:
        keypoints: Keypoints with view names (e.g. from the folder names).
        rig: The rig.

    Returns:
        Keypoints and rig restricted to the shared cameras, in the rig's order.

    Raises:
        ValueError: A keypoint camera that is not in the rig (naming both lists), or fewer than two cameras.
    """
    try:
        matched = rig.match(keypoints.views)
    except UnknownCameraError as err:
        view = err.name
        where = keypoints.source[keypoints.views.index(view)] if keypoints.source else "keypoints"
        raise CaptureInputError(f"keypoint camera {view!r} ({where}) is not in the rig (rig cameras: "
                                f"{list(rig.names)})") from err  # fmt: skip
    pairs = sorted(zip(matched.names, keypoints.views, strict=True), key=lambda p: rig.names.index(p[0]))
    if len(pairs) < 2:
        raise CaptureInputError(f"triangulation needs at least two cameras, got {[v for _, v in pairs]}")
    return keypoints.select_views([v for _, v in pairs]), rig.subset([r for r, _ in pairs])

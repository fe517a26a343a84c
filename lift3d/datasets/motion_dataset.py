"""3D motion to train a lifter on: what `--data PATH` holds, motion files as H36M-17, and virtual cameras.

`data_kind` tells what a `--data` path is: ``"deepmimic"`` (the fetched clips, `lift3d.datasets.deepmimic`),
``"h36m"`` (a Human3.6M layout `lift3d.datasets.h36m.load_h36m` reads: VideoPose3D npz, Martinez h5 tree,
learnable-triangulation labels) or ``"motion"`` (a TRC / C3D / CSV / npz file of `lift3d.io.motion`, e.g. from
``lift3d triangulate``, or a folder of them). Anything else is a `TrainingDataError` naming the path.

Motion files become H36M-17 in metres and a Z-up world (`read_motions`):

- joints: a file already in H36M-17 names is taken as is; otherwise the skeleton of
  `lift3d.core.skeleton.SKELETONS` with exactly the file's joints, else the largest one whose joints the file
  holds all of (names compared in snake_case, so Pose2Sim's ``RHip`` is ``right_hip``), is mapped with
  `map_to_h36m`. None: `SkeletonMappingError`, naming
  the file and the joints missing for the closest skeleton.
- vertical axis: the file's own record (npz, C3D), else the ``up`` given ("z" or "y"), else the body's: the
  median direction from the mid-ankles to the thorax must lie within 35 degrees of +Z or +Y; a motion where
  it does not (lying, upside down, or another axis) is refused, asking for ``up``.

Virtual cameras (`virtual_cameras`): a motion has no images, so each frame is seen by `num_views` cameras
placed around the person: azimuth uniform, horizontal distance log-uniform in ``distances_m``, height above
the floor (the motion's 2nd percentile of ankle heights) uniform in ``heights_m``, aimed at the pelvis moved by
up to ``aim_jitter_m`` in each axis (a camera tilted or panned off the body's centre), no roll (the trainer's
augmentation adds roll, turn, elevation and distance). A rig's own cameras (`rig_views`) can be added: the
lab's real viewpoints.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from lift3d.core.motion import UNITS, Motion, yup_to_zup
from lift3d.core.rig import Rig
from lift3d.core.skeleton import H36M_17, H36M_MAPPINGS, SKELETONS, map_to_h36m
from lift3d.datasets.deepmimic import is_deepmimic_folder
from lift3d.errors import SkeletonMappingError, TrainingDataError
from lift3d.geometry.kinematics import look_at_matrices
from lift3d.io.motion import read_motion

__all__ = [
    "TrainingDataError", "SkeletonMappingError", "MOTION_SUFFIXES", "CameraRanges",
    "data_kind", "motion_files", "motion_h36m", "motion_world", "read_motions", "virtual_cameras",
    "rig_views", "camera_frame", "complete_frames", "split_frames",
]  # fmt: skip

MOTION_SUFFIXES = (".trc", ".c3d", ".csv", ".npz")


@dataclasses.dataclass(frozen=True)
class CameraRanges:
    """Where virtual cameras stand (see the module docstring).

    Attributes:
        num_views: Cameras per frame.
        heights_m: (lo, hi) camera height above the floor, metres.
        distances_m: (lo, hi) horizontal distance to the pelvis, metres (log-uniform).
        aim_jitter_m: The aim point's offset from the pelvis, uniform in +- this per axis, metres.
    """

    num_views: int = 4
    heights_m: tuple[float, float] = (0.3, 2.8)
    distances_m: tuple[float, float] = (2.0, 6.0)
    aim_jitter_m: float = 0.3


def _is_h36m(path: Path) -> bool:
    if path.is_file() and path.suffix == ".npy":
        return path.name.startswith("human36m-multiview-labels")
    if path.is_file() and path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:  # lists the keys; nothing is unpickled
                return "positions_3d" in z.files
        except (OSError, ValueError):
            return False
    if path.is_dir():
        return (
            (path / "data_3d_h36m.npz").is_file()
            or any(path.glob("human36m-multiview-labels*.npy"))
            or any(path.glob("S*/MyPoses/3D_positions/*.h5"))
        )
    return False


def motion_files(path: str | os.PathLike) -> list[Path]:
    """The motion files at `path`: the file itself, or a folder's ``*.trc|c3d|csv|npz`` (sorted, not recursive)."""
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix.lower() in MOTION_SUFFIXES else []
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES)
    return []


def data_kind(path: str | os.PathLike) -> str:
    """What a ``--data`` path holds: "deepmimic", "h36m" or "motion" (see the module docstring).

    Raises:
        TrainingDataError: `path` does not exist or is in none of these layouts (the message lists them).
    """
    if os.fspath(path) == "deepmimic" or is_deepmimic_folder(path):
        return "deepmimic"
    p = Path(path)
    if not p.exists():
        raise TrainingDataError(f"{p}: no such file or folder to train on")
    if _is_h36m(p):
        return "h36m"
    if motion_files(p):
        return "motion"
    raise TrainingDataError(
        f"{p}: not data lift3d can train on; expected a Human3.6M layout (VideoPose3D's data_3d_h36m.npz, "
        "Martinez' S*/MyPoses/3D_positions/*.h5, learnable-triangulation's human36m-multiview-labels-*.npy), "
        "a motion file (.trc, .c3d, .csv, .npz from `lift3d triangulate`) or a folder of them, or "
        "'deepmimic' (`lift3d fetch deepmimic`)"
    )


def _snake(name: str) -> str:
    """``RHip`` / ``LShoulder`` / ``r_hip`` / ``Right Hip`` -> ``right_hip``; ``MidHip`` -> ``mid_hip``."""
    name = re.sub(r"^([LR])(?=[A-Z])", lambda m: {"L": "left_", "R": "right_"}[m.group(1)], name.strip())
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    name = re.sub(r"[\s\-.]+", "_", name)
    return re.sub(r"^([lr])_", lambda m: {"l": "left_", "r": "right_"}[m.group(1)], name)


def motion_h36m(motion: Motion) -> np.ndarray:
    """A motion's joints as H36M-17, coordinates as stored (units and axes of the file).

    Args:
        motion: A `Motion` (`lift3d.io.motion.read_motion`).

    Returns:
        (t, 17, 3) float64; NaN where a source joint is missing.

    Raises:
        SkeletonMappingError: No skeleton with an H36M mapping has all its joints in the file.
    """
    names = [_snake(n) for n in motion.joint_names]
    best = None
    # the file's own skeleton first (same joints), then the larger ones: BODY_25B's file also holds COCO's joints
    order = sorted(SKELETONS.items(), key=lambda kv: (set(kv[1].joints) != set(names), -kv[1].num_joints))
    for key, skeleton in order:
        if key not in H36M_MAPPINGS:
            continue
        missing = [j for j in skeleton.joints if j not in names]
        if not missing:
            cols = [names.index(j) for j in skeleton.joints]
            pts = np.asarray(motion.points, np.float64)[:, cols]
            if key == "h36m":
                return pts
            with np.errstate(invalid="ignore"):
                out, _ = map_to_h36m(pts.astype(np.float32), None, skeleton)
            # map in float32 (jax's default), then restore the float64 of the limb joints taken as they are
            out = np.asarray(out, np.float64)
            for i, j in enumerate(H36M_17.joints):
                if j in skeleton.joints:
                    out[:, i] = pts[:, skeleton.index(j)]
            return out
        if best is None or len(missing) < len(best[1]):
            best = (key, missing)
    assert best is not None
    raise SkeletonMappingError(
        f"{motion.source or 'motion'}: joints {', '.join(motion.joint_names[:6])}... cannot be mapped to H36M-17; "
        f"the closest skeleton, {best[0]!r}, lacks {', '.join(best[1])}"
    )


def _vertical(points: np.ndarray) -> int | None:
    """Axis (1 = y, 2 = z) along which the body stands, or None when unclear."""
    j = H36M_17.index
    d = points[:, j("thorax")] - 0.5 * (points[:, j("left_ankle")] + points[:, j("right_ankle")])
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    med = np.nanmedian(d, axis=0)
    if not np.all(np.isfinite(med)) or np.linalg.norm(med) == 0:
        return None
    med = med / np.linalg.norm(med)
    axis = int(np.argmax(med))
    return axis if axis in (1, 2) and med[axis] > np.cos(np.deg2rad(35.0)) else None


def motion_world(motion: Motion, *, up: str = "auto") -> np.ndarray:
    """A motion as H36M-17 joints in metres and a Z-up world (the vertical axis as the module docstring says).

    Args:
        motion: The motion.
        up: "auto" (the file's record, else the body's), "z" or "y" (the file's vertical axis).

    Returns:
        (t, 17, 3) float64 metres, Z-up; NaN where missing.

    Raises:
        SkeletonMappingError: The joints cannot be mapped to H36M-17.
        TrainingDataError: The vertical axis is neither recorded, given nor clear from the body.
    """
    pts = motion_h36m(motion) * UNITS[motion.units]
    y_up = motion.y_up
    if y_up is None and up in ("y", "z"):
        y_up = up == "y"
    if y_up is None:
        axis = _vertical(pts)
        if axis is None:
            raise TrainingDataError(
                f"{motion.source or 'motion'}: the file does not record its vertical axis and the body does not "
                "show it (no standing frames along +Y or +Z): give it (up='z' or 'y', `--up` on the command line)"
            )
        y_up = axis == 1
    return yup_to_zup(pts) if y_up else pts


def read_motions(path: str | os.PathLike, *, up: str = "auto") -> dict[str, np.ndarray]:
    """Every motion file at `path` as H36M-17, metres, Z-up (see `motion_world`).

    Args:
        path: A motion file or a folder of them.
        up: As `motion_world`.

    Returns:
        File stem -> (t, 17, 3) float64 (a file of several people: one entry per file as written by
        ``lift3d triangulate``, which writes one file per person).

    Raises:
        TrainingDataError: No motion file at `path`, or one that cannot be used (named).
        MotionFileError: A malformed file.
    """
    files = motion_files(path)
    if not files:
        raise TrainingDataError(f"{os.fspath(path)}: no motion file (.trc, .c3d, .csv, .npz) to train on")
    out = {}
    for f in files:
        pts = motion_world(read_motion(f), up=up)
        if not complete_frames(pts).any():
            raise TrainingDataError(f"{f}: no frame has all 17 H36M joints; nothing to train on")
        out[f.stem] = pts
    return out


def complete_frames(points: np.ndarray) -> np.ndarray:
    """(t,) whether every joint of a frame of (t, 17, 3) points is finite."""
    return np.all(np.isfinite(points), axis=(-2, -1))


def split_frames(points: np.ndarray, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The first ``1 - test_fraction`` of a take's frames for training, the rest (at least one frame) for testing.

    A contiguous tail is held out, not every n-th frame: neighbouring frames are near copies of each other.
    """
    n_test = max(1, int(round(len(points) * test_fraction))) if test_fraction > 0 else 0
    n_test = min(n_test, len(points) - 1) if len(points) > 1 else 0
    return points[: len(points) - n_test], points[len(points) - n_test :]


def virtual_cameras(
    points_m: np.ndarray, rng: np.random.Generator, ranges: CameraRanges = CameraRanges()
) -> tuple[np.ndarray, np.ndarray]:
    """Virtual cameras around each frame of a motion (see the module docstring).

    Args:
        points_m: (t, 17, 3) H36M-17 joints, metres, Z-up, complete.
        rng: Random generator.
        ranges: Where the cameras stand.

    Returns:
        ``(R (t, v, 3, 3), t (t, v, 3))``: world->camera rotations and translations (metres), OpenCV frame.
    """
    t, v = len(points_m), ranges.num_views
    j = H36M_17.index
    ankles = points_m[:, [j("left_ankle"), j("right_ankle")], 2]
    floor = float(np.nanpercentile(ankles, 2)) if np.isfinite(ankles).any() else 0.0
    pelvis = points_m[:, H36M_17.root]
    azimuth = rng.uniform(0, 2 * np.pi, (t, v))
    lo, hi = ranges.distances_m
    dist = np.exp(rng.uniform(np.log(lo), np.log(hi), (t, v)))
    height = floor + rng.uniform(*ranges.heights_m, (t, v))
    eye = np.stack(
        [pelvis[:, None, 0] + dist * np.cos(azimuth), pelvis[:, None, 1] + dist * np.sin(azimuth), height], -1
    )
    target = pelvis[:, None] + rng.uniform(-ranges.aim_jitter_m, ranges.aim_jitter_m, (t, v, 3))
    R = look_at_matrices(eye, target)
    return R, -np.einsum("tvab,tvb->tva", R, eye)


def rig_views(rig: Rig, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A rig's own cameras for every frame, in metres (the motion and the rig share the rig's Z-up world).

    Args:
        rig: The rig the motion was triangulated with.
        num_frames: t.

    Returns:
        ``(R (t, v, 3, 3), t (t, v, 3))``, translations in metres.
    """
    R = np.asarray(rig.cameras.R, np.float64)
    tv = np.asarray(rig.cameras.t, np.float64) * UNITS[rig.units]
    return np.broadcast_to(R, (num_frames, *R.shape)), np.broadcast_to(tv, (num_frames, *tv.shape))


def camera_frame(points_m: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joints seen by each camera, and the world's up in each camera frame.

    Args:
        points_m: (t, j, 3) world joints, metres, Z-up.
        R: (t, v, 3, 3) world->camera rotations.
        t: (t, v, 3) translations, metres.

    Returns:
        ``(points (t * v, j, 3) mm in the camera frame, up (t * v, 3))``, frame-major.
    """
    cam = np.einsum("tvab,tjb->tvja", R, points_m) + t[:, :, None]
    up = R[..., :, 2]
    return (cam * 1000.0).reshape(-1, *points_m.shape[1:]), up.reshape(-1, 3)

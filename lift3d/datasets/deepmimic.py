"""DeepMimic's humanoid motion-capture clips: reading, forward kinematics, H36M-17 joints.

The clips (``humanoid3d_<name>.txt``) and the humanoid's body (``humanoid.urdf``) come from the pybullet 3.2.7
wheel (`lift3d.datasets.samples.fetch_deepmimic`, ``lift3d fetch deepmimic``; zlib licence). They are *real*
human motion (motion capture retargeted by DeepMimic's authors to their humanoid), which lets the lifter be
trained and validated on people the synthetic twin never made.

Clip file (JSON): ``{"Loop": "wrap" | "none", "Frames": [[...44 numbers...], ...]}``; each frame is

====================  ======  ===================================================================
field                 size    meaning
====================  ======  ===================================================================
duration              1       seconds until the next frame
root position         3       metres, world (DeepMimic's Y-up)
root rotation         4       quaternion (w, x, y, z), world
chest, neck           4 + 4   quaternions (w, x, y, z), each relative to its parent link
right hip             4       quaternion
right knee            1       radians about the joint's axis (URDF ``<axis>``, z)
right ankle           4       quaternion
right shoulder        4       quaternion
right elbow           1       radians
left hip ... elbow    14      as the right side
====================  ======  ===================================================================

Body: the URDF's joint origins are the link offsets, in units 4x the clips' metres (pybullet's DeepMimic
environment loads it with ``globalScaling=0.25``; the clips' standing pelvis height, 0.85 m, matches thigh +
shin + foot at that scale), so `read_urdf` scales them by `URDF_SCALE`. Link axes (DeepMimic's body frame):
x forward, y up, z to the body's right. The joint origins carry no rotation (``rpy = 0``), so forward
kinematics is BVH's rule (`lift3d.geometry.kinematics.forward_kinematics`): a link's world rotation is its
parent's times its own, its origin the parent's origin plus the parent's rotation applied to its offset.

World axes: DeepMimic's world is Y-up; `clip_motion` converts it once with `lift3d.core.motion.yup_to_zup`,
the cyclic (x, y, z) -> (z, x, y) with which lift3d reads Y-up TRC: lift3d's Z-up world has X = DeepMimic's z,
Y = DeepMimic's x, Z = DeepMimic's y (up). Floor: z = 0.

H36M-17 from DeepMimic's 15 links (`to_h36m`): pelvis = root; hips, knees, ankles, shoulders, elbows, wrists
= the links of those names; the rest is derived openly, each by one rule:

- spine = the chest joint (0.24 m above the root, where H36M's spine is, 0.23 m above the pelvis in the
  twin's H36M proportions; a midpoint of root and chest would sit 0.12 m too low);
- thorax = the neck joint (base of the neck, 0.46 m above the root, 2 cm below the shoulders; H36M's thorax is
  0.49 m above the pelvis);
- neck_nose and head: DeepMimic has a sphere for a head (centre 0.175 m above the neck joint, radius 0.1025 m)
  and no face; they are placed in the neck link's frame at the twin's H36M offsets from the thorax,
  `NECK_NOSE_OFFSET_M` (6 cm forward, 10.5 cm up: inside the sphere, at the chin / nose) and
  `HEAD_OFFSET_M` (9 cm forward, 21.6 cm up: on the sphere, at its top-front, as H36M's head is).

DeepMimic's proportions are its own: hips 17 cm apart (H36M 26 cm), shoulders 37 cm (H36M 30 cm), thigh
0.42 m and shin 0.41 m (H36M 0.44 and 0.45). Compare like with like.

Split (`TRAIN_CLIPS`, `VALIDATION_CLIPS`): whole families are held out so that validation is motion never
trained on, not a neighbour of it: locomotion (walk, run) and dance (dance_a, dance_b), plus the cartwheel
(upside down and sideways, unlike any other clip). Training: backflip, crawl, getup_facedown, getup_faceup,
jump, kick, punch, roll, spin, spinkick.
"""

from __future__ import annotations

import dataclasses
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from lift3d.core.motion import Motion, yup_to_zup
from lift3d.core.skeleton import H36M_17
from lift3d.datasets.samples import DEEPMIMIC_CLIPS, cached_model_files
from lift3d.errors import MotionFileError
from lift3d.geometry.kinematics import axis_angle_matrices, forward_kinematics, quaternion_matrices

__all__ = [
    "DEEPMIMIC_JOINTS", "CLIPS", "TRAIN_CLIPS", "VALIDATION_CLIPS", "URDF_SCALE", "FRAME_SIZE",
    "NECK_NOSE_OFFSET_M", "HEAD_OFFSET_M",
    "DeepMimicBody", "DeepMimicClip", "read_urdf", "read_clip", "clip_kinematics", "to_h36m", "clip_motion",
    "is_deepmimic_folder", "deepmimic_folder", "load_clips",
]  # fmt: skip

DEEPMIMIC_JOINTS = (
    "root", "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
    "right_wrist", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip
"""DeepMimic's humanoid links (the URDF's names), parents before children."""

# The rotations of a frame after duration (1), root position (3) and root rotation (4): (link, numbers).
_FRAME_LAYOUT = (
    ("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4), ("right_shoulder", 4),
    ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4), ("left_shoulder", 4),
    ("left_elbow", 1),
)  # fmt: skip
FRAME_SIZE = 8 + sum(n for _, n in _FRAME_LAYOUT)
"""Numbers per frame: 44."""

CLIPS = DEEPMIMIC_CLIPS
VALIDATION_CLIPS = ("cartwheel", "dance_a", "dance_b", "run", "walk")
TRAIN_CLIPS = tuple(c for c in CLIPS if c not in VALIDATION_CLIPS)
URDF_SCALE = 0.25
"""Metres per URDF unit (pybullet's DeepMimic environment loads the humanoid with ``globalScaling=0.25``)."""
NECK_NOSE_OFFSET_M = (0.060, 0.105, 0.0)
"""H36M's neck_nose in DeepMimic's neck link frame (x forward, y up, z right), metres from the neck joint."""
HEAD_OFFSET_M = (0.090, 0.216, 0.0)
"""H36M's head in the neck link frame, metres from the neck joint."""

_TYPES = {"spherical": 4, "revolute": 1, "fixed": 0}  # numbers per frame of each joint type


@dataclasses.dataclass(frozen=True, eq=False)
class DeepMimicBody:
    """The humanoid's links (`DEEPMIMIC_JOINTS` order).

    Attributes:
        parents: (15,) parent index of each link, -1 for the root.
        offsets: (15, 3) each link's origin in its parent's frame, metres (DeepMimic axes).
        kinds: per link "root", "spherical", "revolute" or "fixed".
        axes: (15, 3) rotation axis of each revolute link (zeros for the others).
        source: The URDF read.
    """

    parents: tuple[int, ...]
    offsets: np.ndarray
    kinds: tuple[str, ...]
    axes: np.ndarray
    source: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class DeepMimicClip:
    """One clip as stored.

    Attributes:
        name: Clip name (file stem without ``humanoid3d_``).
        loop: "wrap" (cyclic) or "none".
        frames: (t, 44) float64 numbers as in the file (see the module docstring).
        source: The file read.
    """

    name: str
    loop: str
    frames: np.ndarray
    source: str = ""

    @property
    def durations(self) -> np.ndarray:
        """(t,) seconds from each frame to the next."""
        return self.frames[:, 0]

    @property
    def root_position(self) -> np.ndarray:
        """(t, 3) root position, metres, DeepMimic's Y-up world."""
        return self.frames[:, 1:4]

    @property
    def root_rotation(self) -> np.ndarray:
        """(t, 4) root quaternion (w, x, y, z)."""
        return self.frames[:, 4:8]


def _urdf_error(path, problem: str) -> MotionFileError:
    return MotionFileError(f"{os.fspath(path)}: {problem}")


def _floats(text: str | None, n: int, path, what: str) -> np.ndarray:
    try:
        values = np.array([float(v) for v in (text or "").split()], np.float64)
    except ValueError:
        raise _urdf_error(path, f"{what}: expected {n} numbers, got {text!r}") from None
    if values.shape != (n,) or not np.all(np.isfinite(values)):
        raise _urdf_error(path, f"{what}: expected {n} finite numbers, got {text!r}")
    return values


def read_urdf(path: str | os.PathLike, *, scale: float = URDF_SCALE) -> DeepMimicBody:
    """Read DeepMimic's ``humanoid.urdf``: the link tree, offsets and joint kinds.

    Args:
        path: The URDF (pybullet's ``pybullet_data/humanoid/humanoid.urdf``).
        scale: Metres per URDF unit (`URDF_SCALE`).

    Returns:
        The `DeepMimicBody`, offsets in metres.

    Raises:
        MotionFileError: Not XML, a link of `DEEPMIMIC_JOINTS` missing, a joint of another kind or parent
            than DeepMimic's, or a joint origin with a rotation (the message names the file and joint).
    """
    try:  # pybullet's copy ends with a NUL byte after </robot>: trailing NULs and blanks are dropped
        root = ET.fromstring(Path(path).read_bytes().rstrip(b"\x00\r\n\t "))
    except (ET.ParseError, OSError) as exc:
        raise _urdf_error(path, f"not a readable URDF ({exc})") from None
    joints = {}
    for joint in root.iter("joint"):
        parent, child = joint.find("parent"), joint.find("child")
        if parent is None or child is None:
            raise _urdf_error(path, f"joint {joint.get('name')!r} lacks <parent> or <child>")
        joints[child.get("link")] = joint
    index = {name: i for i, name in enumerate(DEEPMIMIC_JOINTS)}
    parents, kinds = [-1], ["root"]
    offsets, axes = np.zeros((len(DEEPMIMIC_JOINTS), 3)), np.zeros((len(DEEPMIMIC_JOINTS), 3))
    for i, name in enumerate(DEEPMIMIC_JOINTS[1:], start=1):
        joint = joints.get(name)
        if joint is None:
            raise _urdf_error(path, f"no joint whose child link is {name!r} (not DeepMimic's humanoid)")
        parent = joint.find("parent").get("link")  # type: ignore[union-attr]
        if index.get(parent, i) >= i:
            raise _urdf_error(path, f"joint {name!r}: parent link {parent!r} is not one of DeepMimic's before it")
        kind = joint.get("type", "")
        expected = (
            "revolute" if name.endswith(("knee", "elbow")) else "fixed" if name.endswith("wrist") else "spherical"
        )
        if kind != expected:
            raise _urdf_error(path, f"joint {name!r}: type {kind!r}, DeepMimic's is {expected!r}")
        origin = joint.find("origin")
        xyz = np.zeros(3) if origin is None else _floats(origin.get("xyz", "0 0 0"), 3, path, f"joint {name!r} xyz")
        rpy = np.zeros(3) if origin is None else _floats(origin.get("rpy", "0 0 0"), 3, path, f"joint {name!r} rpy")
        if np.any(rpy != 0):
            raise _urdf_error(path, f"joint {name!r}: a rotated joint origin (rpy {rpy.tolist()}) is not supported")
        if kind == "revolute":
            axis = joint.find("axis")
            axes[i] = _floats(None if axis is None else axis.get("xyz"), 3, path, f"joint {name!r} axis")
            if np.linalg.norm(axes[i]) == 0:
                raise _urdf_error(path, f"joint {name!r}: zero rotation axis")
        parents.append(index[parent])
        kinds.append(kind)
        offsets[i] = xyz * scale
    return DeepMimicBody(tuple(parents), offsets, tuple(kinds), axes, os.fspath(path))


def read_clip(path: str | os.PathLike) -> DeepMimicClip:
    """Read one DeepMimic clip (JSON, see the module docstring).

    Args:
        path: ``humanoid3d_<name>.txt``.

    Returns:
        The `DeepMimicClip` (numbers as stored).

    Raises:
        MotionFileError: Not JSON, no ``Frames`` list, a frame without 44 finite numbers, a duration <= 0, or a
            zero quaternion (the message names the file, frame and field).
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MotionFileError(f"{os.fspath(path)}: not a DeepMimic clip ({exc})") from None
    frames = doc.get("Frames") if isinstance(doc, dict) else None
    if not isinstance(frames, list) or not frames:
        raise MotionFileError(f"{os.fspath(path)}: field 'Frames': expected a non-empty list of frames")
    rows = []
    for t, frame in enumerate(frames):
        ok = isinstance(frame, list) and len(frame) == FRAME_SIZE
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in frame)
        if not ok:
            raise MotionFileError(f"{os.fspath(path)}: frame {t}: expected {FRAME_SIZE} numbers")
        rows.append(frame)
    data = np.asarray(rows, np.float64)
    bad = np.argwhere(~np.isfinite(data))
    if len(bad):
        raise MotionFileError(f"{os.fspath(path)}: frame {bad[0][0]}: number {bad[0][1]} is not finite")
    if np.any(data[:, 0] <= 0):
        t = int(np.argmax(data[:, 0] <= 0))
        last = t == len(data) - 1  # DeepMimic's last frame ends the clip; its duration is never used
        if not last or np.any(data[:-1, 0] <= 0):
            raise MotionFileError(f"{os.fspath(path)}: frame {t}: field 'duration' must be > 0")
    for field, (start, stop) in _quaternion_fields().items():
        norms = np.linalg.norm(data[:, start:stop], axis=1)
        if np.any(norms < 1e-6):
            t = int(np.argmax(norms < 1e-6))
            raise MotionFileError(f"{os.fspath(path)}: frame {t}: field {field!r}: zero quaternion")
    name = Path(path).stem.removeprefix("humanoid3d_")
    return DeepMimicClip(name, str(doc.get("Loop", "none")), data, os.fspath(path))


def _quaternion_fields() -> dict[str, tuple[int, int]]:
    fields, start = {"root": (4, 8)}, 8
    for name, n in _FRAME_LAYOUT:
        if n == 4:
            fields[name] = (start, start + 4)
        start += n
    return fields


def clip_kinematics(clip: DeepMimicClip, body: DeepMimicBody) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of a clip: every link's origin and rotation in DeepMimic's world.

    Args:
        clip: The clip.
        body: The humanoid (`read_urdf`).

    Returns:
        ``(positions (t, 15, 3) metres, rotations (t, 15, 3, 3))``, Y-up, links in `DEEPMIMIC_JOINTS` order.
    """
    t, k = len(clip.frames), len(DEEPMIMIC_JOINTS)
    local = np.broadcast_to(np.eye(3), (t, k, 3, 3)).copy()
    local[:, 0] = quaternion_matrices(clip.root_rotation)
    start = 8
    for name, n in _FRAME_LAYOUT:
        i = DEEPMIMIC_JOINTS.index(name)
        values = clip.frames[:, start : start + n]
        local[:, i] = quaternion_matrices(values) if n == 4 else axis_angle_matrices(body.axes[i], values[:, 0])
        start += n
    return forward_kinematics(body.parents, body.offsets, local, clip.root_position)


def to_h36m(positions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """H36M-17 joints from DeepMimic's links (the rules of the module docstring).

    Args:
        positions: (..., 15, 3) link origins (`clip_kinematics`), metres.
        rotations: (..., 15, 3, 3) link rotations.

    Returns:
        (..., 17, 3) H36M-17 joints, metres, in the axes of `positions`.
    """
    idx = {name: i for i, name in enumerate(DEEPMIMIC_JOINTS)}
    neck, neck_rot = positions[..., idx["neck"], :], rotations[..., idx["neck"], :, :]
    derived = {
        "pelvis": positions[..., idx["root"], :],
        "spine": positions[..., idx["chest"], :],
        "thorax": neck,
        "neck_nose": neck + neck_rot @ np.asarray(NECK_NOSE_OFFSET_M),
        "head": neck + neck_rot @ np.asarray(HEAD_OFFSET_M),
    }
    return np.stack([derived[j] if j in derived else positions[..., idx[j], :] for j in H36M_17.joints], axis=-2)


def clip_motion(clip: DeepMimicClip, body: DeepMimicBody) -> Motion:
    """A clip as a lift3d `Motion`: H36M-17 joints, metres, lift3d's Z-up world (floor z = 0).

    Args:
        clip: The clip.
        body: The humanoid.

    Returns:
        The `Motion` (``y_up=False``; ``fps`` = 1 / the median frame duration; ``time`` = the cumulated durations).
    """
    pos, rot = clip_kinematics(clip, body)
    points = yup_to_zup(to_h36m(pos, rot))
    durations = clip.durations[:-1] if len(clip.frames) > 1 else clip.durations
    time = np.concatenate([[0.0], np.cumsum(clip.durations[:-1])])
    return Motion(points=points, joint_names=H36M_17.joints, fps=float(1.0 / np.median(durations)), units="m",
                  frame_ids=np.arange(len(points), dtype=np.int64), time=time, y_up=False,
                  source=clip.source)  # fmt: skip


def is_deepmimic_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder laid out as `fetch_deepmimic` leaves it (``motions/humanoid3d_*.txt`` and
    ``humanoid.urdf``)."""
    path = Path(path)
    return path.is_dir() and (path / "humanoid.urdf").is_file() and any((path / "motions").glob("humanoid3d_*.txt"))


def deepmimic_folder(path: str | os.PathLike | None = None) -> Path:
    """The DeepMimic folder: `path` itself, or the fetched one in the cache when `path` is None or "deepmimic".

    Raises:
        MotionFileError: `path` is not such a folder, or nothing was fetched (says to run ``lift3d fetch
            deepmimic``).
    """
    if path is None or os.fspath(path) == "deepmimic":
        folder = cached_model_files("deepmimic")
        if folder is None:
            raise MotionFileError(
                "DeepMimic's clips are not in the cache: run `lift3d fetch deepmimic` (pybullet 3.2.7 wheel, 103 MB)"
            )
        return folder
    if not is_deepmimic_folder(path):
        raise MotionFileError(f"{os.fspath(path)}: not a DeepMimic folder (expected motions/humanoid3d_*.txt and "
                              "humanoid.urdf, as `lift3d fetch deepmimic` leaves them)")  # fmt: skip
    return Path(path)


def load_clips(folder: str | os.PathLike | None = None, clips: tuple[str, ...] | None = None) -> dict[str, Motion]:
    """Read clips of a DeepMimic folder as H36M-17 `Motion`s (metres, Z-up).

    Args:
        folder: A folder from `fetch_deepmimic` (None or "deepmimic": the cache's).
        clips: Clip names (default: every ``humanoid3d_*.txt`` of the folder, sorted).

    Returns:
        Clip name -> `Motion`.

    Raises:
        MotionFileError: No such folder or clip, or a malformed file.
    """
    root = deepmimic_folder(folder)
    body = read_urdf(root / "humanoid.urdf")
    if clips is None:
        clips = tuple(sorted(p.stem.removeprefix("humanoid3d_") for p in (root / "motions").glob("humanoid3d_*.txt")))
    out = {}
    for name in clips:
        path = root / "motions" / f"humanoid3d_{name}.txt"
        if not path.is_file():
            raise MotionFileError(f"{path}: no such DeepMimic clip (clips: {', '.join(CLIPS)})")
        out[name] = clip_motion(read_clip(path), body)
    return out

"""Keypoint skeletons (joint names, bones, left/right pairs) and their mapping to Human3.6M-17.

Every module of the project refers to joints by name through a `Skeleton`
(`skeleton.index("left_hip")`), never by a bare index. Joint names are snake_case and lateral
joints always start with ``left_`` / ``right_`` so that left/right pairs can be found by name.

Skeletons (registry key, constant, joints):

================  ================  ======  =====================================================
key               constant          joints  source
================  ================  ======  =====================================================
``h36m``          `H36M_17`         17      Human3.6M, the usual 17 of its 32 raw joints
``coco``          `COCO_17`         17      MS-COCO keypoints
``body_25``       `BODY_25`         25      OpenPose BODY_25
``body_25b``      `BODY_25B`        25      OpenPose experimental BODY_25B (Pose2Sim's default)
``halpe_26``      `HALPE_26`        26      Halpe full-body, body part (AlphaPose, RTMPose)
``blazepose``     `BLAZEPOSE_33`    33      MediaPipe Pose / BlazePose landmarks
================  ================  ======  =====================================================

Also `OPENPOSE_COCO_18` (key ``coco_18``): OpenPose's 18-joint COCO model, MS-COCO-17 plus ``neck``, found by
`get_skeleton` but not in `SKELETONS` (it has no H36M mapping of its own).

Naming notes: OpenPose ``Neck`` / ``MidHip`` / ``UpperNeck`` / ``HeadTop`` become ``neck``,
``mid_hip``, ``upper_neck``, ``head_top``; Halpe ``head`` / ``neck`` / ``hip`` become
``head_top``, ``neck``, ``mid_hip``; MediaPipe ``mouth_left`` / ``mouth_right`` become
``left_mouth`` / ``right_mouth`` (so that every lateral joint starts with ``left_``/``right_``).
Index orders are exactly those of the original formats.

Mapping to H36M-17
------------------
`to_h36m_weights` turns the per-skeleton dictionaries of `H36M_MAPPINGS` into a (17, J) matrix
whose rows sum to 1: each H36M joint is an affine (here convex) combination of source joints.
`map_to_h36m` applies it and masks: an H36M joint is valid only if all its source joints are.

The 12 limb joints (hips, knees, ankles, shoulders, elbows, wrists) are taken directly from the
joint of the same name. The five others are derived, identically for all skeletons except head:

===========  ========================================================  =====================
H36M joint   derivation                                                 kind
===========  ========================================================  =====================
pelvis       mid-hips: 0.5 left_hip + 0.5 right_hip                     approximation
spine        mid-point of mid-hips and mid-shoulders (0.25 each of     approximation
             left/right hip and left/right shoulder)
thorax       mid-shoulders: 0.5 left_shoulder + 0.5 right_shoulder      approximation
neck_nose    nose                                                       approximation
head         head_top (BODY_25B, HALPE_26); mid-ears otherwise          approximation
             (COCO_17, BODY_25, BLAZEPOSE_33)
===========  ========================================================  =====================

What is approximate, and by how much: detector hips (COCO-style annotation, on the skin near the
greater trochanter) sit a few cm lateral of and above/below H36M's hip joint centres, so pelvis and
hips carry a systematic offset; H36M's spine marker is a point on the back, not exactly halfway
between pelvis and thorax; H36M's thorax sits at the base of the neck, slightly above the line
between the shoulders; H36M's neck_nose is between chin and nose; H36M's head lies at the top-front
of the head, close to but not identical with a detector's head_top, and several cm above the
mid-ears used when no head_top exists. ``mid_hip`` / ``neck`` of BODY_25 and HALPE_26 are not used
(mid-hips and mid-shoulders from the lateral joints keep the definition the same across skeletons).
Anything trained or evaluated on mapped joints inherits these offsets; compare like with like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from lift3d.geometry.lazy_jax import jax, jnp

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = [
    "Skeleton",
    "H36M_17",
    "COCO_17",
    "BODY_25",
    "BODY_25B",
    "HALPE_26",
    "BLAZEPOSE_33",
    "OPENPOSE_COCO_18",
    "H36M_17_FROM_32",
    "SKELETONS",
    "H36M_MAPPINGS",
    "get_skeleton",
    "to_h36m_weights",
    "map_to_h36m",
]


@dataclass(frozen=True)
class Skeleton:
    """A keypoint layout: ordered joint names, bones and left/right pairs.

    Instances are immutable and hashable, so they can be passed as static arguments to `jax.jit`.

    Attributes:
        name: Registry key, e.g. ``"body_25b"``; used in error messages.
        joints: Joint names in the format's index order.
        edges: Bones as (joint index, joint index) pairs, for drawing and bone lengths. May
            contain cycles (e.g. the torso quadrilateral of COCO) when ``root`` is None.
        left_right: (left index, right index) pairs of mirror-symmetric joints.
        root: Index of the joint from which `parents` is derived, or None when the format has no
            natural root (no central joint); then `parents` is None.
    """

    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    left_right: tuple[tuple[int, int], ...]
    root: int | None = None

    def __post_init__(self) -> None:
        n = len(self.joints)
        if len(set(self.joints)) != n:
            raise ValueError(f"skeleton {self.name!r}: joint names are not unique")
        for a, b in (*self.edges, *self.left_right):
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"skeleton {self.name!r}: bad joint pair ({a}, {b}) for {n} joints")
        if self.root is not None and not 0 <= self.root < n:
            raise ValueError(f"skeleton {self.name!r}: root {self.root} out of range")

    def __repr__(self) -> str:
        return f"Skeleton({self.name!r}, {self.num_joints} joints)"

    def __contains__(self, joint: object) -> bool:
        return joint in self.joints

    @property
    def num_joints(self) -> int:
        """Number of joints J."""
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Index of a joint.

        Args:
            joint: Joint name, e.g. ``"left_hip"``.

        Returns:
            Its position in `joints`.

        Raises:
            KeyError: If the skeleton has no such joint; the message names the skeleton and lists
                the valid names.
        """
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(
                f"skeleton {self.name!r} has no joint {joint!r}; valid names: {', '.join(self.joints)}"
            ) from None

    def indices(self, joints: Iterable[str]) -> np.ndarray:
        """Indices of several joints, usable to index numpy or jax arrays.

        Args:
            joints: Joint names (an iterable of strings, not a single string).

        Returns:
            Integer array of shape (len(joints),).

        Raises:
            KeyError: If a name is unknown (see `index`).
            TypeError: If `joints` is a single string.
        """
        if isinstance(joints, str):
            raise TypeError("indices() takes an iterable of joint names; use index() for one name")
        return np.array([self.index(j) for j in joints], dtype=np.intp)

    def flip_permutation(self) -> np.ndarray:
        """Permutation that swaps left and right joints.

        ``keypoints[..., skeleton.flip_permutation(), :]`` relabels every left joint as right and
        vice versa (joints without a side stay put). Combine with negating the horizontal
        coordinate for flip augmentation, or use alone to repair a left/right swap. The permutation
        is its own inverse.

        Returns:
            Integer array of shape (J,).
        """
        perm = np.arange(self.num_joints, dtype=np.intp)
        for left, right in self.left_right:
            perm[left], perm[right] = right, left
        return perm

    @property
    def parents(self) -> tuple[int, ...] | None:
        """Parent index of each joint (-1 for the root), or None if the skeleton has no root.

        Derived by breadth-first search over `edges` from `root`; for a tree (such as H36M-17)
        this is the unique kinematic tree. Joints unreachable from the root get -1.
        """
        if self.root is None:
            return None
        neighbours: list[list[int]] = [[] for _ in self.joints]
        for a, b in self.edges:
            neighbours[a].append(b)
            neighbours[b].append(a)
        parents = [-1] * self.num_joints
        seen = {self.root}
        queue = [self.root]
        for joint in queue:  # the list grows while iterating: a BFS queue
            for nb in neighbours[joint]:
                if nb not in seen:
                    seen.add(nb)
                    parents[nb] = joint
                    queue.append(nb)
        return tuple(parents)


def _build(
    name: str, joints: Iterable[str], bones: Iterable[tuple[str, str]], root: str | None = None
) -> Skeleton:
    """Skeleton from joint names and named bones; left/right pairs are found from the names."""
    joints = tuple(joints)
    idx = {j: i for i, j in enumerate(joints)}
    edges = tuple((idx[a], idx[b]) for a, b in bones)
    left_right = tuple(
        (i, idx["right_" + j.removeprefix("left_")]) for i, j in enumerate(joints) if j.startswith("left_")
    )
    if sum(j.startswith("right_") for j in joints) != len(left_right):
        raise ValueError(f"skeleton {name!r}: some right_* joint has no left_* partner")
    return Skeleton(name, joints, edges, left_right, None if root is None else idx[root])


# ---------------------------------------------------------------------------------------------
# H36M-17

_H36M_JOINTS = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip
_H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)

H36M_17_FROM_32: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
"""Indices of the H36M-17 joints among the 32 joints of the raw Human3.6M data, in H36M-17 order."""

H36M_17 = _build(
    "h36m",
    _H36M_JOINTS,
    [(_H36M_JOINTS[p], _H36M_JOINTS[c]) for c, p in enumerate(_H36M_PARENTS) if p >= 0],
    root="pelvis",
)
"""Human3.6M 17 joints; `parents` is the standard kinematic tree rooted at the pelvis."""

# ---------------------------------------------------------------------------------------------
# COCO-17 and the formats that extend it

_COCO_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

_FACE_BONES = [
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
]  # fmt: skip
_ARM_BONES = [
    ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
]  # fmt: skip
_LEG_BONES = [
    ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
]  # fmt: skip
_FOOT_BONES = [
    ("left_ankle", "left_big_toe"), ("left_big_toe", "left_small_toe"), ("left_ankle", "left_heel"),
    ("right_ankle", "right_big_toe"), ("right_big_toe", "right_small_toe"), ("right_ankle", "right_heel"),
]  # fmt: skip
_FEET = ("left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel")

COCO_17 = _build(
    "coco",
    _COCO_JOINTS,
    [
        *_FACE_BONES,
        ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder"),
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
        ("left_hip", "right_hip"),
        *_ARM_BONES, *_LEG_BONES,
    ],
)  # fmt: skip
"""MS-COCO 17 keypoints with the COCO drawing skeleton (has cycles, so no root / parents)."""

BODY_25 = _build(
    "body_25",
    (
        "nose", "neck",
        "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
        "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "right_eye", "left_eye", "right_ear", "left_ear",
        "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
    ),
    [
        ("mid_hip", "neck"), ("neck", "right_shoulder"), ("neck", "left_shoulder"), ("neck", "nose"),
        ("mid_hip", "right_hip"), ("mid_hip", "left_hip"),
        *_FACE_BONES, *_ARM_BONES, *_LEG_BONES, *_FOOT_BONES,
    ],
    root="mid_hip",
)  # fmt: skip
"""OpenPose BODY_25 (OpenPose's own bone pairs: a tree rooted at mid_hip)."""

BODY_25B = _build(
    "body_25b",
    (*_COCO_JOINTS, "upper_neck", "head_top",
     "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"),
    [
        *_FACE_BONES,
        ("upper_neck", "head_top"), ("upper_neck", "nose"),
        ("upper_neck", "left_shoulder"), ("upper_neck", "right_shoulder"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
        *_ARM_BONES, *_LEG_BONES, *_FOOT_BONES,
    ],
)  # fmt: skip
"""OpenPose experimental BODY_25B: COCO-17 order, then upper_neck, head_top and the 6 foot points."""

HALPE_26 = _build(
    "halpe_26",
    (*_COCO_JOINTS, "head_top", "neck", "mid_hip",
     "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel"),
    [
        ("mid_hip", "neck"), ("neck", "head_top"), ("neck", "nose"),
        ("neck", "left_shoulder"), ("neck", "right_shoulder"),
        ("mid_hip", "left_hip"), ("mid_hip", "right_hip"),
        *_FACE_BONES, *_ARM_BONES, *_LEG_BONES, *_FOOT_BONES,
    ],
    root="mid_hip",
)  # fmt: skip
"""Halpe-26 (AlphaPose, RTMPose body8-halpe26): COCO-17, head_top, neck, mid_hip, then the feet
interleaved left/right (big toes, small toes, heels). Bones: AlphaPose's pairs plus neck-nose, so
that they form a tree rooted at mid_hip."""

BLAZEPOSE_33 = _build(
    "blazepose",
    (
        "nose", "left_eye_inner", "left_eye", "left_eye_outer",
        "right_eye_inner", "right_eye", "right_eye_outer", "left_ear", "right_ear",
        "left_mouth", "right_mouth",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
        "left_heel", "right_heel", "left_foot_index", "right_foot_index",
    ),
    [
        ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
        ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"),
        ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"), ("left_mouth", "right_mouth"),
        ("left_shoulder", "right_shoulder"),
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_wrist", "left_pinky"),
        ("left_wrist", "left_index"), ("left_wrist", "left_thumb"), ("left_pinky", "left_index"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("right_wrist", "right_pinky"),
        ("right_wrist", "right_index"), ("right_wrist", "right_thumb"), ("right_pinky", "right_index"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_hip", "right_hip"),
        ("left_hip", "left_knee"), ("right_hip", "right_knee"), ("left_knee", "left_ankle"),
        ("right_knee", "right_ankle"), ("left_ankle", "left_heel"), ("right_ankle", "right_heel"),
        ("left_heel", "left_foot_index"), ("right_heel", "right_foot_index"),
        ("left_ankle", "left_foot_index"), ("right_ankle", "right_foot_index"),
    ],
)  # fmt: skip
"""MediaPipe Pose (BlazePose) 33 landmarks with MediaPipe's POSE_CONNECTIONS (has cycles)."""

SKELETONS: dict[str, Skeleton] = {
    s.name: s for s in (H36M_17, COCO_17, BODY_25, BODY_25B, HALPE_26, BLAZEPOSE_33)
}
"""All skeletons by lower-case key: h36m, coco, body_25, body_25b, halpe_26, blazepose."""

OPENPOSE_COCO_18 = _build(
    "openpose_coco_18",
    ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
     "right_eye", "left_eye", "right_ear", "left_ear"),
    [("neck", "right_shoulder"), ("neck", "left_shoulder"), ("right_shoulder", "right_elbow"),
     ("right_elbow", "right_wrist"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
     ("neck", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
     ("neck", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("neck", "nose"),
     ("nose", "right_eye"), ("right_eye", "right_ear"), ("nose", "left_eye"), ("left_eye", "left_ear")],
    root="neck",
)  # fmt: skip
"""OpenPose's 18-joint COCO model: MS-COCO-17 joints plus ``neck``, in OpenPose order (a tree rooted at the
neck). Found by `get_skeleton` as ``"coco_18"`` (or ``"openpose_coco_18"``) but not listed in `SKELETONS`: it
has no H36M mapping of its own; ``Keypoints2D.remap(COCO_17)`` gives MS-COCO-17 (drops the neck)."""

_ALIASES = {
    "h36m_17": "h36m", "human36m": "h36m", "coco_17": "coco", "body25": "body_25", "body25b": "body_25b",
    "halpe": "halpe_26", "halpe26": "halpe_26", "blazepose_33": "blazepose", "mediapipe": "blazepose",
}  # fmt: skip
_COCO_18_ALIASES = ("coco_18", "coco18", "openpose_coco", "openpose_coco_18")


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """Look up a skeleton by name (case-insensitive; ``-`` and ``_`` equivalent; a few aliases).

    Args:
        name: Registry key such as ``"body_25b"`` or ``"BODY-25B"``, an alias (``"h36m_17"``,
            ``"coco_17"``, ``"halpe"``, ``"mediapipe"``, ...), ``"coco_18"`` (`OPENPOSE_COCO_18`), or a
            `Skeleton`, returned as is.

    Returns:
        The skeleton.

    Raises:
        KeyError: For an unknown name; the message lists the known ones.
    """
    if isinstance(name, Skeleton):
        return name
    key = name.strip().lower().replace("-", "_")
    if key in _COCO_18_ALIASES:
        return OPENPOSE_COCO_18
    key = _ALIASES.get(key, key)
    if key not in SKELETONS:
        raise KeyError(f"unknown skeleton {name!r}; known skeletons: {', '.join(SKELETONS)}")
    return SKELETONS[key]


# ---------------------------------------------------------------------------------------------
# Mapping to H36M-17

_LIMBS = (
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip
_MID_EARS = {"left_ear": 0.5, "right_ear": 0.5}
_HEAD_TOP = {"head_top": 1.0}


def _derived(head: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """H36M mapping shared by all detector skeletons; only the head differs (see module docstring)."""
    return {
        "pelvis": {"left_hip": 0.5, "right_hip": 0.5},
        "spine": {"left_hip": 0.25, "right_hip": 0.25, "left_shoulder": 0.25, "right_shoulder": 0.25},
        "thorax": {"left_shoulder": 0.5, "right_shoulder": 0.5},
        "neck_nose": {"nose": 1.0},
        "head": dict(head),
        **{j: {j: 1.0} for j in _LIMBS},
    }


H36M_MAPPINGS: dict[str, dict[str, dict[str, float]]] = {
    "h36m": {j: {j: 1.0} for j in _H36M_JOINTS},
    "coco": _derived(_MID_EARS),
    "body_25": _derived(_MID_EARS),
    "body_25b": _derived(_HEAD_TOP),
    "halpe_26": _derived(_HEAD_TOP),
    "blazepose": _derived(_MID_EARS),
}
"""Per skeleton key: H36M joint name -> {source joint name: weight}. Weights of a joint sum to 1."""


@cache
def _weights(skeleton: Skeleton) -> np.ndarray:
    if skeleton.name not in H36M_MAPPINGS:
        raise KeyError(
            f"no H36M mapping for skeleton {skeleton.name!r}; mappings exist for: {', '.join(H36M_MAPPINGS)}"
        )
    mapping = H36M_MAPPINGS[skeleton.name]
    weights = np.zeros((H36M_17.num_joints, skeleton.num_joints))
    for row, joint in enumerate(H36M_17.joints):
        if joint not in mapping:
            raise KeyError(f"H36M mapping of skeleton {skeleton.name!r} lacks joint {joint!r}")
        for source, w in mapping[joint].items():
            weights[row, skeleton.index(source)] += w
    if not np.allclose(weights.sum(axis=1), 1.0):
        raise ValueError(f"H36M mapping of skeleton {skeleton.name!r}: weights of a joint must sum to 1")
    weights.flags.writeable = False
    return weights


def to_h36m_weights(skeleton: Skeleton | str) -> np.ndarray:
    """Weights matrix mapping a skeleton's joints to H36M-17.

    ``h36m = weights @ source`` (per coordinate) gives the H36M joints as combinations of the
    source joints; see the module docstring for how each derived joint is defined.

    Args:
        skeleton: A `Skeleton` or registry name.

    Returns:
        Read-only float64 array of shape (17, J) whose rows sum to 1.

    Raises:
        KeyError: If the skeleton is unknown or has no mapping.
    """
    return _weights(get_skeleton(skeleton))


@cache
def _sources(skeleton: Skeleton) -> np.ndarray:
    """(17, K) source indices of each H36M joint, padded by repeating the row's first source."""
    support = _weights(skeleton) != 0
    k = int(support.sum(axis=1).max())
    rows = [np.flatnonzero(s) for s in support]
    return np.stack([np.concatenate([r, np.full(k - len(r), r[0])]) for r in rows]).astype(np.intp)


def map_to_h36m(
    keypoints: ArrayLike, confidence: ArrayLike | None, skeleton: Skeleton | str
) -> tuple[Array, Array]:
    """Map keypoints of any supported skeleton to H36M-17, with masking.

    A source joint is valid when all its coordinates are finite and its confidence is finite and
    > 0 (OpenPose writes undetected joints as 0, 0, 0). An H36M joint is valid only if all its
    source joints are; its confidence is then the minimum of theirs. Invalid joints come out as
    NaN with confidence 0: shapes never depend on the data, so the function is `jit`-able (pass
    the skeleton as a static argument) and works on any leading axes without Python loops.

    Args:
        keypoints: Shape (..., J, D), e.g. D = 2 (pixels) or 3 (world), numpy or jax.
        confidence: Shape (..., J), or None to treat every finite keypoint as valid with
            confidence 1.
        skeleton: Source `Skeleton` or its registry name.

    Returns:
        ``(keypoints_h36m, confidence_h36m)``, shapes (..., 17, D) and (..., 17), jax arrays in
        the floating dtype of `keypoints` (float32 unless jax x64 is enabled).

    Raises:
        ValueError: If the shapes do not match the skeleton.
    """
    skeleton = get_skeleton(skeleton)
    kp = jnp.asarray(keypoints)
    if not jnp.issubdtype(kp.dtype, jnp.floating):
        kp = kp.astype(jnp.result_type(float))
    if kp.ndim < 2 or kp.shape[-2] != skeleton.num_joints:
        raise ValueError(
            f"keypoints of skeleton {skeleton.name!r} must have shape (..., {skeleton.num_joints}, D), "
            f"got {kp.shape}"
        )
    valid = jnp.all(jnp.isfinite(kp), axis=-1)
    if confidence is None:
        conf = jnp.ones(kp.shape[:-1], kp.dtype)
    else:
        conf = jnp.asarray(confidence, dtype=kp.dtype)
        if conf.shape != kp.shape[:-1]:
            raise ValueError(f"confidence must have shape {kp.shape[:-1]}, got {conf.shape}")
        valid = valid & jnp.isfinite(conf) & (conf > 0)
    conf = jnp.where(valid, conf, 0.0)  # > 0 exactly where valid

    # min over each H36M joint's sources (gather; padding repeats a source, leaving the min unchanged)
    out_conf = jnp.min(conf[..., _sources(skeleton)], axis=-1)
    out_valid = out_conf > 0
    weights = jnp.asarray(_weights(skeleton), dtype=kp.dtype)
    out = jnp.einsum(
        "kj,...jd->...kd",
        weights,
        jnp.where(valid[..., None], kp, 0.0),
        precision=jax.lax.Precision.HIGHEST,  # no TF32/bf16 passes on GPU: pixels need full float32
    )
    return jnp.where(out_valid[..., None], out, jnp.nan), out_conf

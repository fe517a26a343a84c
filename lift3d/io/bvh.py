"""Write 3D joint trajectories as a BVH file (Blender, MotionBuilder, animation tools), fitted to the subject.

The hierarchy is a tree derived from the skeleton's bones (`lift3d.core.skeleton.Skeleton.parents`): rooted at
its root joint (the mid-hip / pelvis of BODY_25, HALPE_26, H36M-17), or, for skeletons without one (BODY_25B,
COCO_17, BlazePose), at a virtual joint ``mid_hip`` at the midpoint of ``left_hip`` and ``right_hip``, joined to
both. Bones that would close a cycle (BODY_25B's torso) are not part of the tree.

Fitting (`fit_bvh`, maths in `lift3d.geometry.kinematics`):

- Offsets are constant: each bone's length is the subject's median length over the whole capture, along its rest
  direction, the median of its observed world directions (so the rest pose is the capture's median pose, in the
  file's axes). The root's offset is 0.
- A joint with one child turns by the smallest rotation, in its parent's frame, that takes the child's rest
  direction to its observed direction (swing only: no twist about the bone, which no point measures).
- A joint with several children gets a full frame from two of them (the pair whose rest directions are furthest
  from parallel): the first exactly, the twist from the plane of the second (swing only where the pair is within
  ~12 degrees of parallel). Its children do not keep constant angles between them (the knee and shoulder seen
  from a hip), so each child hangs from its own zero-length joint ``<joint>_to_<child>`` whose rotation (small
  where the children move together) takes it exactly to its observed direction. Every joint of the tree is
  therefore placed exactly, up to the difference between the constant bone lengths and that frame's own.
- Leaf joints keep the identity rotation and end in an ``End Site`` a quarter of their bone's length further
  along their rest direction (for drawing only).
- Root translation: the root's position per frame.
- Missing joints (NaN): a rotation that cannot be measured in a frame (its joint or a child it aims at missing)
  holds the last measured one, or the identity before the first; the root position holds the last valid one
  (the first valid one before it). The BVH therefore has a value everywhere; such frames show a held pose.

Channels: the root ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``, every other joint
``Zrotation Xrotation Yrotation`` (order "ZXY": ``R = Rz @ Rx @ Ry``, intrinsic, degrees, as most BVH files).

Units and axes: BVH has no units field: offsets and positions are written in the motion's units (m or mm);
Blender's BVH importer has a Scale option (0.001 for mm). Axes are the motion's (lift3d's world is Z-up for
Pose2Sim / Qualisys rigs); Blender's importer assumes Y-up by default: write with ``y_up=True`` (``lift3d
triangulate --y-up``) or set the importer's Up axis to Z.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.motion import UNITS, Motion, zup_to_yup
from lift3d.core.skeleton import OPENPOSE_COCO_18, SKELETONS, Skeleton, get_skeleton
from lift3d.geometry.kinematics import (
    forward_kinematics,
    hold_last_valid,
    matrix_to_euler,
    rotation_between,
    rotation_from_two,
)
from lift3d.io.atomic import atomic_write

__all__ = ["BvhFit", "fit_bvh", "write_bvh", "write_bvh_points", "skeleton_for_names", "EULER_ORDER"]

PathLike = str | os.PathLike[str]
EULER_ORDER = "ZXY"
"""Rotation channel order written: ``Zrotation Xrotation Yrotation``, i.e. ``R = Rz @ Rx @ Ry``."""
_VIRTUAL_ROOT = "mid_hip"
_END_SITE = 0.25  # End Site length, as a share of the leaf's bone


@dataclasses.dataclass(frozen=True, eq=False)
class BvhFit:
    """A skeleton fitted to a motion, as written to BVH.

    Attributes:
        names: (k,) BVH joint names, parents before children (depth-first, the file's order).
        parents: (k,) parent of each BVH joint, -1 for the root.
        joints: (k,) index of the motion joint each BVH joint sits on (-1: the virtual root).
        offsets: (k, 3) constant offsets in the parent's frame (motion units).
        end_sites: (k, 3) End Site offset of each leaf (NaN for joints with children).
        rotations: (t, k, 3, 3) local rotations (relative to the parent).
        root_positions: (t, 3) root translation.
        measured: (t, k) whether each rotation was measured in that frame (False: held, see the module docstring).
    """

    names: tuple[str, ...]
    parents: np.ndarray
    joints: np.ndarray
    offsets: np.ndarray
    end_sites: np.ndarray
    rotations: np.ndarray
    root_positions: np.ndarray
    measured: np.ndarray

    def positions(self) -> np.ndarray:
        """(t, k, 3) world positions of the BVH joints by forward kinematics (what a BVH reader computes)."""
        return forward_kinematics(self.parents, self.offsets, self.rotations, self.root_positions)[0]

    def joint_positions(self, num_joints: int) -> np.ndarray:
        """(t, num_joints, 3) fitted positions of the motion's joints (NaN for joints not in the tree)."""
        out = np.full((len(self.root_positions), num_joints, 3), np.nan)
        pos = self.positions()
        for q, j in enumerate(self.joints):
            if j >= 0:
                out[:, j] = pos[:, q]
        return out


def skeleton_for_names(joint_names: Sequence[str]) -> Skeleton:
    """The known skeleton whose joints are exactly `joint_names` (in order), else `ValueError`."""
    names = tuple(joint_names)
    for skeleton in (*SKELETONS.values(), OPENPOSE_COCO_18):
        if skeleton.joints == names:
            return skeleton
    raise ValueError(
        f"BVH needs a skeleton: the joint names {names[:4]}... are not those of a known skeleton "
        f"({', '.join(SKELETONS)}); pass skeleton="
    )


def _tree(skeleton: Skeleton) -> tuple[tuple[int, ...], int]:
    """Parents over the skeleton's joints plus possibly a virtual root (last index), and the root index."""
    if skeleton.root is not None:
        return skeleton.parents, skeleton.root  # type: ignore[return-value]
    if "left_hip" not in skeleton or "right_hip" not in skeleton or _VIRTUAL_ROOT in skeleton:
        raise ValueError(f"skeleton {skeleton.name!r} has no root joint and no left_hip / right_hip to add one")
    n = skeleton.num_joints
    extended = dataclasses.replace(
        skeleton, name=skeleton.name, joints=(*skeleton.joints, _VIRTUAL_ROOT),
        edges=(*skeleton.edges, (n, skeleton.index("left_hip")), (n, skeleton.index("right_hip"))), root=n,
    )  # fmt: skip
    return extended.parents, n  # type: ignore[return-value]


def fit_bvh(points: ArrayLike, skeleton: Skeleton | str, *, min_sin: float = 0.2) -> BvhFit:
    """Fit a BVH skeleton (constant offsets, per-frame rotations, root translation) to joint trajectories.

    See the module docstring for the hierarchy, the rotation conventions and how missing joints are held.

    Args:
        points: (t, j, 3) joints over time in the skeleton's order; NaN where missing.
        skeleton: The skeleton (or its name) the joints follow.
        min_sin: Smallest |sin| of the angle between a joint's two children for their plane to fix its twist.

    Returns:
        The fit.

    Raises:
        ValueError: For points that do not match the skeleton, or a skeleton with neither root nor hips.
    """
    skeleton = get_skeleton(skeleton)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (skeleton.num_joints, 3) or len(pts) == 0:
        raise ValueError(f"fit_bvh: expected points (t, {skeleton.num_joints}, 3) for {skeleton!r}, got {pts.shape}")
    pts = np.where(np.isfinite(pts).all(-1, keepdims=True), pts, np.nan)
    parents, root = _tree(skeleton)
    if root == skeleton.num_joints:  # the virtual root: the midpoint of the hips
        hips = pts[:, skeleton.indices(["left_hip", "right_hip"])]
        pts = np.concatenate([pts, hips.mean(1, keepdims=True)], axis=1)
    names_all = (*skeleton.joints, _VIRTUAL_ROOT)
    children: list[list[int]] = [[] for _ in parents]
    for c, p in enumerate(parents):
        if p >= 0:
            children[p].append(c)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bones never seen: all-NaN medians
        bone = pts - pts[:, np.maximum(parents, 0)]  # (t, j', 3) from each joint's parent
        length = np.nanmedian(np.linalg.norm(bone, axis=-1), axis=0)
        unit = bone / np.linalg.norm(bone, axis=-1, keepdims=True)
        rest = np.nanmedian(unit, axis=0)
    rest_norm = np.linalg.norm(rest, axis=-1, keepdims=True)
    usable = (rest_norm > 1e-9) & np.isfinite(rest_norm)
    rest = np.where(usable, rest / np.where(usable, rest_norm, 1.0), [0.0, 0.0, 1.0])  # never seen: +z
    length = np.where(np.isfinite(length), length, 0.0)

    # BVH joints, depth first: (name, parent node, motion joint, offset)
    nodes: list[tuple[str, int, int, np.ndarray]] = []
    aims: list[tuple[int, ...]] = []  # per node: the nodes whose directions set its rotation
    node_of: dict[int, int] = {}

    def add(j: int, parent: int, offset: np.ndarray) -> None:
        q = len(nodes)
        node_of[j] = q
        nodes.append((names_all[j], parent, j, offset))
        aims.append(())
        kids = children[j]
        if len(kids) == 1:
            add(kids[0], q, length[kids[0]] * rest[kids[0]])
            aims[q] = (node_of[kids[0]],)
            return
        for c in kids:
            d = len(nodes)
            nodes.append((f"{names_all[j]}_to_{names_all[c]}", q, j, np.zeros(3)))
            aims.append(())
            add(c, d, length[c] * rest[c])
            aims[d] = (node_of[c],)
        if len(kids) >= 2:  # the pair furthest from parallel sets the frame
            sins = [(np.linalg.norm(np.cross(rest[a], rest[b])), a, b) for a in kids for b in kids if a < b]
            _, a, b = max(sins)
            aims[q] = (node_of[a], node_of[b])

    add(root, -1, np.zeros(3))
    k = len(nodes)
    par = np.array([n[1] for n in nodes], dtype=np.intp)
    joints = np.array([n[2] for n in nodes], dtype=np.intp)
    offsets = np.stack([n[3] for n in nodes])
    rest_pos = forward_kinematics(par, offsets, np.broadcast_to(np.eye(3), (k, 3, 3)), np.zeros(3))[0]
    obs = pts[:, joints]  # (t, k, 3) observed position of each node

    t = len(pts)
    rot = np.broadcast_to(np.eye(3), (t, k, 3, 3)).copy()
    world = np.empty_like(rot)
    measured = np.zeros((t, k), dtype=bool)
    for q in range(k):
        g_parent = world[:, par[q]] if par[q] >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        if aims[q]:
            to_parent = np.swapaxes(g_parent, -1, -2)
            seen = [np.einsum("tab,tb->ta", to_parent, obs[:, a] - obs[:, q]) for a in aims[q]]
            rest_d = [rest_pos[a] - rest_pos[q] for a in aims[q]]
            if len(seen) == 1:
                r = rotation_between(rest_d[0], seen[0])
            else:
                r = rotation_from_two(rest_d[0], rest_d[1], seen[0], seen[1], min_sin=min_sin)
            measured[:, q] = np.isfinite(r).all((-2, -1))
            rot[:, q] = hold_last_valid(r, measured[:, q], np.eye(3))
        world[:, q] = g_parent @ rot[:, q]

    root_pos = obs[:, 0]
    ok = np.isfinite(root_pos).all(-1)
    first = root_pos[np.argmax(ok)] if ok.any() else np.zeros(3)
    end_sites = np.full((k, 3), np.nan)
    for q in range(k):
        if q not in par:
            j = joints[q]
            end_sites[q] = _END_SITE * length[j] * rest[j] if j != root else np.zeros(3)
    return BvhFit(
        names=tuple(n[0] for n in nodes), parents=par, joints=np.where(joints == skeleton.num_joints, -1, joints),
        offsets=offsets, end_sites=end_sites, rotations=rot, root_positions=hold_last_valid(root_pos, ok, first),
        measured=measured,
    )  # fmt: skip


def _hierarchy(fit: BvhFit, fmt: str) -> list[str]:
    """The HIERARCHY section's lines."""
    axes = " ".join(f"{a}rotation" for a in EULER_ORDER)
    lines: list[str] = ["HIERARCHY"]
    vec = lambda v: " ".join(fmt % x for x in v)  # noqa: E731
    children: list[list[int]] = [[] for _ in fit.names]
    for q, p in enumerate(fit.parents):
        if p >= 0:
            children[p].append(q)

    def emit(q: int, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if q == 0 else 'JOINT'} {fit.names[q]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {vec(fit.offsets[q])}")
        channels = f"6 Xposition Yposition Zposition {axes}" if q == 0 else f"3 {axes}"
        lines.append(f"{pad}  CHANNELS {channels}")
        for c in children[q]:
            emit(c, depth + 1)
        if not children[q]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {vec(fit.end_sites[q])}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    return lines


def write_bvh_points(
    path: PathLike,
    points: ArrayLike,
    joint_names: Sequence[str],
    fps: float,
    units: str = "m",
    *,
    skeleton: Skeleton | str | None = None,
) -> Path:
    """Write joints (t, j, 3) as a fitted BVH file, atomically (see the module docstring).

    Args:
        path: Destination (``.bvh``).
        points: (t, j, 3) coordinates in `units`, in the axes to be written; NaN where missing.
        joint_names: j names; with `skeleton` None they must be those of a known skeleton, in its order.
        fps: Frame rate (Hz); ``Frame Time`` is 1 / fps.
        units: "m" or "mm": the units written (BVH has no units field).
        skeleton: The skeleton the joints follow; default: found from `joint_names`.

    Returns:
        The path written.

    Raises:
        ValueError: For an unknown skeleton, mismatched names, no frame, or a bad frame rate or unit.
    """
    skeleton = skeleton_for_names(joint_names) if skeleton is None else get_skeleton(skeleton)
    if tuple(joint_names) != skeleton.joints:
        raise ValueError(f"BVH: joint names do not match skeleton {skeleton.name!r}")
    if units not in UNITS:
        raise ValueError(f"units must be 'm' or 'mm', got {units!r}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    bad = [n for n in joint_names if re.search(r"\s|[{}]", n)]
    if bad:
        raise ValueError(f"BVH joint names cannot hold spaces or braces: {bad}")
    fit = fit_bvh(points, skeleton)
    fmt = "%.6f" if units == "m" else "%.3f"
    angles = matrix_to_euler(fit.rotations, EULER_ORDER)  # (t, k, 3)
    table = np.concatenate([fit.root_positions, angles.reshape(len(angles), -1)], axis=1)
    row_fmt = " ".join([fmt] * 3 + ["%.6f"] * (table.shape[1] - 3)) + "\n"
    head = [*_hierarchy(fit, fmt), "MOTION", f"Frames: {len(table)}", f"Frame Time: {1.0 / fps:.10g}"]
    with atomic_write(path, newline="\n") as f:
        f.write("\n".join(head) + "\n")
        f.writelines(row_fmt % tuple(row) for row in table.tolist())
    return Path(path)


def write_bvh(path: PathLike, motion: Motion, skeleton: Skeleton | str | None = None, *, y_up: bool = False) -> Path:
    """Write a `Motion` as a fitted BVH file, in the motion's units (see the module docstring).

    Args:
        path: Destination (``.bvh``).
        motion: The joints; its names follow `skeleton`.
        skeleton: The skeleton; default: the known skeleton whose joints are ``motion.joint_names``.
        y_up: Write Y-up axes ((x, y, z) -> (y, z, x), `lift3d.core.motion.zup_to_yup`) from a Z-up motion, as
            Blender's BVH importer expects by default.

    Returns:
        The path written.
    """
    pts = zup_to_yup(motion.points) if y_up else motion.points
    return write_bvh_points(path, pts, motion.joint_names, motion.fps, motion.units, skeleton=skeleton)

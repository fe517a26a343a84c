"""Bone lengths: skeleton trees, per-frame bone lengths, and their consistency over a trajectory.

Trajectories as in `lift3d.geometry.temporal`: time first, ``points`` (t, ..., j, d), NaN = missing. The
skeleton is any object with the `Skeleton` protocol below (`lift3d.core.skeleton.Skeleton` has it; geometry
knows no nouns) or a list of parents.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lift3d.geometry.lazy_jax import is_jax_array, jnp
from lift3d.geometry.temporal import _as_trajectories

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = ["Skeleton", "tree_edges", "bone_pairs", "bone_lengths", "enforce_bone_lengths"]


class Skeleton(Protocol):
    """What the bone functions need of a skeleton: `lift3d.core.skeleton.Skeleton` has it (geometry knows no nouns)."""

    name: str
    edges: tuple[tuple[int, int], ...]
    root: int | None

    @property
    def parents(self) -> tuple[int, ...] | None: ...

    def index(self, joint: str) -> int: ...


def _is_skeleton(obj: Any) -> bool:
    return hasattr(obj, "edges") and hasattr(obj, "parents") and dataclasses.is_dataclass(obj)


def _tree(skeleton: Skeleton | Sequence[int], root: int | str | None) -> tuple[np.ndarray, np.ndarray]:
    """Parent (-1 for roots) and depth of each joint of a Skeleton (optionally re-rooted) or parents list."""
    if _is_skeleton(skeleton):
        if root is not None:
            skeleton = dataclasses.replace(
                skeleton, root=skeleton.index(root) if isinstance(root, str) else root
            )
        if skeleton.parents is None:
            raise ValueError(f"skeleton {skeleton.name!r} has no root, hence no tree; pass root=<joint>")
        parents = np.asarray(skeleton.parents, dtype=np.intp)
    elif root is not None:
        raise ValueError("root= applies to a Skeleton; a parents sequence already defines its tree")
    else:
        parents = np.asarray(skeleton, dtype=np.intp)
        n = parents.size
        if parents.ndim != 1 or ((parents < -1) | (parents >= n) | (parents == np.arange(n))).any():
            raise ValueError(f"parents: expected one index in [-1, {n}) per joint, not itself, got {parents}")
    depth = np.where(parents == -1, 0, -1)
    for _ in range(parents.size):  # a joint's depth follows from its parent's: at most j sweeps
        todo = (depth < 0) & (depth[parents] >= 0)
        depth[todo] = depth[parents[todo]] + 1
    if (depth < 0).any():  # never for a Skeleton: its BFS parents form a forest
        raise ValueError(f"parents: joints {np.flatnonzero(depth < 0).tolist()} lie on a cycle")
    return parents, depth


def tree_edges(
    skeleton: Skeleton | Sequence[int], *, root: int | str | None = None
) -> tuple[tuple[int, int], ...]:
    """Bones of the kinematic tree as (parent, child) pairs, from the root outward.

    Args:
        skeleton: A `Skeleton` (its `parents`, derived from its edges and root) or a parents sequence
            (-1 for the root).
        root: For a Skeleton: its root joint (name or index), needed without one (COCO_17, BODY_25B);
            edges closing a cycle (COCO's torso) are then not part of the tree.

    Returns:
        One (parent, child) pair per non-root joint, ordered by depth (parents before their children).

    Raises:
        ValueError: Without a root, or with a parents sequence that is not a forest.
    """
    parents, depth = _tree(skeleton, root)
    return tuple((int(parents[c]), int(c)) for c in np.argsort(depth, kind="stable") if parents[c] >= 0)


def bone_pairs(edges: Skeleton | Sequence[tuple[int, int]]) -> np.ndarray:
    """Bones as an integer array of (joint, joint) pairs.

    Args:
        edges: Bones as (joint, joint) pairs, or a `Skeleton` (its `edges`).

    Returns:
        Shape (e, 2), numpy integers (usable to index numpy or jax arrays).
    """
    return np.asarray(edges.edges if _is_skeleton(edges) else edges, dtype=np.intp).reshape(-1, 2)


def bone_lengths(points: ArrayLike, edges: Skeleton | Sequence[tuple[int, int]]) -> Array | np.ndarray:
    """Length of each bone in each frame.

    Args:
        points: Joints, shape (..., j, d), e.g. (t, j, 3) or (t, p, j, 3); numpy or jax.
        edges: Bones as (joint, joint) pairs, shape (e, 2), or a `Skeleton` (its `edges`).

    Returns:
        Shape (..., e), in the units of `points`; NaN where either end is missing. A jax Array for jax input,
        numpy otherwise.
    """
    xp = jnp if is_jax_array(points) else np
    pts = xp.asarray(points)
    pairs = bone_pairs(edges)
    if pts.ndim < 2 or (pairs.size and ((pairs < 0) | (pairs >= pts.shape[-2])).any()):
        raise ValueError(f"bone_lengths: edges {pairs.tolist()} do not fit points of shape {pts.shape}")
    return xp.linalg.norm(pts[..., pairs[:, 1], :] - pts[..., pairs[:, 0], :], axis=-1)


def enforce_bone_lengths(
    points: ArrayLike,
    skeleton: Skeleton | Sequence[int],
    *,
    root: int | str | None = None,
    target_lengths: ArrayLike | None = None,
) -> np.ndarray:
    """Give every bone a constant length, keeping each bone's direction, from the root outward.

    Walks the kinematic tree depth by depth (a loop over tree depth, vectorised over frames and joints):
    the root stays where it is, and each child is put at ``new_parent + length * unit(old_child -
    old_parent)``. So directions of all bones are kept and lengths become the targets; positions drift
    outward along the chains by the accumulated length corrections.

    Missing data: a joint whose bone cannot be measured (it or its parent missing, zero length, or no finite
    target) keeps its own position and acts as the anchor of its subtree; missing joints stay NaN.

    Args:
        points: Joints over time, shape (t, ..., j, d), e.g. (t, j, 3) or (t, p, j, 3); NaN = missing.
        skeleton: A `Skeleton` (tree from its edges and root) or a parents sequence (-1 for the root).
        root: Root joint (name or index), needed for a Skeleton without one (COCO_17, BODY_25B: e.g.
            ``"left_hip"``); see `tree_edges`.
        target_lengths: Length of the bone ending at each joint, indexed by child joint, broadcastable to
            (t, ..., j) (e.g. (j,) or (p, j)); root entries are ignored. None: the median over time of each
            bone's measured length (NaN-aware), per person.

    Returns:
        Adjusted joints, the shape of `points` (float dtype of the input).

    Raises:
        ValueError: Without a kinematic tree, or when shapes do not match.
    """
    x, out_dtype = _as_trajectories(points)
    parents, depth = _tree(skeleton, root)
    if x.ndim < 3 or x.shape[-2] != parents.size:
        raise ValueError(f"enforce_bone_lengths: expected points (t, ..., {parents.size}, d), got {x.shape}")
    child = np.flatnonzero(parents >= 0)
    par, bone_depth = parents[child], depth[child]
    vec = x[..., child, :] - x[..., par, :]  # (t, ..., e, d)
    length = np.linalg.norm(vec, axis=-1)  # (t, ..., e)
    if target_lengths is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bones
            target = np.nanmedian(length, axis=0)
    else:
        tl = np.asarray(target_lengths, dtype=np.float64)
        try:
            target = np.broadcast_to(tl, x.shape[:-1])[..., child]
        except ValueError:
            raise ValueError(
                f"enforce_bone_lengths: target_lengths of shape {tl.shape} (one per child joint) do not "
                f"broadcast to {x.shape[:-1]}"
            ) from None
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = vec / length[..., None]
    measurable = np.isfinite(unit).all(-1) & (length > 0) & np.isfinite(target)  # (t, ..., e)

    out = x.copy()
    for level in range(1, int(bone_depth.max(initial=0)) + 1):
        b = np.flatnonzero(bone_depth == level)
        placed = out[..., par[b], :] + np.broadcast_to(target, length.shape)[..., b, None] * unit[..., b, :]
        out[..., child[b], :] = np.where(measurable[..., b, None], placed, x[..., child[b], :])
    return out.astype(out_dtype, copy=False)

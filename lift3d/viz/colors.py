"""Colours shared by the 3D scenes and the 2D overlays: one hue per (result, person) from `PALETTE`, left
lighter and right darker (`side_colors`), and a matplotlib-free viridis (`colormap`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.skeleton import Skeleton

__all__ = ["PALETTE", "colormap", "side_colors"]

PALETTE = np.array(
    [[0.12, 0.47, 0.71], [1.00, 0.50, 0.05], [0.17, 0.63, 0.17], [0.84, 0.15, 0.16], [0.58, 0.40, 0.74],
     [0.55, 0.34, 0.29], [0.89, 0.47, 0.76], [0.50, 0.50, 0.50], [0.74, 0.74, 0.13], [0.09, 0.75, 0.81]]
)  # fmt: skip
"""Base colour of each (result, person), RGB in [0, 1] (matplotlib's tab10)."""

_VIRIDIS = np.array(
    [[0.267, 0.005, 0.329], [0.283, 0.141, 0.458], [0.254, 0.265, 0.530], [0.207, 0.372, 0.553],
     [0.164, 0.471, 0.558], [0.128, 0.567, 0.551], [0.135, 0.659, 0.518], [0.267, 0.749, 0.441],
     [0.478, 0.821, 0.318], [0.741, 0.873, 0.150], [0.993, 0.906, 0.144]]
)  # fmt: skip


def colormap(values: ArrayLike) -> np.ndarray:
    """Viridis colours of values in [0, 1] (clipped), without matplotlib.

    Args:
        values: (...,) numbers.

    Returns:
        (..., 3) RGB in [0, 1].
    """
    x = np.clip(np.nan_to_num(np.asarray(values, np.float64)), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    i = np.minimum(x.astype(int), len(_VIRIDIS) - 2)
    f = (x - i)[..., None]
    return _VIRIDIS[i] * (1 - f) + _VIRIDIS[i + 1] * f


def side_colors(skeleton: Skeleton | None, num_joints: int, base: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Joint and bone colours: `base` for central joints, lighter for left, darker for right.

    A bone is left (right) when one of its joints is left (right) and the other is not right (left).

    Args:
        skeleton: The joint layout (its `left_right` pairs), or None (all central).
        num_joints: j.
        base: (3,) RGB in [0, 1].

    Returns:
        (j, 3) joint colours and (e, 3) bone colours (e = number of edges, 0 without a skeleton).
    """
    base = np.asarray(base, np.float64)
    side = np.zeros(num_joints, int)  # 0 centre, 1 left, 2 right
    edges = np.asarray(skeleton.edges if skeleton else (), int).reshape(-1, 2)
    if skeleton is not None:
        for left, right in skeleton.left_right:
            side[left], side[right] = 1, 2
    shades = np.stack([base, 0.45 * base + 0.55, 0.6 * base])
    bone_side = np.maximum(side[edges[:, 0]], side[edges[:, 1]]) if len(edges) else np.zeros(0, int)
    return shades[side], shades[bone_side]

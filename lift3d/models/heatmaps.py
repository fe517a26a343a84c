"""Reading joints out of heatmaps and volumes: 2D soft-argmax, hard argmax, 3D soft-argmax.

Layouts are channels last, one channel per joint: heatmaps ``(..., h, w, j)``, volumes ``(..., d, d, d, j)``.
2D coordinates are ``(x, y)`` in the heatmap's pixels (pixel centres at integers); `heatmap_to_image`
maps them to the pixels of the image the network saw (``u = (x + 0.5) * W / w - 0.5``, the inverse of
`lift3d.geometry.volume.rescale_projection`).

Soft-argmax (Iskakov et al. 2019, after Sun et al. 2018's integral regression): ``softmax(m * H)`` over the
map, then the expected coordinate. The multiplier ``m`` (100 for heatmaps in the paper, 1 for volumes)
sharpens the distribution so that the expectation sits at the peak.

Non-finite heatmap values (a view whose image was missing, a numerical blow-up) are left out of the
softmax; a map with no finite value gives a NaN coordinate and ``valid`` False, which the triangulation
masks. Gradients stay finite in every case.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = ["soft_argmax_2d", "argmax_2d", "soft_argmax_3d", "heatmap_to_image"]


def _masked_softmax(logits: Array, axes: tuple[int, ...]) -> tuple[Array, Array]:
    """Softmax over `axes` ignoring non-finite entries; returns (probabilities, any finite entry)."""
    finite = jnp.isfinite(logits)
    valid = jnp.any(finite, axes)
    x = jnp.where(finite, logits, -jnp.inf)
    x = jnp.where(jnp.expand_dims(valid, axes), x, 0.0)  # all-NaN maps: uniform, masked below
    x = x - jax.lax.stop_gradient(jnp.max(x, axes, keepdims=True))
    e = jnp.where(finite, jnp.exp(x), 0.0)
    e = jnp.where(jnp.expand_dims(valid, axes), e, 1.0)
    return e / jnp.sum(e, axes, keepdims=True), valid


@jax.jit
def soft_argmax_2d(heatmaps: ArrayLike, multiplier: float = 100.0) -> tuple[Array, Array]:
    """Expected (x, y) of ``softmax(multiplier * heatmaps)`` over each map.

    Args:
        heatmaps: Shape (..., h, w, j).
        multiplier: Scale of the logits (the paper's ``heatmap_multiplier``, 100).

    Returns:
        ``(coords (..., j, 2) heatmap px, valid (..., j) bool)``; coords NaN where not valid.
    """
    hm = jnp.asarray(heatmaps)
    h, w = hm.shape[-3:-1]
    p, valid = _masked_softmax(hm * multiplier, (-3, -2))
    x = jnp.einsum("...hwj,w->...j", p, jnp.arange(w, dtype=p.dtype))
    y = jnp.einsum("...hwj,h->...j", p, jnp.arange(h, dtype=p.dtype))
    coords = jnp.stack([x, y], -1)
    return jnp.where(valid[..., None], coords, jnp.nan), valid


@jax.jit
def argmax_2d(heatmaps: ArrayLike) -> tuple[Array, Array]:
    """Hard argmax of each map (the classic readout; non-finite values never win).

    Args:
        heatmaps: Shape (..., h, w, j).

    Returns:
        ``(coords (..., j, 2) heatmap px (integers as floats), peak (..., j))``; both NaN for a map with no
        finite value. `peak` (the maximum) serves as a confidence.
    """
    hm = jnp.asarray(heatmaps)
    h, w, j = hm.shape[-3:]
    flat = jnp.moveaxis(hm.reshape(*hm.shape[:-3], h * w, j), -1, -2)  # (..., j, h w)
    finite = jnp.isfinite(flat)
    flat = jnp.where(finite, flat, -jnp.inf)
    idx = jnp.argmax(flat, -1)
    valid = jnp.any(finite, -1)
    peak = jnp.where(valid, jnp.max(flat, -1), jnp.nan)
    coords = jnp.stack([idx % w, idx // w], -1).astype(peak.dtype)
    return jnp.where(valid[..., None], coords, jnp.nan), peak


@jax.jit
def soft_argmax_3d(volumes: ArrayLike, grid: ArrayLike, multiplier: float = 1.0) -> tuple[Array, Array]:
    """Expected grid point of ``softmax(multiplier * volumes)`` over each volume.

    Args:
        volumes: Shape (..., d, d, d, j).
        grid: World coordinates of the voxels, shape (..., d, d, d, 3) (`lift3d.geometry.volume.cuboid_grid`).
        multiplier: Scale of the logits (the paper's ``volume_multiplier``, 1).

    Returns:
        ``(points (..., j, 3) in the grid's units, probabilities (..., d, d, d, j))``; points NaN where a
        volume has no finite value.
    """
    vol = jnp.asarray(volumes)
    p, valid = _masked_softmax(vol * multiplier, (-4, -3, -2))
    points = jnp.einsum("...xyzj,...xyzk->...jk", p, jnp.asarray(grid, p.dtype))
    return jnp.where(valid[..., None], points, jnp.nan), p


def heatmap_to_image(coords: ArrayLike, heatmap_size: tuple[int, int], image_size: tuple[int, int]) -> Array:
    """Heatmap pixels to image pixels (pixel centres at integers in both).

    Args:
        coords: (x, y), shape (..., 2), heatmap px.
        heatmap_size: (h, w).
        image_size: (H, W).

    Returns:
        Shape (..., 2), image px.
    """
    coords = jnp.asarray(coords)
    scale = jnp.array([image_size[1] / heatmap_size[1], image_size[0] / heatmap_size[0]], coords.dtype)
    return (coords + 0.5) * scale - 0.5

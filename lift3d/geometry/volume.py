"""Voxel volumes for volumetric triangulation: cuboids, grids, unprojection of feature maps, aggregation.

The volumetric model of Iskakov et al. 2019 places a cuboid (side 2500 mm for Human3.6M) around the
person's pelvis, fills it with a regular ``d x d x d`` grid of points, projects every point into every
view, samples that view's feature map there (bilinear), and merges the views into one volume of features.

Conventions:

- Grids are ``(..., d, d, d, 3)`` world points; index ``[i, j, k]`` is the point
  ``centre + R @ (-side/2 + side * (i, j, k) / (d - 1))``, i.e. the cuboid's corners are grid points
  (as in the paper's ``coord_volume``). ``R`` (default identity) rotates the cuboid about its centre.
- Projection matrices ``(..., v, 3, 4)`` map world points (mm) to pixels of the image they belong to
  (pixel centres at integer coordinates, OpenCV). `rescale_projection` moves them to a feature map of
  another resolution with the same convention (``u' = (u + 0.5) s - 0.5``, as `resize_camera`).
- Bilinear sampling equals PyTorch's ``grid_sample(align_corners=True, padding_mode="zeros")`` in pixel
  units: each of the four neighbours outside the map contributes 0. Points behind a camera get 0.
- Missing views (``view_mask`` False, or features that are not finite) take no part in aggregation: the
  result equals the result of the same call without those views. Their inputs may hold NaN.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "Aggregation",
    "cuboid_grid",
    "grid_indices",
    "rotation_about_axis",
    "random_vertical_rotation",
    "rescale_projection",
    "project_points_proj",
    "bilinear_sample",
    "unproject",
    "aggregate",
]

Aggregation = Literal["sum", "conf", "softmax"]


def cuboid_grid(center: ArrayLike, *, side_mm: float, size: int, rotation: ArrayLike | None = None) -> Array:
    """The ``size^3`` grid of points filling a cube around `center`.

    Args:
        center: Cube centres, shape (..., 3), mm.
        side_mm: Edge length, mm (2500 in the paper).
        size: d, points per edge (>= 2).
        rotation: Optional (..., 3, 3) rotations of the cube about its centre (local -> world axes).

    Returns:
        Grid points, shape (..., d, d, d, 3), mm.
    """
    if size < 2:
        raise ValueError(f"a grid needs at least 2 points per edge, got size={size}")
    center = jnp.asarray(center)
    dtype = jnp.result_type(center.dtype, jnp.float32)
    axis = jnp.linspace(-side_mm / 2, side_mm / 2, size, dtype=dtype)
    local = jnp.stack(jnp.meshgrid(axis, axis, axis, indexing="ij"), -1)  # (d, d, d, 3)
    if rotation is not None:
        R = jnp.asarray(rotation, dtype)
        local = jnp.einsum("...ik,xyzk->...xyzi", R, local)
    return center[..., None, None, None, :] + local


def grid_indices(points: ArrayLike, center: ArrayLike, *, side_mm: float, size: int,
                 rotation: ArrayLike | None = None) -> Array:  # fmt: skip
    """Index of the grid point nearest to each point (points outside the cube: the nearest point on it).

    Because the grid is a product of equally spaced axes in the cube's frame, the nearest grid point is
    the per-axis rounded (and clipped) coordinate there: no distance to every voxel is needed.

    Args:
        points: Shape (..., n, 3), mm.
        center: Cube centres, shape (..., 3).
        side_mm, size, rotation: As for `cuboid_grid`.

    Returns:
        Integer indices (i, j, k), shape (..., n, 3), int32.
    """
    rel = jnp.asarray(points) - jnp.asarray(center)[..., None, :]
    if rotation is not None:  # world -> cube frame: R^T rel
        rel = jnp.einsum("...ki,...nk->...ni", jnp.asarray(rotation), rel)
    step = side_mm / (size - 1)
    idx = jnp.round((rel + side_mm / 2) / step)
    return jnp.clip(jnp.nan_to_num(idx), 0, size - 1).astype(jnp.int32)


def rotation_about_axis(angle: ArrayLike, axis: int = 2) -> Array:
    """Rotations by `angle` (radians, right-handed) about a coordinate axis.

    Args:
        angle: Shape (...,).
        axis: 0, 1 or 2 (x, y, z).

    Returns:
        Shape (..., 3, 3).
    """
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    angle = jnp.asarray(angle)
    c, s = jnp.cos(angle), jnp.sin(angle)
    a, b = [k for k in range(3) if k != axis]  # rotation in the (a, b) plane
    R = jnp.zeros((*angle.shape, 3, 3), c.dtype).at[..., axis, axis].set(1.0)
    R = R.at[..., a, a].set(c).at[..., b, b].set(c)
    return R.at[..., a, b].set(-s).at[..., b, a].set(s)


def random_vertical_rotation(key: Array, shape: tuple[int, ...] = (), *, axis: int = 2) -> Array:
    """Uniformly random rotations about the vertical axis (training augmentation of the cuboid).

    Args:
        key: Random key.
        shape: Batch shape.
        axis: The world's vertical axis (2: z-up, as Human3.6M's world).

    Returns:
        Shape (*shape, 3, 3).
    """
    return rotation_about_axis(jax.random.uniform(key, shape, maxval=2 * jnp.pi), axis)


def rescale_projection(proj: ArrayLike, from_size: tuple[int, int], to_size: tuple[int, int]) -> Array:
    """Projection matrices of an image resized from `from_size` to `to_size` (both (height, width)).

    Pixel centres stay at integer coordinates: ``u' = (u + 0.5) * w'/w - 0.5`` (likewise v), the
    convention of `lift3d.geometry.camera.resize_camera`. Used to map image-pixel cameras to a
    feature map or heatmap of the backbone's output resolution.

    Args:
        proj: Shape (..., 3, 4).
        from_size: (H, W) of the image the matrices project into.
        to_size: (h, w) of the target map.

    Returns:
        Shape (..., 3, 4).
    """
    proj = jnp.asarray(proj)
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    A = jnp.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]], proj.dtype)
    return A @ proj


def project_points_proj(proj: ArrayLike, points: ArrayLike) -> tuple[Array, Array]:
    """Project world points with 3x4 matrices (no distortion).

    Args:
        proj: Shape (..., 3, 4).
        points: Shape (..., n, 3), broadcastable with `proj`'s leading axes.

    Returns:
        ``(uv (..., n, 2) px, depth (..., n))``; depth is the homogeneous third coordinate (> 0 in front
        of a camera whose matrix has a positive determinant part); uv is finite even where depth <= 0.
    """
    proj, points = jnp.asarray(proj), jnp.asarray(points)
    h = jnp.einsum("...ik,...nk->...ni", proj[..., :3], points) + proj[..., None, :, 3]
    depth = h[..., 2]
    safe = jnp.where(jnp.abs(depth) > 1e-6, depth, 1e-6)
    return h[..., :2] / safe[..., None], depth


def _sample_one(feat: Array, uv: Array) -> Array:
    """Bilinear sample of one map (h, w, c) at points (n, 2); zeros outside (see the module doc)."""
    h, w = feat.shape[:2]
    x, y = uv[..., 0], uv[..., 1]
    x0, y0 = jnp.floor(x), jnp.floor(y)
    out = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1.0 - jnp.abs(x - xi)) * (1.0 - jnp.abs(y - yi))
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            xc = jnp.clip(xi, 0, w - 1).astype(jnp.int32)
            yc = jnp.clip(yi, 0, h - 1).astype(jnp.int32)
            out = out + jnp.where(inside, weight, 0.0)[..., None] * feat[yc, xc]
    return out


def bilinear_sample(features: ArrayLike, uv: ArrayLike) -> Array:
    """Sample feature maps at sub-pixel points, bilinearly, with zeros outside the map.

    Args:
        features: Shape (..., h, w, c) (channels last).
        uv: Points (x, y) in the maps' pixels, shape (..., n, 2), same leading axes; non-finite points
            sample 0.

    Returns:
        Shape (..., n, c).
    """
    features, uv = jnp.asarray(features), jnp.asarray(uv)
    lead = features.shape[:-3]
    if uv.shape[:-2] != lead:
        raise ValueError(f"features {features.shape} and points {uv.shape} need the same leading axes")
    finite = jnp.all(jnp.isfinite(uv), -1)
    uv = jnp.where(finite[..., None], uv, -10.0)  # far outside: every neighbour contributes 0
    f = features.reshape(-1, *features.shape[-3:])
    p = uv.reshape(-1, *uv.shape[-2:])
    out = jax.vmap(_sample_one)(f, p)
    return out.reshape(*lead, *out.shape[-2:])


def _view_valid(features: Array, view_mask: Array | None) -> Array:
    """(b, v) views usable: in the mask and with finite features everywhere."""
    finite = jnp.all(jnp.isfinite(features), axis=tuple(range(2, features.ndim)))
    return finite if view_mask is None else finite & jnp.asarray(view_mask, bool)


@jax.jit
def unproject(features: ArrayLike, proj: ArrayLike, grid: ArrayLike, view_mask: ArrayLike | None = None
              ) -> tuple[Array, Array]:  # fmt: skip
    """Unproject every view's feature map into a voxel grid (bilinear sampling at the projected points).

    Args:
        features: Shape (b, v, h, w, c), per-view maps; NaN allowed in views that are masked (or such views
            are then treated as masked).
        proj: Shape (b, v, 3, 4), world (mm) -> pixels *of the feature map* (see `rescale_projection`).
        grid: Shape (b, d, d, d, 3) world points, mm (`cuboid_grid`).
        view_mask: Optional (b, v) bool; False marks a missing view.

    Returns:
        ``(volumes (b, v, d, d, d, c), valid (b, v))``: per-view feature volumes (0 at points behind the
        camera or outside the map, and everywhere in invalid views) and which views are valid.
    """
    features, proj, grid = jnp.asarray(features), jnp.asarray(proj), jnp.asarray(grid)
    b, v = features.shape[:2]
    valid = _view_valid(features, view_mask) & jnp.all(jnp.isfinite(proj), (-2, -1))
    feats = jnp.where(valid[..., None, None, None], features, 0.0)
    safe_proj = jnp.where(valid[..., None, None], proj, jnp.eye(3, 4, dtype=proj.dtype))
    d = grid.shape[1:4]
    pts = grid.reshape(b, 1, -1, 3)
    uv, depth = project_points_proj(safe_proj, pts)  # (b, v, n, 2), (b, v, n)
    uv = jnp.where((depth > 0)[..., None], uv, jnp.nan)
    vol = bilinear_sample(feats, uv)  # (b, v, n, c)
    vol = jnp.where(valid[..., None, None], vol, 0.0)
    return vol.reshape(b, v, *d, vol.shape[-1]), valid


@functools.partial(jax.jit, static_argnames=("method",))
def aggregate(volumes: ArrayLike, view_mask: ArrayLike, method: Aggregation = "softmax",
              confidences: ArrayLike | None = None) -> Array:  # fmt: skip
    """Merge per-view volumes into one, ignoring missing views.

    Methods (Iskakov et al. 2019):

    - ``"sum"``: the sum over the valid views.
    - ``"conf"``: weighted sum with `confidences` normalised to sum 1 over the valid views (per channel).
    - ``"softmax"``: at every voxel and channel, weights = softmax over the valid views of the values
      themselves (a soft maximum).

    Args:
        volumes: Shape (b, v, ..., c).
        view_mask: Shape (b, v) bool; a sample with no valid view gives zeros.
        method: "sum", "conf" or "softmax".
        confidences: Shape (b, v, c) positive weights (method "conf" only).

    Returns:
        Shape (b, ..., c).
    """
    volumes = jnp.asarray(volumes)
    mask = jnp.asarray(view_mask, bool)
    expand = (slice(None), slice(None)) + (None,) * (volumes.ndim - 3)
    m = mask[expand + (None,)]  # (b, v, 1.., 1)
    vol = jnp.where(m, volumes, 0.0)
    if method == "sum":
        return jnp.sum(vol, 1)
    if method == "conf":
        if confidences is None:
            raise ValueError("aggregation 'conf' needs confidences (b, v, c)")
        conf = jnp.where(mask[..., None], jnp.asarray(confidences), 0.0)
        conf = conf / jnp.maximum(jnp.sum(conf, 1, keepdims=True), 1e-12)
        return jnp.einsum("bv...c,bvc->b...c", vol, conf)
    if method == "softmax":
        logits = jnp.where(m, vol, -jnp.inf)
        any_valid = jnp.any(mask, 1).reshape((-1,) + (1,) * (volumes.ndim - 1))
        logits = jnp.where(any_valid, logits, 0.0)
        weights = jax.nn.softmax(logits, axis=1)
        return jnp.sum(jnp.where(m, weights * vol, 0.0), 1)
    raise ValueError(f"unknown aggregation {method!r}; use 'sum', 'conf' or 'softmax'")

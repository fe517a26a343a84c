"""Geometry that stays put: camera frusta and names, a floor grid, cuboids and voxel volumes, as Open3D objects.

Every builder works in metres and world axes of the rig (x_cam = R X + t, OpenCV camera frame). Open3D is
imported lazily, inside the functions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.rig import Rig
from lift3d.viz._open3d import load_open3d, vector3
from lift3d.viz.colors import colormap

__all__ = ["frusta_lines", "camera_labels", "plane_basis", "floor_grid", "cuboid_lines", "volume_points"]


def frusta_lines(rig: Rig, *, size: float = 0.3, color: ArrayLike = (0.15, 0.15, 0.15)):
    """Camera frusta as one LineSet: centre to the 4 image corners at depth `size`, the image rectangle and a
    small triangle on its top edge (the camera's up, -y).

    Args:
        rig: The cameras (any units; drawn in metres).
        size: Frustum depth, m.
        color: (3,) or (v, 3) RGB in [0, 1].

    Returns:
        `open3d.geometry.LineSet`.
    """
    o3d = load_open3d()
    rig = rig.to_units("m")
    K, R = np.asarray(rig.cameras.K, float), np.asarray(rig.cameras.R, float)
    size_px = np.asarray(rig.cameras.image_size, float)[:, None]  # (v, 1, 2)
    # image corners, then a small triangle above the top edge (the camera's up)
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.4, 0], [0.6, 0], [0.5, -0.12]]) * size_px
    xy = np.einsum("vij,vnj->vni", np.linalg.inv(K), np.concatenate([uv - 0.5, np.ones((*uv.shape[:2], 1))], -1))
    C = rig.centers
    corners = np.einsum("vji,vnj->vni", R, xy * size) + C[:, None]  # camera -> world: R^T x + C
    pts = np.concatenate([C[:, None], corners], 1)  # (v, 8, 3)
    seg = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1], [5, 7], [7, 6], [6, 5]])
    v = len(rig)
    lines = (seg[None] + 8 * np.arange(v)[:, None, None]).reshape(-1, 2)
    ls = o3d.geometry.LineSet()
    ls.points = vector3(pts.reshape(-1, 3))
    ls.lines = o3d.utility.Vector2iVector(lines.astype(np.int32))
    ls.colors = vector3(np.repeat(np.broadcast_to(np.asarray(color, float), (v, 3)), len(seg), 0))
    return ls


def camera_labels(
    rig: Rig,
    *,
    up: ArrayLike = (0, 0, 1),
    facing: ArrayLike | None = None,
    height: float = 0.1,
    offset: float = 0.25,
    color: ArrayLike = (0.1, 0.1, 0.1),
) -> list:
    """Camera names as flat 3D text meshes above each camera, upright and turned towards `facing`.

    Uses `open3d.t.geometry.TriangleMesh.create_text` (Open3D >= 0.17); returns [] where it is missing.

    Args:
        rig: The cameras.
        up: (3,) world up direction.
        facing: (3,) point the text faces (e.g. the viewer's eye); default: behind each camera, so the name
            reads correctly when looking the way the camera looks.
        height: Letter height, m.
        offset: Height of the text's base above the camera centre, m.
        color: (3,) RGB.

    Returns:
        A list of `open3d.geometry.TriangleMesh`, one per camera.
    """
    o3d = load_open3d()
    if not hasattr(o3d.t.geometry.TriangleMesh, "create_text"):
        return []
    rig = rig.to_units("m")
    up = np.asarray(up, float) / np.linalg.norm(up)
    out = []
    for i, name in enumerate(rig.names):
        C = rig.centers[i]
        toward = (np.asarray(facing, float) - C) if facing is not None else -np.asarray(rig.cameras.R[i])[2]
        toward = toward - up * (toward @ up)
        if np.linalg.norm(toward) < 1e-9:
            toward = np.cross(up, [1.0, 0, 0]) if abs(up[0]) < 0.9 else np.cross(up, [0, 1.0, 0])
        toward /= np.linalg.norm(toward)
        right = np.cross(up, toward)
        mesh = o3d.t.geometry.TriangleMesh.create_text(str(name), depth=0.5).to_legacy()
        v = np.asarray(mesh.vertices)
        lo, hi = v.min(0), v.max(0)
        s = height / max(hi[1] - lo[1], 1e-9)
        local = (v - [(lo[0] + hi[0]) / 2, lo[1], 0]) * s
        world = C + up * offset + local[:, :1] * right + local[:, 1:2] * up + local[:, 2:3] * toward
        mesh.vertices = vector3(world)
        mesh.compute_vertex_normals()
        mesh.paint_uniform_color(np.asarray(color, float))
        out.append(mesh)
    return out


def plane_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (3,), (3,) that span the plane perpendicular to the unit vector `up` (a right-handed
    frame e1, e2, up)."""
    ref = np.eye(3)[np.argmin(np.abs(up))]
    e1 = ref - up * (ref @ up)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(up, e1)


def floor_grid(
    center: ArrayLike,
    *,
    up: ArrayLike = (0, 0, 1),
    size: float = 6.0,
    step: float = 0.5,
    color: ArrayLike = (0.72, 0.72, 0.72),
):
    """A square grid of lines on the floor plane (perpendicular to `up`, through `center`).

    Args:
        center: (3,) a point of the floor, the grid's centre, m.
        up: (3,) world up.
        size: Side of the grid, m.
        step: Spacing of the lines, m.
        color: (3,) RGB.

    Returns:
        `open3d.geometry.LineSet`.
    """
    o3d = load_open3d()
    up = np.asarray(up, float) / np.linalg.norm(up)
    e1, e2 = plane_basis(up)
    n = max(1, int(round(size / step)))
    ticks = (np.arange(n + 1) - n / 2) * step
    half = n * step / 2
    c = np.asarray(center, float)
    a = np.concatenate([c + ticks[:, None] * e1 - half * e2, c - half * e1 + ticks[:, None] * e2])
    b = np.concatenate([c + ticks[:, None] * e1 + half * e2, c + half * e1 + ticks[:, None] * e2])
    ls = o3d.geometry.LineSet()
    ls.points = vector3(np.stack([a, b], 1).reshape(-1, 3))
    ls.lines = o3d.utility.Vector2iVector(np.arange(2 * len(a), dtype=np.int32).reshape(-1, 2))
    ls.colors = vector3(np.tile(np.asarray(color, float), (len(a), 1)))
    return ls


def cuboid_lines(
    center: ArrayLike, size: ArrayLike, *, rotation: ArrayLike | None = None, color: ArrayLike = (0.85, 0.1, 0.1)
):
    """The 12 edges of a cuboid (e.g. the volumetric triangulation's cuboid around a person).

    Args:
        center: (3,) centre, m.
        size: Side length (scalar) or (3,) side lengths along the cuboid's axes, m.
        rotation: (3, 3) columns = the cuboid's axes in the world; identity (axis-aligned) if None.
        color: (3,) RGB.

    Returns:
        `open3d.geometry.LineSet`.
    """
    o3d = load_open3d()
    corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij")).reshape(3, -1).T - 0.5
    corners = corners * np.broadcast_to(np.asarray(size, float), (3,))
    if rotation is not None:
        corners = corners @ np.asarray(rotation, float).T
    idx = np.arange(8)
    edges = [(i, j) for i in idx for j in idx if i < j and bin(i ^ j).count("1") == 1]
    ls = o3d.geometry.LineSet()
    ls.points = vector3(corners + np.asarray(center, float))
    ls.lines = o3d.utility.Vector2iVector(np.array(edges, np.int32))
    ls.colors = vector3(np.tile(np.asarray(color, float), (len(edges), 1)))
    return ls


def volume_points(
    values: ArrayLike,
    *,
    coords: ArrayLike | None = None,
    center: ArrayLike | None = None,
    size: ArrayLike | None = None,
    threshold: float = 0.2,
):
    """A voxel volume (e.g. a joint's 3D heatmap) as a point cloud coloured by value (viridis).

    Voxel (i, k, l) of a volume of shape (dx, dy, dz) sits at ``center - size / 2 + size * (i, k, l) / (d - 1)``
    (axes x, y, z; the cuboid's corners are grid points, as `lift3d.geometry.volume.cuboid_grid`) unless
    `coords` gives every voxel's position (e.g. a `cuboid_grid` in metres, rotated or not).

    Args:
        values: (dx, dy, dz) non-negative values.
        coords: (dx, dy, dz, 3) voxel positions, m; or None with `center` and `size`.
        center: (3,) cuboid centre, m.
        size: Cuboid side (scalar) or (3,) sides, m.
        threshold: Voxels below `threshold * max(values)` are left out.

    Returns:
        `open3d.geometry.PointCloud`.
    """
    o3d = load_open3d()
    V = np.asarray(values, np.float64)
    if V.ndim != 3:
        raise ValueError(f"volume values must have shape (dx, dy, dz), got {V.shape}")
    if coords is None:
        if center is None or size is None:
            raise ValueError("volume_points needs coords, or center and size")
        if min(V.shape) < 2:
            raise ValueError(f"a volume needs at least 2 voxels per axis, got {V.shape}")
        axes = [np.linspace(-0.5, 0.5, n) for n in V.shape]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
        coords = grid * np.broadcast_to(np.asarray(size, float), (3,)) + np.asarray(center, float)
    coords = np.asarray(coords, np.float64)
    if coords.shape != (*V.shape, 3):
        raise ValueError(f"volume coords must have shape {(*V.shape, 3)}, got {coords.shape}")
    vmax = np.nanmax(V) if np.isfinite(V).any() else 0.0
    keep = np.isfinite(V) & (V >= threshold * vmax) & (V > 0)
    pc = o3d.geometry.PointCloud()
    pc.points = vector3(coords[keep])
    pc.colors = vector3(colormap(V[keep] / vmax if vmax > 0 else V[keep]))
    return pc

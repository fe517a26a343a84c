"""Open3D scenes: skeletons, camera frusta, floor grid, trajectories, cuboids and volume heatmaps.

Every builder works in metres and world axes of the rig (x_cam = R X + t, OpenCV camera frame). Geometry that
moves (skeletons, trailing trajectories) is built once and updated in place from numpy arrays, so a video
re-uses the same Open3D objects for every frame. Missing joints (NaN) are hidden by collapsing their triangles
or lines to a point, never by changing the number of vertices.

Colours: each (result, person) pair gets one hue from `PALETTE`; left joints and bones are drawn lighter and
right ones darker than that hue (`side_colors`). Open3D is imported lazily, inside the functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.rig import Rig
from lift3d.core.skeleton import Skeleton

__all__ = [
    "PALETTE",
    "Track",
    "Scene",
    "SkeletonGeometry",
    "TrajectoryGeometry",
    "build_scene",
    "side_colors",
    "frusta_lines",
    "camera_labels",
    "floor_grid",
    "cuboid_lines",
    "volume_points",
    "colormap",
    "infer_up",
]

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


def _o3d():
    import open3d

    return open3d


def _vec3(a: np.ndarray):
    return _o3d().utility.Vector3dVector(np.ascontiguousarray(a, dtype=np.float64))


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


# --------------------------------------------------------------------------------------------- skeletons


def _sphere_template(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    mesh = _o3d().geometry.TriangleMesh.create_sphere(radius=1.0, resolution=resolution)
    return np.asarray(mesh.vertices), np.asarray(mesh.triangles)


def _cylinder_template(resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open unit cylinder along +z from z=0 to z=1: vertices (2r, 3), triangles, radial normals."""
    a = np.linspace(0, 2 * np.pi, resolution, endpoint=False)
    ring = np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], -1)
    verts = np.concatenate([ring, ring + [0, 0, 1]])
    i = np.arange(resolution)
    n = (i + 1) % resolution
    tris = np.concatenate([np.stack([i, n, i + resolution], -1), np.stack([n, n + resolution, i + resolution], -1)])
    return verts, tris, np.concatenate([ring, ring])


def _align_z(d: np.ndarray) -> np.ndarray:
    """Rotations (n, 3, 3) taking +z to the unit vectors d (n, 3) (Rodrigues, vectorised)."""
    v = np.stack([-d[:, 1], d[:, 0], np.zeros(len(d))], -1)  # z x d
    c = d[:, 2]
    vx = np.zeros((len(d), 3, 3))
    vx[:, 0, 1], vx[:, 0, 2], vx[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    vx -= np.swapaxes(vx, 1, 2)
    k = 1.0 / np.maximum(1.0 + c, 1e-12)
    R = np.eye(3) + vx + vx @ vx * k[:, None, None]
    R[c < -1 + 1e-9] = np.diag([1.0, -1.0, -1.0])
    return R


class SkeletonGeometry:
    """One person's skeleton as Open3D geometry, moved in place by `update`.

    Joints are spheres merged into one triangle mesh; bones are cylinders (one mesh) or lines (a LineSet).
    A joint with a NaN coordinate, and every bone touching it, collapses to a point and disappears.
    """

    def __init__(
        self,
        skeleton: Skeleton | None,
        num_joints: int,
        *,
        color: ArrayLike = PALETTE[0],
        joint_colors: ArrayLike | None = None,
        bone_colors: ArrayLike | None = None,
        joint_radius: float = 0.025,
        bone_radius: float = 0.012,
        bones: str = "cylinder",
        resolution: int = 8,
    ):
        """Build the meshes (hidden until the first `update`).

        Args:
            skeleton: Bones and left/right pairs (`edges` index the j joints), or None for joints only.
            num_joints: j.
            color: (3,) base RGB in [0, 1] (see `side_colors`).
            joint_colors: (j, 3) RGB overriding the side colours of the joints.
            bone_colors: (e, 3) RGB overriding the side colours of the bones.
            joint_radius: Sphere radius, m (0: no spheres).
            bone_radius: Cylinder radius, m ("cylinder" bones).
            bones: "cylinder", "line" or "none".
            resolution: Tessellation of spheres and cylinders.
        """
        if bones not in ("cylinder", "line", "none"):
            raise ValueError(f"bones must be 'cylinder', 'line' or 'none', got {bones!r}")
        o3d = _o3d()
        self.num_joints = num_joints
        self.edges = np.asarray(skeleton.edges if skeleton is not None else (), int).reshape(-1, 2)
        if len(self.edges) and self.edges.max() >= num_joints:
            raise ValueError(f"skeleton {skeleton.name!r} has {skeleton.num_joints} joints, the points {num_joints}")
        jc, bc = side_colors(skeleton, num_joints, color)
        jc = jc if joint_colors is None else np.broadcast_to(np.asarray(joint_colors, float), (num_joints, 3))
        bc = bc if bone_colors is None else np.broadcast_to(np.asarray(bone_colors, float), (len(self.edges), 3))
        self.bones, self.joint_radius, self.bone_radius = bones, joint_radius, bone_radius
        self.geometries: list = []
        e = len(self.edges)
        self._sphere = self._cyl = self._lines = None
        if joint_radius > 0:
            sv, st = _sphere_template(resolution)
            self._sv = sv
            mesh = o3d.geometry.TriangleMesh()
            mesh.vertices = _vec3(np.zeros((num_joints * len(sv), 3)))
            mesh.triangles = o3d.utility.Vector3iVector(
                (st[None] + len(sv) * np.arange(num_joints)[:, None, None]).reshape(-1, 3).astype(np.int32)
            )
            mesh.vertex_normals = _vec3(np.tile(sv, (num_joints, 1)))
            mesh.vertex_colors = _vec3(np.repeat(jc, len(sv), 0))
            self._sphere = mesh
            self.geometries.append(mesh)
        if e and bones == "cylinder":
            cv, ct, cn = _cylinder_template(max(resolution, 6))
            self._cv, self._cn = cv, cn
            mesh = o3d.geometry.TriangleMesh()
            mesh.vertices = _vec3(np.zeros((e * len(cv), 3)))
            mesh.triangles = o3d.utility.Vector3iVector(
                (ct[None] + len(cv) * np.arange(e)[:, None, None]).reshape(-1, 3).astype(np.int32)
            )
            mesh.vertex_normals = _vec3(np.tile(cn, (e, 1)))
            mesh.vertex_colors = _vec3(np.repeat(bc, len(cv), 0))
            self._cyl = mesh
            self.geometries.append(mesh)
        elif e and bones == "line":
            ls = o3d.geometry.LineSet()
            ls.points = _vec3(np.zeros((2 * e, 3)))
            ls.lines = o3d.utility.Vector2iVector(np.arange(2 * e, dtype=np.int32).reshape(e, 2))
            ls.colors = _vec3(bc)
            self._lines = ls
            self.geometries.append(ls)

    def update(self, points: ArrayLike) -> None:
        """Move the skeleton to new joint positions.

        Args:
            points: (j, 3) joints, m; NaN hides a joint and its bones.
        """
        X = np.asarray(points, np.float64)
        if X.shape != (self.num_joints, 3):
            raise ValueError(f"points must have shape ({self.num_joints}, 3), got {X.shape}")
        ok = np.isfinite(X).all(-1)
        anchor = X[ok][0] if ok.any() else np.zeros(3)
        X = np.where(ok[:, None], X, anchor)
        if self._sphere is not None:
            r = np.where(ok, self.joint_radius, 0.0)
            self._sphere.vertices = _vec3((X[:, None] + r[:, None, None] * self._sv[None]).reshape(-1, 3))
        if not len(self.edges):
            return
        a, b = X[self.edges[:, 0]], X[self.edges[:, 1]]
        ok_e = ok[self.edges[:, 0]] & ok[self.edges[:, 1]]
        if self._cyl is not None:
            d = b - a
            length = np.linalg.norm(d, axis=-1)
            ok_e &= length > 1e-9
            R = _align_z(np.where(ok_e[:, None], d / np.maximum(length, 1e-12)[:, None], [0.0, 0.0, 1.0]))
            scale = np.where(ok_e[:, None], np.stack([np.full_like(length, self.bone_radius)] * 2 + [length], -1), 0)
            v = np.einsum("eij,ekj->eki", R, self._cv[None] * scale[:, None]) + a[:, None]
            self._cyl.vertices = _vec3(v.reshape(-1, 3))
            self._cyl.vertex_normals = _vec3(np.einsum("eij,kj->eki", R, self._cn).reshape(-1, 3))
        if self._lines is not None:
            b = np.where(ok_e[:, None], b, a)
            self._lines.points = _vec3(np.stack([a, b], 1).reshape(-1, 3))


class TrajectoryGeometry:
    """Paths of some joints over time as one LineSet; `update(frame)` shows the `trail` frames up to `frame`."""

    def __init__(self, points: ArrayLike, color: ArrayLike, *, trail: int | None = None):
        """Build the lines.

        Args:
            points: (t, k, 3) positions of k joints over t frames, m; NaN breaks a path.
            color: (3,) or (k, 3) RGB in [0, 1].
            trail: Frames shown behind the current one; None shows whole paths (static).
        """
        o3d = _o3d()
        P = np.asarray(points, np.float64)
        if P.ndim != 3 or P.shape[-1] != 3:
            raise ValueError(f"trajectory points must have shape (t, k, 3), got {P.shape}")
        t, k = P.shape[:2]
        self.trail = trail
        self._a, self._b = P[:-1].reshape(-1, 3), P[1:].reshape(-1, 3)  # segment s = (frame f, joint i)
        self._frame = np.repeat(np.arange(max(t - 1, 0)), k)
        self._ok = np.isfinite(self._a).all(-1) & np.isfinite(self._b).all(-1)
        colors = np.broadcast_to(np.asarray(color, float), (k, 3))
        self.lineset = o3d.geometry.LineSet()
        n = len(self._a)
        self.lineset.lines = o3d.utility.Vector2iVector(np.arange(2 * n, dtype=np.int32).reshape(n, 2))
        self.lineset.colors = _vec3(np.tile(colors, (max(t - 1, 0), 1)))
        self.geometries = [self.lineset]
        self.update(t - 1)

    def update(self, frame: int) -> None:
        """Show the segments ending at or before `frame` (and within `trail` frames of it)."""
        show = self._ok & (self._frame < frame)
        if self.trail is not None:
            show &= self._frame >= frame - self.trail
        anchor = self._a[self._ok][0] if self._ok.any() else np.zeros(3)
        a = np.where(show[:, None], self._a, anchor)
        b = np.where(show[:, None], self._b, anchor)
        self.lineset.points = _vec3(np.stack([a, b], 1).reshape(-1, 3))


# ------------------------------------------------------------------------------------------ static pieces


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
    o3d = _o3d()
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
    ls.points = _vec3(pts.reshape(-1, 3))
    ls.lines = o3d.utility.Vector2iVector(lines.astype(np.int32))
    ls.colors = _vec3(np.repeat(np.broadcast_to(np.asarray(color, float), (v, 3)), len(seg), 0))
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
    o3d = _o3d()
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
        mesh.vertices = _vec3(world)
        mesh.compute_vertex_normals()
        mesh.paint_uniform_color(np.asarray(color, float))
        out.append(mesh)
    return out


def _plane_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    o3d = _o3d()
    up = np.asarray(up, float) / np.linalg.norm(up)
    e1, e2 = _plane_basis(up)
    n = max(1, int(round(size / step)))
    ticks = (np.arange(n + 1) - n / 2) * step
    half = n * step / 2
    c = np.asarray(center, float)
    a = np.concatenate([c + ticks[:, None] * e1 - half * e2, c - half * e1 + ticks[:, None] * e2])
    b = np.concatenate([c + ticks[:, None] * e1 + half * e2, c + half * e1 + ticks[:, None] * e2])
    ls = o3d.geometry.LineSet()
    ls.points = _vec3(np.stack([a, b], 1).reshape(-1, 3))
    ls.lines = o3d.utility.Vector2iVector(np.arange(2 * len(a), dtype=np.int32).reshape(-1, 2))
    ls.colors = _vec3(np.tile(np.asarray(color, float), (len(a), 1)))
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
    o3d = _o3d()
    corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij")).reshape(3, -1).T - 0.5
    corners = corners * np.broadcast_to(np.asarray(size, float), (3,))
    if rotation is not None:
        corners = corners @ np.asarray(rotation, float).T
    idx = np.arange(8)
    edges = [(i, j) for i in idx for j in idx if i < j and bin(i ^ j).count("1") == 1]
    ls = o3d.geometry.LineSet()
    ls.points = _vec3(corners + np.asarray(center, float))
    ls.lines = o3d.utility.Vector2iVector(np.array(edges, np.int32))
    ls.colors = _vec3(np.tile(np.asarray(color, float), (len(edges), 1)))
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
    o3d = _o3d()
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
    pc.points = _vec3(coords[keep])
    pc.colors = _vec3(colormap(V[keep] / vmax if vmax > 0 else V[keep]))
    return pc


def infer_up(rig: Rig | None, default: ArrayLike = (0.0, 0.0, 1.0)) -> np.ndarray:
    """World up: the mean of the cameras' up directions (-y rows of R) snapped to the nearest world axis when
    within 30 degrees of it; `default` without a rig.

    Returns:
        (3,) unit vector.
    """
    if rig is None or len(rig) == 0:
        u = np.asarray(default, float)
        return u / np.linalg.norm(u)
    u = -np.asarray(rig.cameras.R, float)[:, 1].mean(0)
    u /= max(np.linalg.norm(u), 1e-12)
    k = np.argmax(np.abs(u))
    axis = np.eye(3)[k] * np.sign(u[k])
    return axis if u @ axis > np.cos(np.radians(30)) else u


# ----------------------------------------------------------------------------------------------- scenes


@dataclasses.dataclass(frozen=True, eq=False)
class Track:
    """One result to draw: the joints of one or several people over time.

    Attributes:
        points: (t, j, 3) or (t, P, j, 3) joints in `units`; NaN where missing.
        skeleton: Bones and left/right pairs over the j joints (None: joints only).
        name: Shown in legends.
        units: "m" or "mm".
        colors: (P, 3) RGB per person, or None for the next colours of `PALETTE`.
    """

    points: np.ndarray
    skeleton: Skeleton | None = None
    name: str = ""
    units: str = "m"
    colors: np.ndarray | None = None

    def metres(self) -> np.ndarray:
        """(t, P, j, 3) points in metres."""
        P = np.asarray(self.points, np.float64)
        if P.ndim == 3:
            P = P[:, None]
        if P.ndim != 4 or P.shape[-1] != 3:
            raise ValueError(f"track {self.name!r}: points must have shape (t, j, 3) or (t, P, j, 3), got {P.shape}")
        if self.units not in ("m", "mm"):
            raise ValueError(f"track {self.name!r}: units must be 'm' or 'mm', got {self.units!r}")
        return P * (1e-3 if self.units == "mm" else 1.0)


class Scene:
    """Tracks, a rig and decorations as Open3D geometry; `set_frame` moves the dynamic parts.

    Attributes:
        geometries: Every Open3D geometry (add them to a visualizer once).
        dynamic: The geometries `set_frame` changes (call `update_geometry` on them).
        tracks: The tracks (points in metres, (t, P, j, 3)).
        names: The tracks' names.
        colors: One (P, 3) colour array per track.
        rig: The rig in metres, or None.
        frusta: Camera name -> its frustum LineSet (a render from that camera hides it).
        up: (3,) world up.
        num_frames: The longest track's t.
        frame: The frame shown.
    """

    def __init__(self, tracks, names, rig, up, static, skeletons, trajectories, colors, frusta):
        self.tracks, self.names, self.rig, self.up, self.frusta = tracks, names, rig, up, frusta
        self._static, self._skeletons, self._trajectories, self.colors = static, skeletons, trajectories, colors
        self.num_frames = max((len(p) for p in tracks), default=1)
        self.dynamic = [g for s in skeletons for g in s[1].geometries] + [g for t in trajectories for g in t.geometries]
        self.geometries = static + self.dynamic
        self.frame = -1
        self.set_frame(0)

    def set_frame(self, frame: int) -> None:
        """Show frame `frame` (an index into the tracks, 0..num_frames-1; shorter tracks hide their people)."""
        if not 0 <= frame < self.num_frames:
            raise IndexError(f"frame {frame} out of range: the scene has {self.num_frames} frames")
        for (k, p), geom in self._skeletons:
            pts = self.tracks[k]
            geom.update(pts[frame, p] if frame < len(pts) else np.full(pts.shape[2:], np.nan))
        for traj in self._trajectories:
            traj.update(frame)
        self.frame = frame

    def points_at(self, frame: int) -> np.ndarray:
        """(n, 3) finite joints of all tracks and people at `frame`, m."""
        pts = [p[frame].reshape(-1, 3) for p in self.tracks if frame < len(p)]
        pts = np.concatenate(pts) if pts else np.zeros((0, 3))
        return pts[np.isfinite(pts).all(-1)]

    def all_points(self) -> np.ndarray:
        """(n, 3) every finite joint of every frame, m."""
        pts = np.concatenate([p.reshape(-1, 3) for p in self.tracks]) if self.tracks else np.zeros((0, 3))
        return pts[np.isfinite(pts).all(-1)]

    def legend(self) -> list[tuple[str, np.ndarray]]:
        """(name, RGB) of every (track, person), for legends."""
        out = []
        for track, cols in zip(self.names, self.colors, strict=True):
            for p, c in enumerate(cols):
                out.append((track if len(cols) == 1 else f"{track} #{p + 1}", c))
        return out


def build_scene(
    tracks: Sequence[Track],
    rig: Rig | None = None,
    *,
    up: ArrayLike | None = None,
    floor: bool | float = True,
    floor_step: float = 0.5,
    frusta: bool = True,
    frustum_size: float | None = None,
    labels: bool = False,
    label_facing: ArrayLike | None = None,
    trajectories: Sequence[str] | str | None = None,
    trail: int | None = None,
    bones: str = "cylinder",
    joint_radius: float = 0.025,
    bone_radius: float = 0.012,
    cuboids: Sequence[tuple[ArrayLike, ArrayLike]] = (),
    volume: dict | None = None,
) -> Scene:
    """Assemble a scene: every track's people with their own colours, the rig's frusta, a floor grid and more.

    Args:
        tracks: Results to overlay (e.g. triangulated and lifted), each with its own colours.
        rig: Cameras for frusta (and the up direction), any units.
        up: (3,) world up; default `infer_up(rig)` (Z-up without a rig).
        floor: True: a grid under the lowest joint (1st percentile over all frames); a number: the floor's
            height along `up`, m; False: no grid.
        floor_step: Grid spacing, m.
        frusta: Draw the rig's cameras.
        frustum_size: Frustum depth, m; default 6 % of the scene's extent (at least 0.15 m).
        labels: Add camera names as 3D text (`camera_labels`).
        label_facing: (3,) point the names face (the viewer's eye).
        trajectories: Joint names whose paths are drawn, "all", or None.
        trail: Frames of trajectory behind the current frame; None: whole paths.
        bones: "cylinder", "line" or "none".
        joint_radius: Sphere radius, m.
        bone_radius: Cylinder radius, m.
        cuboids: (center (3,), size) pairs in metres, drawn as boxes.
        volume: Keyword arguments of `volume_points` (values, coords or center and size, threshold).

    Returns:
        The `Scene`, showing frame 0.
    """
    rig_m = rig.to_units("m") if rig is not None else None
    up_v = infer_up(rig_m) if up is None else np.asarray(up, float) / np.linalg.norm(up)
    pts = [t.metres() for t in tracks]
    colors, skeletons, trajs, static, frustum_sets = [], [], [], [], {}
    slot = 0
    for k, (track, P) in enumerate(zip(tracks, pts, strict=True)):
        n_people, j = P.shape[1], P.shape[2]
        if track.skeleton is not None and track.skeleton.num_joints != j:
            raise ValueError(
                f"track {track.name!r}: skeleton {track.skeleton.name!r} has "
                f"{track.skeleton.num_joints} joints, the points {j}"
            )
        cols = (
            np.asarray(track.colors, float).reshape(n_people, 3)
            if track.colors is not None
            else PALETTE[(slot + np.arange(n_people)) % len(PALETTE)]
        )
        slot += n_people
        colors.append(cols)
        for p in range(n_people):
            geom = SkeletonGeometry(
                track.skeleton, j, color=cols[p], bones=bones, joint_radius=joint_radius, bone_radius=bone_radius
            )
            skeletons.append(((k, p), geom))
            if trajectories is not None:
                names = track.skeleton.joints if track.skeleton is not None else None
                if trajectories == "all":
                    idx = np.arange(j)
                else:
                    if names is None:
                        raise ValueError(f"track {track.name!r}: trajectories by name need a skeleton")
                    idx = np.array([names.index(n) for n in trajectories if n in names], int)
                if len(idx):
                    trajs.append(TrajectoryGeometry(P[:, p, idx], 0.5 * cols[p] + 0.25, trail=trail))
    all_pts = np.concatenate([P.reshape(-1, 3) for P in pts]) if pts else np.zeros((0, 3))
    all_pts = all_pts[np.isfinite(all_pts).all(-1)]
    ref = all_pts if len(all_pts) else (rig_m.centers if rig_m is not None else np.zeros((1, 3)))
    center = np.median(ref, 0)
    extent = np.ptp(np.concatenate([ref, rig_m.centers]) if rig_m is not None else ref, 0).max()
    if floor is not False:
        h = float(np.percentile(ref @ up_v, 1)) if floor is True else float(floor)
        size = max(2.0, extent * 1.2)
        static.append(floor_grid(center - up_v * (center @ up_v) + up_v * h, up=up_v, size=size, step=floor_step))
    if rig_m is not None and frusta:
        fs = frustum_size if frustum_size is not None else max(0.15, 0.06 * extent)
        for name in rig_m.names:
            frustum_sets[name] = frusta_lines(rig_m.subset([name]), size=fs)
            static.append(frustum_sets[name])
        if labels:
            static += camera_labels(rig_m, up=up_v, facing=label_facing, height=0.5 * fs, offset=0.6 * fs)
    for c, s in cuboids:
        static.append(cuboid_lines(c, s))
    if volume is not None:
        static.append(volume_points(**volume))
    names = [t.name or f"result {i + 1}" for i, t in enumerate(tracks)]
    return Scene(pts, names, rig_m, up_v, static, skeletons, trajs, colors, frustum_sets)

"""Geometry that moves: one person's skeleton (`SkeletonGeometry`: joint spheres, bone cylinders or lines) and
joint trajectories (`TrajectoryGeometry`), built once as Open3D objects and updated in place from numpy arrays,
so a video re-uses the same objects for every frame. Missing joints (NaN) are hidden by collapsing their
triangles or lines to a point, never by changing the number of vertices. Open3D is imported lazily.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.skeleton import Skeleton
from lift3d.viz._open3d import load_open3d, vector3
from lift3d.viz.colors import PALETTE, side_colors

__all__ = ["SkeletonGeometry", "TrajectoryGeometry"]


def _sphere_template(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    mesh = load_open3d().geometry.TriangleMesh.create_sphere(radius=1.0, resolution=resolution)
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
        o3d = load_open3d()
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
            mesh.vertices = vector3(np.zeros((num_joints * len(sv), 3)))
            mesh.triangles = o3d.utility.Vector3iVector(
                (st[None] + len(sv) * np.arange(num_joints)[:, None, None]).reshape(-1, 3).astype(np.int32)
            )
            mesh.vertex_normals = vector3(np.tile(sv, (num_joints, 1)))
            mesh.vertex_colors = vector3(np.repeat(jc, len(sv), 0))
            self._sphere = mesh
            self.geometries.append(mesh)
        if e and bones == "cylinder":
            cv, ct, cn = _cylinder_template(max(resolution, 6))
            self._cv, self._cn = cv, cn
            mesh = o3d.geometry.TriangleMesh()
            mesh.vertices = vector3(np.zeros((e * len(cv), 3)))
            mesh.triangles = o3d.utility.Vector3iVector(
                (ct[None] + len(cv) * np.arange(e)[:, None, None]).reshape(-1, 3).astype(np.int32)
            )
            mesh.vertex_normals = vector3(np.tile(cn, (e, 1)))
            mesh.vertex_colors = vector3(np.repeat(bc, len(cv), 0))
            self._cyl = mesh
            self.geometries.append(mesh)
        elif e and bones == "line":
            ls = o3d.geometry.LineSet()
            ls.points = vector3(np.zeros((2 * e, 3)))
            ls.lines = o3d.utility.Vector2iVector(np.arange(2 * e, dtype=np.int32).reshape(e, 2))
            ls.colors = vector3(bc)
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
            self._sphere.vertices = vector3((X[:, None] + r[:, None, None] * self._sv[None]).reshape(-1, 3))
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
            self._cyl.vertices = vector3(v.reshape(-1, 3))
            self._cyl.vertex_normals = vector3(np.einsum("eij,kj->eki", R, self._cn).reshape(-1, 3))
        if self._lines is not None:
            b = np.where(ok_e[:, None], b, a)
            self._lines.points = vector3(np.stack([a, b], 1).reshape(-1, 3))


class TrajectoryGeometry:
    """Paths of some joints over time as one LineSet; `update(frame)` shows the `trail` frames up to `frame`."""

    def __init__(self, points: ArrayLike, color: ArrayLike, *, trail: int | None = None):
        """Build the lines.

        Args:
            points: (t, k, 3) positions of k joints over t frames, m; NaN breaks a path.
            color: (3,) or (k, 3) RGB in [0, 1].
            trail: Frames shown behind the current one; None shows whole paths (static).
        """
        o3d = load_open3d()
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
        self.lineset.colors = vector3(np.tile(colors, (max(t - 1, 0), 1)))
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
        self.lineset.points = vector3(np.stack([a, b], 1).reshape(-1, 3))

"""Open3D scenes: every result's people, the rig's frusta, a floor grid, trajectories, cuboids and volumes
assembled by `build_scene` into a `Scene` whose `set_frame` moves the dynamic parts.

Every builder works in metres and world axes of the rig (x_cam = R X + t, OpenCV camera frame). The pieces live
in `lift3d.viz.skeleton_geometry` (what moves), `lift3d.viz.static_geometry` (what stays) and
`lift3d.viz.colors` (each (result, person) pair gets one hue from `PALETTE`; left joints and bones are drawn
lighter and right ones darker than that hue). Open3D is imported lazily, inside the functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.rig import Rig
from lift3d.core.skeleton import Skeleton
from lift3d.viz.colors import PALETTE
from lift3d.viz.skeleton_geometry import SkeletonGeometry, TrajectoryGeometry
from lift3d.viz.static_geometry import camera_labels, cuboid_lines, floor_grid, frusta_lines, volume_points

__all__ = ["Track", "Scene", "build_scene", "infer_up"]


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

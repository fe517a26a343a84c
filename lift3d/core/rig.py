"""A named set of calibrated cameras (a rig).

`Rig` is the in-memory form of every calibration file lift3d reads or writes (anipose / Pose2Sim TOML,
Qualisys `.qca.txt`, OpenCV YAML, Human3.6M camera tables). Readers and writers live in `lift3d.io`
(`lift3d.io.rigs.load_rig` reads any of them).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lift3d.errors import InputWarning, RigFileError, UnknownCameraError
from lift3d.geometry.camera import Camera, stack_cameras

__all__ = ["Rig", "SOURCE_KEY", "match_camera_names"]

SOURCE_KEY = "_source"  # rig.metadata key where readers record the file a rig came from (never written out)

MAX_SPREAD_M = 1000.0  # cameras farther apart than this (m) are refused: millimetres read as metres
MIN_SPREAD_M = 0.01  # cameras all within this (m) are refused: metres read as millimetres
SAME_CENTRE_M = 1e-3  # two centres closer than this (m) share a position (no baseline)
SAME_ANGLE_DEG = 1.0  # two rotations closer than this (degrees) share an orientation
_DECLARE_MM = 'if the file holds millimetres, declare them (TOML: units = "mm" in its [metadata] table)'


@dataclasses.dataclass(frozen=True)
class Rig:
    """Cameras with names and world units.

    Attributes:
        names: One name per camera, e.g. ("cam_01", "cam_02").
        cameras: The cameras as one batched `Camera` of batch shape (v,), float64 numpy arrays.
        units: Unit of the world frame and of `cameras.t` ("m" or "mm").
        metadata: Free-form metadata kept from the file (e.g. TOML `[metadata]`: adjusted, error). Keys that
            start with "_" are private to the readers and writers (`metadata["_source"]`: the file read).
    """

    names: tuple[str, ...]
    cameras: Camera
    units: str = "m"
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        if self.cameras.batch_shape != (len(self.names),):
            raise ValueError(
                f"a rig of {len(self.names)} names needs cameras of batch shape ({len(self.names)},), "
                f"got {self.cameras.batch_shape}"
            )
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"camera names must be unique, got {self.names}")
        if self.units not in ("m", "mm"):
            raise ValueError(f"rig units must be 'm' or 'mm', got {self.units!r}")

    @classmethod
    def from_cameras(cls, names: Sequence[str], cameras: Sequence[Camera], **kwargs) -> Rig:
        """Build a rig from single cameras (stacked into one batch)."""
        return cls(names=tuple(names), cameras=stack_cameras(list(cameras)), **kwargs)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Position of a camera by name.

        Raises:
            UnknownCameraError: (a `KeyError` and a `RigFileError`) naming the rig's file, the camera and the
                field, and listing the rig's names.
        """
        try:
            return self.names.index(name)
        except ValueError:
            source = self.metadata.get(SOURCE_KEY)
            where = f"{source}: " if source else "this rig: "
            raise UnknownCameraError(
                f"{where}no camera named {name!r} (field 'name'); cameras are {list(self.names)}", name
            ) from None

    def __getitem__(self, name_or_index: str | int) -> Camera:
        """One camera, by name or position."""
        i = self.index(name_or_index) if isinstance(name_or_index, str) else name_or_index
        return self.cameras[i]

    def match(self, views: Sequence[str]) -> Rig:
        """The rig restricted to (and ordered as) views named like its cameras (`match_camera_names`).

        Args:
            views: View names, e.g. keypoint folder names ("cam1_json") or video names ("Cam1.mp4").

        Returns:
            A `Rig` with one camera a view, in the order of `views` (its names are the rig's).

        Raises:
            UnknownCameraError: A view with no camera of that name (naming it and the rig's cameras), or one
                that matches two cameras, or two views that match one camera (naming both sides).
        """
        source = self.metadata.get(SOURCE_KEY)
        return self.subset(match_camera_names(views, self.names, where=f"{source}: " if source else "this rig: "))

    def subset(self, names: Sequence[str]) -> Rig:
        """The rig restricted to (and ordered as) the given camera names."""
        idx = [self.index(n) for n in names]
        return dataclasses.replace(self, names=tuple(names), cameras=self.cameras[np.asarray(idx)])

    def to_units(self, units: str) -> Rig:
        """The same rig with translations expressed in "m" or "mm"."""
        if units == self.units:
            return self
        factor = {("m", "mm"): 1000.0, ("mm", "m"): 1e-3}[(self.units, units)]
        cams = self.cameras.replace(t=np.asarray(self.cameras.t) * factor)
        return dataclasses.replace(self, cameras=cams, units=units)

    def check(self) -> list[str]:
        """Refuse a rig that cannot be right for 3D work; warn about one that looks wrong.

        Refused (`RigFileError`, naming the file and the cameras): non-finite parameters; every camera at one
        pose (a rig of intrinsics only); two cameras with the same pose (centres within `SAME_CENTRE_M`,
        rotations within `SAME_ANGLE_DEG`: nothing can be triangulated between them, usually extrinsics copied
        from another camera); cameras more than `MAX_SPREAD_M` apart, or one camera 20 times farther from the
        others than they are from each other and over 50 m (millimetres read as metres); cameras all within
        `MIN_SPREAD_M` (metres read as millimetres). Warned (`InputWarning`): two cameras at one centre
        looking different ways (no depth between them).

        Returns:
            The warnings given (one line each), for a summary.

        Raises:
            RigFileError: As above; the message says what to fix.
        """
        where = f"{self.metadata.get(SOURCE_KEY) or 'rig'}"
        R, K = np.asarray(self.cameras.R, np.float64), np.asarray(self.cameras.K, np.float64)
        for name, value in (("rotation", R), ("translation", np.asarray(self.cameras.t)), ("matrix", K)):
            bad = ~np.isfinite(value.reshape(len(self), -1)).all(1)
            if bad.any():
                raise RigFileError(f"{where}: camera {self.names[int(np.argmax(bad))]!r}: field '{name}' is not finite")
        if len(self) < 2:
            return []
        scale = 1.0 if self.units == "m" else 1e-3
        c = self.centers * scale
        dist = np.linalg.norm(c[:, None] - c[None], axis=-1)
        cos = np.clip((np.einsum("aij,bij->ab", R, R) - 1) / 2, -1.0, 1.0)
        angle = np.degrees(np.arccos(cos))
        same_centre, same_pose = dist < SAME_CENTRE_M, (dist < SAME_CENTRE_M) & (angle < SAME_ANGLE_DEG)
        if same_pose.all() and np.allclose(R, np.eye(3), atol=1e-9) and np.allclose(c, 0.0, atol=1e-9):
            raise RigFileError(f"{where}: all {len(self)} cameras sit at the origin looking along +z (a rig of "
                               "intrinsics only, e.g. from lift3d calibrate intrinsics): 3D needs the cameras' "
                               "poses; calibrate them "
                               "(lift3d calibrate extrinsics) or use the rig file that has them")  # fmt: skip
        pairs = [(a, b) for a in range(len(self)) for b in range(a + 1, len(self))]
        for a, b in pairs:
            if same_pose[a, b]:
                raise RigFileError(
                    f"{where}: cameras {self.names[a]!r} and {self.names[b]!r} have the same pose (centres "
                    f"{dist[a, b] * 1000:.2g} mm apart, rotations {angle[a, b]:.2g} degrees apart): no baseline, "
                    "nothing can be triangulated between them; one camera's extrinsics were probably copied "
                    "from the other: recalibrate it or remove it from the rig"
                )
        spread = float(dist.max())
        off = np.linalg.norm(c - np.median(c, axis=0), axis=-1)
        far = int(np.argmax(off))
        rest = float(np.delete(np.delete(dist, far, 0), far, 1).max()) if len(self) > 2 else np.inf
        if off[far] > 50.0 and off[far] > 20 * rest:
            raise RigFileError(
                f"{where}: camera {self.names[far]!r} is {off[far]:.0f} m from the others (which are within "
                f"{rest:.2g} m of each other): its translation looks like millimetres read as metres; write it "
                f"in the file's units ({self.units})"
            )
        if spread > MAX_SPREAD_M:
            raise RigFileError(
                f"{where}: the cameras are {spread:.0f} m apart (e.g. {self.names[far]!r} {off[far]:.0f} m from "
                f"their middle), implausible for a capture: the translations look like millimetres read as "
                f"metres; {_DECLARE_MM}"
            )
        if spread < SAME_CENTRE_M:
            raise RigFileError(f"{where}: all cameras share one centre (no baseline): nothing can be triangulated")
        if spread < MIN_SPREAD_M:
            raise RigFileError(
                f"{where}: the cameras are all within {spread * 1000:.2g} mm of each other (units "
                f"{self.units!r}): the translations look like metres read as millimetres; write units = \"m\" "
                "in its [metadata] table (TOML) or check the translations"
            )
        notes = []
        for a, b in pairs:
            if same_centre[a, b] and not same_pose[a, b]:
                notes.append(f"{where}: cameras {self.names[a]!r} and {self.names[b]!r} share a centre (no "
                             "baseline): no depth comes from this pair")  # fmt: skip
        for note in notes:
            warnings.warn(note, InputWarning, stacklevel=2)
        return notes

    @property
    def centers(self) -> np.ndarray:
        """Camera centres in the world, shape (v, 3), in `units`."""
        R, t = np.asarray(self.cameras.R), np.asarray(self.cameras.t)
        return -np.einsum("vji,vj->vi", R, t)  # numpy keeps float64 without JAX's x64 mode


_FILE_SUFFIXES = re.compile(r"(\.(json|npz|csv|h5|mp4|avi|mov|mkv|m4v|webm|mpg|mpeg|wmv))+$", re.IGNORECASE)


def _spelling(name: str) -> str:
    """"Cam-01" -> "cam01": lower case without punctuation."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _numbers(name: str) -> tuple[int, ...]:
    """The integers in a camera name without its file suffix: "cam1_json" -> (1,), "Cam01.mp4" -> (1,)."""
    return tuple(int(n) for n in re.findall(r"\d+", _FILE_SUFFIXES.sub("", name)))


def match_camera_names(views: Sequence[str], cameras: Sequence[str], *, where: str = "") -> list[str]:
    """The camera each view shows: by name, by spelling, by the numbers in the names, or by order.

    Each view is matched by the first rule that applies: the exact name; the name lower-cased without
    punctuation ("Cam-01" = "cam01"); the integers in the names, file suffixes dropped ("cam1_json",
    "cam_1", "Cam1.mp4" and "cam01" are all camera 1). When no view shares a number with any camera and
    there are as many views as cameras (two or more), the views are taken in the rig's order and the mapping is
    printed as a warning (`InputWarning`).

    Args:
        views: v view names (keypoint folders, files or videos).
        cameras: The rig's camera names.
        where: Prefix of error messages (the rig file).

    Returns:
        v camera names, one per view.

    Raises:
        UnknownCameraError: A view that matches no camera, a view whose numbers match two cameras, or two views
            that match one camera; the message names both sides.
    """
    cameras = list(cameras)
    by_spelling = {_spelling(c): c for c in cameras}
    matched: list[str | None] = []
    for view in views:
        name = view if view in cameras else by_spelling.get(_spelling(view))
        if name is None and _numbers(view):
            hits = [c for c in cameras if _numbers(c) == _numbers(view)]
            if len(hits) > 1:
                raise UnknownCameraError(f"{where}view {view!r} matches cameras {hits} by number; rename the "
                                         f"view or the cameras so one matches", view)  # fmt: skip
            name = hits[0] if hits else None
        matched.append(name)
    if None in matched:
        view_numbers = {n for v in views for n in _numbers(v)}
        camera_numbers = {n for c in cameras for n in _numbers(c)}
        by_order = len(views) == len(cameras) > 1  # one view and one camera of other names is no order, a mistake
        if not any(matched) and by_order and not view_numbers & camera_numbers:
            mapping = ", ".join(f"{v} -> {c}" for v, c in zip(views, cameras, strict=True))
            warnings.warn(f"{where}view names share no numbers with the cameras; matched in the rig's order: "
                          f"{mapping}", InputWarning, stacklevel=3)  # fmt: skip
            return cameras
        view = views[matched.index(None)]
        raise UnknownCameraError(f"{where}no camera matches view {view!r}; cameras are {cameras}", view)
    for i, name in enumerate(matched):
        if name in matched[:i]:
            first = views[matched.index(name)]
            raise UnknownCameraError(f"{where}views {first!r} and {views[i]!r} both match camera {name!r}; "
                                     f"give each camera's keypoints once", views[i])  # fmt: skip
    return [str(m) for m in matched]

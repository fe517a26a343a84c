"""A named set of calibrated cameras (a rig).

`Rig` is the in-memory form of every calibration file lift3d reads or writes (anipose / Pose2Sim TOML,
Qualisys `.qca.txt`, OpenCV YAML, Human3.6M camera tables). Readers and writers live in `lift3d.io`
(`lift3d.io.rigs.load_rig` reads any of them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lift3d.errors import UnknownCameraError
from lift3d.geometry.camera import Camera, stack_cameras

__all__ = ["Rig", "SOURCE_KEY"]

SOURCE_KEY = "_source"  # rig.metadata key where readers record the file a rig came from (never written out)


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
        """The rig restricted to (and ordered as) views named like its cameras: "cam01" matches "cam_01", "Cam-01".

        Names are compared exactly first, then lower-cased without punctuation.

        Args:
            views: View names, e.g. keypoint folder names.

        Returns:
            A `Rig` with one camera a view, in the order of `views` (its names are the rig's).

        Raises:
            UnknownCameraError: A view with no camera of that name (naming it and the rig's cameras).
        """
        key = lambda name: re.sub(r"[^0-9a-z]", "", name.lower())  # noqa: E731
        by_key = {key(n): n for n in self.names}
        names = []
        for view in views:
            name = view if view in self.names else by_key.get(key(view))
            if name is None:
                source = self.metadata.get(SOURCE_KEY)
                where = f"{source}: " if source else "this rig: "
                message = f"{where}no camera matches view {view!r}; cameras are {list(self.names)}"
                raise UnknownCameraError(message, view)
            names.append(name)
        return self.subset(names)

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

    @property
    def centers(self) -> np.ndarray:
        """Camera centres in the world, shape (v, 3), in `units`."""
        R, t = np.asarray(self.cameras.R), np.asarray(self.cameras.t)
        return -np.einsum("vji,vj->vi", R, t)  # numpy keeps float64 without JAX's x64 mode

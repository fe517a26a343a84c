"""3D joint trajectories over time (`Motion`), and the Z-up <-> Y-up axis converters. No I/O here.

`Motion` is what `lift3d.io.motion.read_motion` returns. lift3d's world is the rig's (Z-up for Pose2Sim /
Qualisys data); `zup_to_yup` is the cyclic rotation (x, y, z) -> (y, z, x) with which Pose2Sim writes Y-up TRC
for OpenSim (a proper rotation, so handedness is kept), `yup_to_zup` its inverse.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Motion", "zup_to_yup", "yup_to_zup", "UNITS"]

UNITS = {"m": 1.0, "mm": 1e-3}
"""Metres per unit of each world unit lift3d writes."""


def zup_to_yup(points: ArrayLike) -> np.ndarray:
    """Z-up to Y-up axes as Pose2Sim writes TRC for OpenSim: (x, y, z) -> (y, z, x).

    Args:
        points: (..., 3) coordinates.

    Returns:
        (..., 3) float64 coordinates; `yup_to_zup` is the inverse.
    """
    return np.asarray(points, dtype=np.float64)[..., [1, 2, 0]]


def yup_to_zup(points: ArrayLike) -> np.ndarray:
    """Inverse of `zup_to_yup`: (x, y, z) -> (z, x, y).

    Args:
        points: (..., 3) coordinates.

    Returns:
        (..., 3) float64 coordinates.
    """
    return np.asarray(points, dtype=np.float64)[..., [2, 0, 1]]


@dataclasses.dataclass(frozen=True, eq=False)
class Motion:
    """3D joint trajectories as read from a file.

    Attributes:
        points: (t, j, 3) float64 coordinates in `units`, axes as stored; NaN where missing.
        joint_names: j names.
        fps: Frame rate (Hz).
        units: "m" or "mm".
        frame_ids: (t,) int64 frame numbers.
        time: (t,) seconds, as stored (TRC, CSV) or frame_ids / fps.
        error: (t, j) reprojection error (px), NaN where missing, or None if the file has none.
        ncams: (t, j) number of cameras used (float, NaN where missing), or None.
        score: (t, j) score, or None.
        y_up: True / False when the file records its vertical axis (npz, C3D), else None.
        source: The file read.
    """

    points: np.ndarray
    joint_names: tuple[str, ...]
    fps: float
    units: str
    frame_ids: np.ndarray
    time: np.ndarray
    error: np.ndarray | None = None
    ncams: np.ndarray | None = None
    score: np.ndarray | None = None
    y_up: bool | None = None
    source: str = ""

    @property
    def num_frames(self) -> int:
        """t: number of frames."""
        return self.points.shape[0]

    def to_units(self, units: str) -> Motion:
        """The same motion with `points` (t, j, 3) in "m" or "mm"."""
        return dataclasses.replace(
            self, points=self.points * (UNITS[self.units] / UNITS[units]), units=units
        )

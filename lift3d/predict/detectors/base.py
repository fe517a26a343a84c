"""The detector interface: `PoseDetector` (one image in, `FrameDetections` out).

Conventions, the same as every keypoint reader's (`lift3d.core.keypoints.Keypoints2D`): pixel coordinates
(x, y) with pixel centres at integer coordinates (OpenCV's), NaN and confidence 0 where a joint is missing.
Images are OpenCV's BGR uint8 arrays. A detector may keep state between the frames of one video (BlazePose
tracks its region of interest); `reset()` forgets it before the next video.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np

from lift3d.core.skeleton import Skeleton

__all__ = ["FrameDetections", "PoseDetector"]


@dataclasses.dataclass(frozen=True)
class FrameDetections:
    """The people one detector found in one image.

    Attributes:
        points: (p, j, 2) float32 pixel coordinates (x, y), pixel centres at integer coordinates; NaN where
            a joint is missing. p may be 0.
        confidence: (p, j) float32 in [0, 1]; 0 exactly where `points` is NaN.
        score: (p,) float32 person score in [0, 1].
    """

    points: np.ndarray
    confidence: np.ndarray
    score: np.ndarray

    def __post_init__(self):
        p = self.points.shape[0]
        if self.points.ndim != 3 or self.points.shape[2] != 2:
            raise ValueError(f"points must have shape (p, j, 2), got {self.points.shape}")
        if self.confidence.shape != self.points.shape[:2] or self.score.shape != (p,):
            raise ValueError(
                f"confidence (p, j) and score (p,) must match points {self.points.shape}, "
                f"got {self.confidence.shape} and {self.score.shape}"
            )

    @classmethod
    def empty(cls, num_joints: int) -> FrameDetections:
        """No person found."""
        return cls(np.zeros((0, num_joints, 2), np.float32), np.zeros((0, num_joints), np.float32),
                   np.zeros((0,), np.float32))  # fmt: skip


@runtime_checkable
class PoseDetector(Protocol):
    """What `lift3d detect` needs from a detector: a skeleton, a name, `detect` and `reset`."""

    skeleton: Skeleton  # the joint layout of `FrameDetections.points` (j joints)
    name: str  # shown in summaries and written into the outputs

    def detect(self, image: np.ndarray) -> FrameDetections:
        """Find people in one (h, w, 3) BGR uint8 image."""
        ...

    def reset(self) -> None:
        """Forget state carried between frames (call before each new video)."""
        ...

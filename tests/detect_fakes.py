"""Fake pose detectors for `lift3d detect` tests (``make_detector("detect_fakes:dots")``).

`DotDetector` finds coloured dots drawn by the tests: a green dot is COCO joint 0 (nose), a red dot joint 1
(left eye); the other joints are missing. No dot: no person.
"""

from __future__ import annotations

import numpy as np

from lift3d.core.skeleton import get_skeleton
from lift3d.predict.detectors import FrameDetections

CALLS = {"made": 0, "frames": 0}  # counts, reset by the tests
GREEN, RED = (0, 255, 0), (0, 0, 255)  # BGR


def draw_dots(width: int, height: int, green: tuple[int, int] | None, red: tuple[int, int] | None) -> np.ndarray:
    """A black (h, w, 3) BGR frame with 5x5 dots centred on the given pixels."""
    image = np.zeros((height, width, 3), np.uint8)
    for colour, where in ((GREEN, green), (RED, red)):
        if where is not None:
            x, y = where
            image[y - 2 : y + 3, x - 2 : x + 3] = colour
    return image


class DotDetector:
    """Joint 0 at the green dot's centroid, joint 1 at the red dot's (colour thresholds survive compression)."""

    def __init__(self, interrupt_at: int | None = None, **options):
        self.skeleton = get_skeleton("coco")
        self.name = "dots"
        self.options = options
        self.interrupt_at = interrupt_at
        self.videos = 0
        self.frames = 0
        CALLS["made"] += 1

    def reset(self) -> None:
        self.videos += 1
        self.frames = 0

    def detect(self, image: np.ndarray) -> FrameDetections:
        CALLS["frames"] += 1
        self.frames += 1
        if self.interrupt_at is not None and self.videos >= 2 and self.frames == self.interrupt_at:
            raise KeyboardInterrupt
        b, g, r = (image[..., i].astype(int) for i in range(3))
        j = self.skeleton.num_joints
        points = np.full((1, j, 2), np.nan, np.float32)
        conf = np.zeros((1, j), np.float32)
        for joint, mask in ((0, (g > 128) & (r < 100) & (b < 100)), (1, (r > 128) & (g < 100) & (b < 100))):
            ys, xs = np.nonzero(mask)
            if len(xs):
                points[0, joint] = xs.mean(), ys.mean()
                conf[0, joint] = 0.9
        if not conf.any():
            return FrameDetections.empty(j)
        return FrameDetections(points, conf, np.array([0.9], np.float32))


def dots(**options) -> DotDetector:
    """The factory `make_detector("detect_fakes:dots")` calls."""
    return DotDetector(**options)


def interrupting(**options) -> DotDetector:
    """A detector whose 3rd frame of the 2nd video raises KeyboardInterrupt (Ctrl-C mid-camera)."""
    return DotDetector(interrupt_at=3, **options)

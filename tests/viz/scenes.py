"""Shared by the viz tests: a standing person (H36M-17), a walk, a small three-camera rig, blob centres and PNG
sizes. Imported as `viz.scenes` (the tests folder is on the path)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from lift3d.core.rig import Rig
from lift3d.core.skeleton import H36M_17
from lift3d.viz import viewpoints

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RIG_TOML = SHARED / "pose2sim_trials" / "Calib_qualisys_from_v0.4.15.toml"
needs_shared = pytest.mark.skipif(not RIG_TOML.is_file(), reason="../shared/data is not present")

_POSE = {  # a standing person, metres, Z up, facing -y
    "pelvis": (0, 0, 0.95), "right_hip": (-0.12, 0, 0.93), "right_knee": (-0.13, 0.02, 0.52),
    "right_ankle": (-0.14, 0.05, 0.08), "left_hip": (0.12, 0, 0.93), "left_knee": (0.13, 0.02, 0.52),
    "left_ankle": (0.14, 0.05, 0.08), "spine": (0, 0.01, 1.2), "thorax": (0, 0, 1.45), "neck_nose": (0, -0.08, 1.55),
    "head": (0, -0.02, 1.7), "left_shoulder": (0.19, 0, 1.43), "left_elbow": (0.32, 0, 1.17),
    "left_wrist": (0.38, -0.08, 0.92), "right_shoulder": (-0.19, 0, 1.43), "right_elbow": (-0.32, 0, 1.17),
    "right_wrist": (-0.38, -0.08, 0.92),
}  # fmt: skip
POSE = np.array([_POSE[j] for j in H36M_17.joints], float)


def walking(t=6):
    """(t, 17, 3) the pose moving 10 cm a frame along x, with the left wrist missing in frame 1."""
    pts = POSE[None] + np.arange(t)[:, None, None] * np.array([0.1, 0, 0])
    pts[1, H36M_17.index("left_wrist")] = np.nan
    return pts


def small_rig(size=(320, 240)) -> Rig:
    cams = []
    for a in (0.0, 2.0, 4.0):
        eye = np.array([3.5 * np.sin(a), -3.5 * np.cos(a), 1.6])
        cams.append(viewpoints.look_at(eye, [0, 0, 0.9], image_size=size, fov_deg=50))
    return Rig.from_cameras(["front", "left", "back"], cams, units="m")


def blobs(img: np.ndarray, min_area: int = 3) -> np.ndarray:
    """(n, 2) centres of the bright blobs of an (h, w, 3) image, px."""
    mask = (img.min(-1) > 128).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask)
    return centroids[1:][stats[1:, cv2.CC_STAT_AREA] >= min_area]


def png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG file, px."""
    img = cv2.imread(str(path))
    return img.shape[1], img.shape[0]

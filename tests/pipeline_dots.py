"""A synthetic session for `lift3d run` (a walking stick figure drawn as one coloured dot per COCO-17 joint
into lossless videos of a 4-camera rig) and the detector that finds the dots (`make_detector`'s
``"pipeline_dots:make"``; tests/ is on the path, and spawned workers inherit it)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lift3d.core.rig import Rig
from lift3d.core.skeleton import get_skeleton
from lift3d.geometry.camera import Camera, project_points
from lift3d.io.rig_toml import save_rig
from lift3d.predict.detectors.base import FrameDetections

SIZE = (640, 480)  # w, h
FPS = 30.0
RADIUS = 5  # px
BACKGROUND = (64, 64, 64)
COLOURS = [(b, g, r) for b in (0, 128, 255) for g in (0, 128, 255) for r in (0, 128, 255)
           if (b, g, r) != (0, 0, 0) and len({b, g, r}) > 1][:17]  # fmt: skip
TEMPLATE = np.array([  # COCO-17, metres, the body's frame: x to its left, y forward, z up
    [0, 0.10, 1.62], [0.035, 0.07, 1.67], [-0.035, 0.07, 1.67], [0.08, 0, 1.63], [-0.08, 0, 1.63],
    [0.19, 0, 1.42], [-0.19, 0, 1.42], [0.21, 0, 1.13], [-0.21, 0, 1.13], [0.22, 0.02, 0.88],
    [-0.22, 0.02, 0.88], [0.11, 0, 0.95], [-0.11, 0, 0.95], [0.12, 0.03, 0.52], [-0.12, 0.03, 0.52],
    [0.12, 0, 0.08], [-0.12, 0, 0.08]])  # fmt: skip


def rig(v: int = 4) -> Rig:
    """`v` cameras on a 3.5 m ring at 1.2-1.6 m height, looking at (0, 0, 1); 640 x 480 px, f = 600 px."""
    ang = np.linspace(0, 2 * np.pi, v, endpoint=False) + 0.4
    centres = np.stack([3.5 * np.cos(ang), 3.5 * np.sin(ang), 1.4 + 0.2 * np.sin(2 * ang)], -1)
    rotations, translations = [], []
    for c in centres:
        z = np.array([0, 0, 1.0]) - c
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        rotations.append(R)
        translations.append(-R @ c)
    K = np.tile(np.array([[600.0, 0, 319.5], [0, 600, 239.5], [0, 0, 1]]), (v, 1, 1))
    cams = Camera.create(K, R=np.array(rotations), t=np.array(translations), dist=np.zeros((v, 5)),
                         image_size=np.tile(np.array(SIZE, float), (v, 1)))  # fmt: skip
    return Rig(names=tuple(f"cam{k + 1:02d}" for k in range(v)), cameras=cams, units="m")


def motion(frames: int = 90, phase: float = 0.0) -> np.ndarray:
    """(frames, 17, 3) m: the figure sways and turns slowly, raises its left arm once and jumps once (a
    movement every camera sees alike, for the sync)."""
    t = np.arange(frames) / FPS + phase
    heading = 0.4 * np.sin(2 * np.pi * 0.3 * t)
    jump = 0.15 * np.exp(-0.5 * ((t - 1.8) / 0.12) ** 2)
    root = np.stack([0.2 * np.sin(2 * np.pi * 0.25 * t), 0.15 * np.cos(2 * np.pi * 0.2 * t), jump], -1)
    raise_ = 1.3 * np.exp(-0.5 * ((t - 0.9) / 0.2) ** 2)  # rad, about the left shoulder's forward axis
    points = np.repeat(TEMPLATE[None], frames, 0).copy()
    shoulder = TEMPLATE[5]
    for k in (7, 9):  # left elbow, left wrist
        d = TEMPLATE[k] - shoulder
        c, s = np.cos(raise_), np.sin(raise_)
        points[:, k, 0] = shoulder[0] + c * d[0] - s * d[2]
        points[:, k, 2] = shoulder[2] + s * d[0] + c * d[2]
    c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
    x, y = points[..., 0].copy(), points[..., 1].copy()
    points[..., 0], points[..., 1] = c * x - s * y, s * x + c * y
    return points + root[:, None]


def write_trial(folder: Path, points: np.ndarray, the_rig: Rig, *, calibration: bool = True,
                delays: dict[str, int] | None = None) -> Path:  # fmt: skip
    """TRIAL/videos/camNN.avi (FFV1, lossless) of `points` and, with `calibration`, TRIAL/calibration/rig.toml.
    A camera of `delays` started d frames late: its frame g shows frame g - d (its first frame before that)."""
    videos = folder / "videos"
    videos.mkdir(parents=True)
    if calibration:
        (folder / "calibration").mkdir()
        save_rig(the_rig, folder / "calibration" / "rig.toml")
    t, j = points.shape[:2]
    uv = np.asarray(project_points(the_rig.cameras, points.reshape(1, t * j, 3))).reshape(-1, t, j, 2)
    R, tr = np.asarray(the_rig.cameras.R), np.asarray(the_rig.cameras.t)
    depth = np.einsum("vik,tjk->vtji", R, points)[..., 2] + tr[:, None, None, 2]
    for v, name in enumerate(the_rig.names):
        writer = cv2.VideoWriter(str(videos / f"{name}.avi"), cv2.VideoWriter_fourcc(*"FFV1"), FPS, SIZE)
        for g in range(t):
            f = max(g - (delays or {}).get(name, 0), 0)
            image = np.full((SIZE[1], SIZE[0], 3), BACKGROUND, np.uint8)
            for k in np.argsort(-depth[v, f]):  # far dots first: the near one covers
                centre = tuple(int(round(c * 16)) for c in uv[v, f, k])
                cv2.circle(image, centre, RADIUS * 16, COLOURS[k], -1, cv2.LINE_8, shift=4)
            writer.write(image)
        writer.release()
    return folder


_LEVEL = np.full(256, 3, np.uint8)  # channel value -> 0, 1, 2 for 0, 128, 255; 3 for anything else
_LEVEL[[0, 128, 255]] = [0, 1, 2]
_JOINT_OF_CODE = np.full(64, -1, np.int64)
for _k, _c in enumerate(COLOURS):
    _JOINT_OF_CODE[_LEVEL[list(_c)] @ np.array([16, 4, 1])] = _k


class DotDetector:
    """Finds each joint's dot by its exact colour; a dot partly covered by a nearer one is reported missing."""

    name = "dots"

    def __init__(self, **options):
        self.skeleton = get_skeleton("coco")
        self.calls = 0

    def detect(self, image: np.ndarray) -> FrameDetections:
        self.calls += 1
        code = _LEVEL[image].astype(np.int64) @ np.array([16, 4, 1])  # (h, w): one code per colour
        joint = _JOINT_OF_CODE[code].ravel()
        keep = joint >= 0
        ys, xs = np.divmod(np.flatnonzero(keep), image.shape[1])
        count = np.bincount(joint[keep], minlength=17)
        sx, sy = np.bincount(joint[keep], xs, 17), np.bincount(joint[keep], ys, 17)
        seen = count > 0.85 * np.pi * RADIUS**2  # a dot partly covered by a nearer one is not trusted
        if not seen.any():
            return FrameDetections.empty(17)
        points = np.where(seen[:, None], np.stack([sx, sy], -1) / np.maximum(count, 1)[:, None], np.nan)
        conf = np.where(seen, 0.95, 0.0)
        return FrameDetections(points[None].astype(np.float32), conf[None].astype(np.float32),
                               np.array([0.95], np.float32))  # fmt: skip

    def reset(self) -> None:
        pass


def make(**options) -> DotDetector:
    """The factory named by ``--detector pipeline_dots:make``."""
    return DotDetector(**options)

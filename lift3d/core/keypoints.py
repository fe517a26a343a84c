"""2D keypoints of several cameras over time (`Keypoints2D`), and their pairing with a rig's cameras.

`Keypoints2D` is what every keypoint reader of `lift3d.io` returns (the readers live in `lift3d.io.keypoints`
and its format modules); `match_views` pairs its views with the cameras of a `Rig` by name. No I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from lift3d.core.rig import Rig
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import CaptureInputError, UnknownCameraError

__all__ = ["Keypoints2D", "match_views"]


@dataclasses.dataclass(frozen=True, eq=False)
class Keypoints2D:
    """2D keypoints of several cameras over time, as read from files.

    Attributes:
        points: (t, v, p, j, 2) pixel coordinates (x, y), float32 or float64; NaN where missing.
        confidence: (t, v, p, j) detector confidence; 0 exactly where `points` is missing.
        views: v camera names.
        skeleton: The joint layout (j joints).
        frame_ids: (t,) int64 frame numbers, unique and increasing.
        fps: Frame rate if the file or the caller gave one, else None.
        source: The file or folder each view was read from.
        person_score: (t, v, p) per-detection score where the format has one (COCO results), else None.
        notes: Warnings raised while reading (missing frames, skipped files), for reports.
    """

    points: np.ndarray
    confidence: np.ndarray
    views: tuple[str, ...]
    skeleton: Skeleton
    frame_ids: np.ndarray
    fps: float | None = None
    source: tuple[str, ...] = ()
    person_score: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "views", tuple(str(v) for v in self.views))
        object.__setattr__(self, "source", tuple(str(s) for s in self.source))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "frame_ids", np.asarray(self.frame_ids, dtype=np.int64))
        t, v, j = len(self.frame_ids), len(self.views), self.skeleton.num_joints
        if self.points.ndim != 5 or self.points.shape[:2] != (t, v) or self.points.shape[3:] != (j, 2):
            raise ValueError(f"points must have shape ({t}, {v}, p, {j}, 2), got {self.points.shape}")
        if self.confidence.shape != self.points.shape[:4]:
            raise ValueError(
                f"confidence must have shape {self.points.shape[:4]}, got {self.confidence.shape}"
            )
        if self.person_score is not None and self.person_score.shape != self.points.shape[:3]:
            raise ValueError(
                f"person_score must have shape {self.points.shape[:3]}, got {self.person_score.shape}"
            )
        if len(set(self.views)) != v:
            twice = next(name for i, name in enumerate(self.views) if name in self.views[:i])
            raise CaptureInputError(f"view names must be unique: camera {twice!r} is given twice (views "
                                    f"{list(self.views)}); give each camera's keypoints once")  # fmt: skip
        if t > 1 and not np.all(np.diff(self.frame_ids) > 0):
            raise ValueError("frame_ids must be strictly increasing")

    @property
    def num_frames(self) -> int:
        """t: number of frames."""
        return self.points.shape[0]

    @property
    def num_views(self) -> int:
        """v: number of cameras."""
        return self.points.shape[1]

    @property
    def num_people(self) -> int:
        """p: the most detections in any frame and view (slots beyond a frame's count are missing)."""
        return self.points.shape[2]

    @property
    def valid(self) -> np.ndarray:
        """(t, v, p, j) bool: detected joints."""
        return self.confidence > 0

    def person(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Detection slot `index`: ``(points (t, v, j, 2), confidence (t, v, j))`` (slots are not people)."""
        return self.points[:, :, index], self.confidence[:, :, index]

    def select_views(self, names: Sequence[str]) -> Keypoints2D:
        """Views reordered / subset by name (e.g. to the order of a rig).

        Raises:
            KeyError: Naming the missing cameras and the available ones.
        """
        missing = [n for n in names if n not in self.views]
        if missing:
            raise KeyError(f"keypoints have no view(s) {missing}; views: {list(self.views)}")
        idx = [self.views.index(n) for n in names]
        sel = lambda a: None if a is None else a[:, idx]  # noqa: E731
        src = tuple(self.source[i] for i in idx) if len(self.source) == self.num_views else self.source
        return dataclasses.replace(
            self, points=sel(self.points), confidence=sel(self.confidence), views=tuple(names), source=src,
            person_score=sel(self.person_score),
        )  # fmt: skip

    def remap(self, skeleton: str | Skeleton) -> Keypoints2D:
        """Joints selected and reordered by name into another skeleton, e.g. OpenPose COCO-18 -> `COCO_17`.

        Raises:
            KeyError: If a joint of `skeleton` is not in this data's skeleton.
        """
        skeleton = get_skeleton(skeleton)
        missing = [n for n in skeleton.joints if n not in self.skeleton.joints]
        if missing:
            raise KeyError(f"cannot remap {self.skeleton.name!r} to {skeleton.name!r}: no joint(s) {missing}")
        idx = self.skeleton.indices(skeleton.joints)
        return dataclasses.replace(
            self, points=self.points[..., idx, :], confidence=self.confidence[..., idx], skeleton=skeleton
        )


def match_views(keypoints: Keypoints2D, rig: Rig) -> tuple[Keypoints2D, Rig]:
    """Pair keypoint views with rig cameras by name ("cam01" matches "cam_01", "Cam-01").

    Args:
        keypoints: Keypoints with view names (e.g. from the folder names).
        rig: The rig.

    Returns:
        Keypoints and rig restricted to the shared cameras, in the rig's order.

    Raises:
        ValueError: A keypoint camera that is not in the rig (naming both lists), or fewer than two cameras.
    """
    try:
        matched = rig.match(keypoints.views)
    except UnknownCameraError as err:
        view = err.name
        where = keypoints.source[keypoints.views.index(view)] if keypoints.source else "keypoints"
        raise CaptureInputError(f"keypoint camera {view!r} ({where}) is not in the rig (rig cameras: "
                                f"{list(rig.names)})") from err  # fmt: skip
    pairs = sorted(zip(matched.names, keypoints.views, strict=True), key=lambda p: rig.names.index(p[0]))
    if len(pairs) < 2:
        raise CaptureInputError(f"triangulation needs at least two cameras, got {[v for _, v in pairs]}")
    return keypoints.select_views([v for _, v in pairs]), rig.subset([r for r, _ in pairs])

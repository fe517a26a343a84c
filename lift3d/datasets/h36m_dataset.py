"""The in-memory Human3.6M dataset and its protocol: subjects, splits, action names, damaged takes.

`H36MDataset` holds `Sequence`s (world 3D in mm, H36M-17 joints in `lift3d.core.skeleton.H36M_17` order,
optional per-camera 2D in px and person boxes) and a `Rig` per subject (units mm). Readers and writers of the
three file layouts, and the cameras, live in `lift3d.datasets.h36m` (which re-exports everything here).

Names. Files name takes "<Action>[ <n>]" (VideoPose3D, Martinez) or "<Action>-<n>" (learnable-triangulation);
S1's Martinez files say "TakingPhoto"/"WalkingDog", learnable-triangulation says "TakingPhoto", "WalkingDog",
"WalkingTogether". `parse_action_name` maps every spelling to one of the 15 canonical `ACTIONS` (trials
merged: "Walking 1", "Walking" and "Walking-2" are all "Walking"); a take keeps its file name in
`Sequence.name`. Trial numbers do not correspond across layouts (learnable-triangulation's
``action_to_una_dinosauria`` table shows how irregular the real correspondence is).

Damaged takes: S9 "Greeting", "SittingDown 1", "Waiting 1" in VideoPose3D/Martinez naming, the same takes as
learnable-triangulation's "Greeting-2", "SittingDown-2", "Waiting-1" (their 3D is offset from the video;
learnable-triangulation drops them from its test set unless ``with_damaged_actions``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

import numpy as np

from lift3d.core.rig import Rig
from lift3d.core.skeleton import H36M_17, H36M_17_FROM_32
from lift3d.geometry.camera import project_points
from lift3d.io.h36m_formats import NUM_RAW_JOINTS

__all__ = [
    "SUBJECTS", "TRAIN_SUBJECTS", "TEST_SUBJECTS", "CAMERA_IDS", "ACTIONS", "DAMAGED_SEQUENCES",
    "parse_action_name", "Sequence", "H36MDataset", "H36MArrays", "CameraSamples", "expand_17_to_32",
]  # fmt: skip

SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
"""Subjects with 3D data and camera extrinsics."""
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)  # fmt: skip
"""The 15 canonical actions (Martinez' / VideoPose3D's spelling)."""
DAMAGED_SEQUENCES = frozenset(
    {("S9", "Greeting"), ("S9", "SittingDown 1"), ("S9", "Waiting 1"),
     ("S9", "Greeting-2"), ("S9", "SittingDown-2"), ("S9", "Waiting-1")}
)  # fmt: skip
"""(subject, file name) of the damaged takes, in VideoPose3D/Martinez and learnable-triangulation naming."""

_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog", "WalkingTogether": "WalkTogether"}
# Raw-32 joints H36M-17 does not use, written as `a + w (b - a)` of two used raw joints (distinct from both,
# so a wrong 32 -> 17 index map shows up in a round trip).
_FILL_32 = {
    4: (3, 2, -0.15), 5: (3, 2, -0.25), 9: (8, 7, -0.15), 10: (8, 7, -0.25), 11: (0, 12, 0.5),
    16: (13, 17, 0.3), 20: (19, 18, -0.15), 21: (19, 18, -0.25), 22: (19, 18, -0.2), 23: (19, 18, -0.3),
    24: (13, 25, 0.3), 28: (27, 26, -0.15), 29: (27, 26, -0.25), 30: (27, 26, -0.2), 31: (27, 26, -0.3),
}  # fmt: skip


def parse_action_name(name: str) -> tuple[str, str]:
    """Canonical action and trial suffix of a sequence name in any layout's spelling.

    Args:
        name: E.g. "Walking 1", "Walking", "Walking-2", "TakingPhoto 1", "WalkingDog-1".

    Returns:
        ``(action, trial)``, e.g. ("Walking", "1"), ("Walking", ""), ("Photo", "1"); names outside H36M's
        vocabulary keep their base unchanged.
    """
    m = re.fullmatch(r"(.*?)(?:[ _-](\d+))?", name.strip())
    base, trial = m.group(1), m.group(2) or ""
    return _ALIASES.get(base, base), trial


# ------------------------------------------------------------------------------------------------ dataset


@dataclasses.dataclass(frozen=True, eq=False)
class Sequence:
    """One take of one subject.

    Attributes:
        subject: "S1" ... "S11".
        name: The take's name in its file ("Walking 1", "TakingPhoto-2"); `action` merges trials.
        frames: Frame numbers in the original 50 Hz take, shape (t,), int64.
        points_3d: World joints, shape (t, 17, 3), mm, float32, H36M-17 order.
        points_2d: Per-camera joints, shape (t, v, 17, 2), px, float32 (cameras in the subject rig's order;
            NaN where unknown), or None.
        bboxes: Per-camera person boxes (left, top, right, bottom), shape (t, v, 4), px, float32 (NaN for a
            missing view), or None.
    """

    subject: str
    name: str
    frames: np.ndarray
    points_3d: np.ndarray
    points_2d: np.ndarray | None = None
    bboxes: np.ndarray | None = None

    def __post_init__(self):
        t = len(self.points_3d)
        where = f"sequence {self.subject}/{self.name}"
        if np.shape(self.points_3d) != (t, 17, 3) or np.shape(self.frames) != (t,):
            raise ValueError(
                f"{where}: points_3d must be (t, 17, 3) and frames (t,), got "
                f"{np.shape(self.points_3d)} and {np.shape(self.frames)}"
            )
        for field, tail in (("points_2d", (17, 2)), ("bboxes", (4,))):
            value = getattr(self, field)
            if value is not None and (
                np.ndim(value) != 2 + len(tail) or np.shape(value)[0] != t or np.shape(value)[2:] != tail
            ):
                raise ValueError(
                    f"{where}: {field} must be (t={t}, v, {', '.join(map(str, tail))}), got {np.shape(value)}"
                )

    @property
    def action(self) -> str:
        """Canonical action (trials merged), e.g. "Walking" for "Walking 1"."""
        return parse_action_name(self.name)[0]

    def __len__(self) -> int:
        return len(self.frames)

    def take(self, index: np.ndarray) -> Sequence:
        """The sequence restricted to some of its frames (an index or boolean mask over t)."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return dataclasses.replace(
            self,
            frames=self.frames[index],
            points_3d=self.points_3d[index],
            points_2d=pick(self.points_2d),
            bboxes=pick(self.bboxes),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class H36MArrays:
    """All frames of a dataset, concatenated (frame axis first).

    Attributes:
        points_3d: (n, 17, 3) world mm. points_2d: (n, v, 17, 2) px or None; bboxes: (n, v, 4) or None (NaN
            rows for sequences without them). subject, action, sequence, frame: (n,) int indices into
            `subjects`, `actions`, the dataset's sequences, and the original frame numbers.
    """

    points_3d: np.ndarray
    points_2d: np.ndarray | None
    bboxes: np.ndarray | None
    subject: np.ndarray
    action: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    subjects: tuple[str, ...]
    actions: tuple[str, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class CameraSamples:
    """One sample per (frame, camera), for monocular work; row m = frame m // v, camera m % v.

    Attributes:
        points_2d: (m, 17, 2) px (NaN where the dataset has no 2D). points_3d_camera: (m, 17, 3) mm in the
            camera frame. camera, subject, action, sequence, frame: (m,) int (camera indexes `camera_names`).
    """

    points_2d: np.ndarray
    points_3d_camera: np.ndarray
    camera: np.ndarray
    subject: np.ndarray
    action: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    subjects: tuple[str, ...]
    actions: tuple[str, ...]
    camera_names: tuple[str, ...]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@dataclasses.dataclass(frozen=True, eq=False)
class H36MDataset:
    """Human3.6M-style data in memory: takes, and each subject's cameras.

    Attributes:
        sequences: The takes (`Sequence`), in file order.
        rigs: Subject -> `Rig` in mm (all subjects' rigs name the same cameras in the same order).
    """

    sequences: tuple[Sequence, ...]
    rigs: Mapping[str, Rig]
    skeleton = H36M_17

    def __post_init__(self):
        object.__setattr__(self, "sequences", tuple(self.sequences))
        object.__setattr__(self, "rigs", dict(self.rigs))
        for s, rig in self.rigs.items():
            if rig.units != "mm":
                raise ValueError(f"the rig of {s} must be in mm (H36M world units), got {rig.units!r}")

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self):
        return iter(self.sequences)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Subjects in order of appearance."""
        return _unique(s.subject for s in self.sequences)

    @property
    def actions(self) -> tuple[str, ...]:
        """Canonical actions present, in `ACTIONS` order (others after, in order of appearance)."""
        present = _unique(s.action for s in self.sequences)
        return tuple(a for a in ACTIONS if a in present) + tuple(a for a in present if a not in ACTIONS)

    @property
    def camera_names(self) -> tuple[str, ...]:
        """Camera names shared by the rigs (empty without rigs)."""
        return next(iter(self.rigs.values())).names if self.rigs else ()

    @property
    def num_frames(self) -> int:
        """Frames over all sequences."""
        return sum(len(s) for s in self.sequences)

    def _with(self, sequences: Iterable[Sequence]) -> H36MDataset:
        sequences = tuple(sequences)
        keep = {s.subject for s in sequences}
        return H36MDataset(sequences, {k: r for k, r in self.rigs.items() if k in keep})

    def select(
        self,
        *,
        subjects: Iterable[str] | None = None,
        actions: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
    ) -> H36MDataset:
        """Keep the sequences of these subjects, canonical actions and/or file names (None = all)."""
        subjects, actions, names = (None if x is None else set(x) for x in (subjects, actions, names))
        return self._with(
            s
            for s in self.sequences
            if (subjects is None or s.subject in subjects)
            and (actions is None or s.action in actions)
            and (names is None or s.name in names)
        )

    def split(self, which: str) -> H36MDataset:
        """The standard protocol split: "train" (S1, S5, S6, S7, S8) or "test" (S9, S11)."""
        subjects = {"train": TRAIN_SUBJECTS, "test": TEST_SUBJECTS}.get(which)
        if subjects is None:
            raise ValueError(f"split must be 'train' or 'test', got {which!r}")
        return self.select(subjects=subjects)

    def without_damaged(self) -> H36MDataset:
        """Drop the damaged takes (`DAMAGED_SEQUENCES`)."""
        return self._with(s for s in self.sequences if (s.subject, s.name) not in DAMAGED_SEQUENCES)

    def subsample(self, every: int, *, offset: int = 0) -> H36MDataset:
        """Keep frames ``offset, offset + every, ...`` of every take (``every=64``: test protocols)."""
        if every < 1 or offset < 0:
            raise ValueError(f"every must be >= 1 and offset >= 0, got {every}, {offset}")
        return self._with(s.take(np.s_[offset::every]) for s in self.sequences)

    def group_by_action(self) -> dict[str, H36MDataset]:
        """Canonical action -> dataset of its sequences (trials merged), in `actions` order."""
        return {a: self.select(actions=[a]) for a in self.actions}

    def with_projections(self, *, overwrite: bool = False) -> H36MDataset:
        """Fill `points_2d` by projecting `points_3d` through each subject's rig (with distortion).

        Args:
            overwrite: Replace 2D a sequence already has (default: keep it).
        """
        out = list(self.sequences)
        for subject in self.subjects:
            idx = [
                i for i, s in enumerate(out) if s.subject == subject and (overwrite or s.points_2d is None)
            ]
            if not idx:
                continue
            if subject not in self.rigs:
                raise KeyError(f"cannot project {subject}: the dataset has no rig for it")
            pts = np.concatenate([out[i].points_3d for i in idx]).reshape(-1, 3)
            n = len(pts)
            padded = np.zeros(
                (max(1024, 1 << (n - 1).bit_length()), 3), np.float32
            )  # few shapes: few compiles
            padded[:n] = pts
            uv = np.asarray(project_points(self.rigs[subject].cameras, padded[None]))[:, :n]  # (v, n, 2)
            uv = uv.reshape(len(uv), -1, 17, 2).transpose(1, 0, 2, 3).astype(np.float32)
            bounds = np.cumsum([0] + [len(out[i]) for i in idx])
            for k, i in enumerate(idx):
                out[i] = dataclasses.replace(out[i], points_2d=uv[bounds[k] : bounds[k + 1]])
        return dataclasses.replace(self, sequences=tuple(out))

    def arrays(self) -> H36MArrays:
        """All frames concatenated (`H36MArrays`); missing 2D / boxes become NaN rows."""
        seqs, subjects, actions = self.sequences, self.subjects, self.actions
        v = len(self.camera_names)

        def cat(field, tail):
            if all(getattr(s, field) is None for s in seqs):
                return None
            return (
                np.concatenate(
                    [
                        np.full((len(s), v, *tail), np.nan, np.float32)
                        if getattr(s, field) is None
                        else getattr(s, field)
                        for s in seqs
                    ]
                )
                if seqs
                else None
            )

        rep = lambda values: np.repeat(np.asarray(values, np.int64), [len(s) for s in seqs])  # noqa: E731
        return H36MArrays(
            points_3d=np.concatenate([s.points_3d for s in seqs])
            if seqs
            else np.zeros((0, 17, 3), np.float32),
            points_2d=cat("points_2d", (17, 2)),
            bboxes=cat("bboxes", (4,)),
            subject=rep([subjects.index(s.subject) for s in seqs]),
            action=rep([actions.index(s.action) for s in seqs]),
            sequence=rep(range(len(seqs))),
            frame=np.concatenate([s.frames for s in seqs]) if seqs else np.zeros(0, np.int64),
            subjects=subjects,
            actions=actions,
        )

    def camera_samples(self) -> CameraSamples:
        """One sample per (frame, camera): 2D in px and 3D in that camera's frame (mm)."""
        a, names = self.arrays(), self.camera_names
        v, n = len(names), len(a.points_3d)
        cam3d = np.empty((n, v, 17, 3), np.float32)
        for k, subject in enumerate(a.subjects):
            rows = a.subject == k
            R, t = np.asarray(self.rigs[subject].cameras.R), np.asarray(self.rigs[subject].cameras.t)
            cam3d[rows] = (
                np.einsum("vij,nkj->nvki", R, a.points_3d[rows].astype(np.float64)) + t[None, :, None]
            )
        uv = a.points_2d if a.points_2d is not None else np.full((n, v, 17, 2), np.nan, np.float32)
        rep = lambda x: np.repeat(x, v)  # noqa: E731
        return CameraSamples(
            points_2d=uv.reshape(n * v, 17, 2),
            points_3d_camera=cam3d.reshape(n * v, 17, 3),
            camera=np.tile(np.arange(v), n),
            subject=rep(a.subject),
            action=rep(a.action),
            sequence=rep(a.sequence),
            frame=rep(a.frame),
            subjects=a.subjects,
            actions=a.actions,
            camera_names=names,
        )


def expand_17_to_32(points_17: np.ndarray) -> np.ndarray:
    """The raw 32-joint layout from H36M-17 joints (the 15 unused joints are plausible stand-ins).

    Args:
        points_17: (..., 17, 3).

    Returns:
        (..., 32, 3): used joints at `H36M_17_FROM_32`; the others near a neighbour (toes below the ankles,
        hand points beyond the wrists), never equal to a used joint.
    """
    points_17 = np.asarray(points_17)
    out = np.zeros((*points_17.shape[:-2], NUM_RAW_JOINTS, 3), points_17.dtype)
    out[..., list(H36M_17_FROM_32), :] = points_17
    a, b, w = (np.array(x) for x in zip(*_FILL_32.values(), strict=True))
    out[..., list(_FILL_32), :] = out[..., a, :] + w[:, None] * (out[..., b, :] - out[..., a, :])
    return out

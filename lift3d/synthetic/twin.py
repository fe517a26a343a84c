"""A synthetic twin of Human3.6M: plausible bodies and motion, seen by the real H36M cameras.

`make_dataset(key, ...)` returns an `H36MDataset` like the real one (subjects S1 ... S11, the 15 actions with
two takes each named "Walking" / "Walking 1", world Z-up in mm, the 4 real cameras of each subject with their
distortion, 2D projections and square person boxes), from a `jax.random` key: same key, same data. It writes
the three real layouts with `write_videopose3d`, `write_martinez` and `write_learnable_triangulation_labels`
(re-exported from `lift3d.datasets.h36m`), so every loader is tested end to end.

Bodies: H36M-17 with H36M-like bone lengths (`REFERENCE_OFFSETS_MM`), scaled per subject (about +-5 %, from a
key folded with the subject number) with a per-bone jitter (about +-3 %, equal left and right).

Poses: 26 joint angles (`DOFS`) drive forward kinematics over the H36M parents. Every angle goes through a
smooth clip into its anatomical range (`LIMITS_DEG`): knees and elbows flex one way only (0-150 and 0-145
degrees), hips, shoulders, spine and neck stay inside their usual ranges. Motion: a per-action template
(`ACTION_STYLES`) mixes primitives (a walking gait on a circular path, turning on the spot, arm reaching /
hand-to-face cycles, sitting down and standing up) with smooth random drift (sums of slow sinusoids); every
take draws its own variation. The lower ankle rests at ankle height above the floor z = 0; people stay within
~0.8 m of a point the 4 cameras all see (`VOLUME_CENTER_MM`).

Cost: numpy vectorised over frames (random numbers from `jax.random`, one draw per take); projection through
the cameras is one jitted call per subject. A million poses (7 x 15 x 2 x 2381 frames) take about 30 s on 2
CPU cores.
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import erfinv

from lift3d.core.skeleton import H36M_17
from lift3d.datasets.h36m import (
    ACTIONS,
    SUBJECTS,
    H36MDataset,
    Sequence,
    h36m_cameras,
    write_learnable_triangulation_labels,
    write_martinez,
    write_videopose3d,
)

__all__ = [
    "DOFS", "LIMITS_DEG", "ACTION_STYLES", "REFERENCE_OFFSETS_MM", "VOLUME_CENTER_MM",
    "bone_offsets", "forward_kinematics", "make_sequence_angles", "make_dataset", "person_boxes",
    "write_videopose3d", "write_martinez", "write_learnable_triangulation_labels",
]  # fmt: skip

VOLUME_CENTER_MM = (150.0, 300.0)
"""A floor point (x, y) seen by all 4 cameras of every subject with ~1.2 m to spare at heights 0-2 m."""
ANKLE_HEIGHT_MM = 90.0

# Offsets from the parent joint in the body frame (x forward, y left, z up), mm; the pelvis has none.
REFERENCE_OFFSETS_MM = np.array([
    [0, 0, 0], [0, -132, 0], [0, 0, -442], [0, 0, -454], [0, 132, 0], [0, 0, -442], [0, 0, -454],
    [-10, 0, 232], [0, 0, 257], [60, 0, 105], [30, 0, 111],
    [0, 150, -15], [0, 0, -279], [0, 0, -250], [0, -150, -15], [0, 0, -279], [0, 0, -250],
], np.float64)  # fmt: skip
# Bone groups sharing one per-subject jitter (left and right equal).
_BONE_GROUP = np.array([0, 1, 2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 8, 9, 10])

DOFS = (
    "pelvis_pitch", "pelvis_roll",
    "r_hip_flex", "r_hip_abd", "r_hip_rot", "r_knee", "l_hip_flex", "l_hip_abd", "l_hip_rot", "l_knee",
    "spine_flex", "spine_lat", "spine_twist", "thorax_flex", "thorax_lat", "thorax_twist",
    "neck_flex", "neck_turn",
    "l_sh_flex", "l_sh_abd", "l_sh_rot", "l_elbow", "r_sh_flex", "r_sh_abd", "r_sh_rot", "r_elbow",
)  # fmt: skip
"""Joint angles (degrees in templates). Flexion moves a limb forward (knee: the shin backward), abduction away
from the midline, positive spine/thorax/neck flexion bends forward."""
_D = {n: i for i, n in enumerate(DOFS)}
LIMITS_DEG = np.array([
    [-20, 30], [-15, 15],
    [-30, 120], [-30, 45], [-35, 35], [0, 150], [-30, 120], [-30, 45], [-35, 35], [0, 150],
    [-25, 60], [-25, 25], [-30, 30], [-15, 30], [-15, 15], [-20, 20], [-40, 50], [-60, 60],
    [-50, 170], [-20, 170], [-70, 70], [0, 145], [-50, 170], [-20, 170], [-70, 70], [0, 145],
], np.float64)  # fmt: skip
"""Anatomical range (lo, hi) of each DOF, degrees."""
_ARM_SWAP = np.arange(len(DOFS))
_ARM_SWAP[18:22], _ARM_SWAP[22:26] = np.arange(22, 26), np.arange(18, 22)


def _style(*, gait=0.0, speed=0.0, turn=0.0, sit=0.0, sit_osc=0.0, f_task=0.3, one_arm=False, **dofs):
    """A template: DOF means / task-oscillation amplitudes as ``name=(mean, osc)`` in degrees."""
    mean, osc = np.zeros(len(DOFS)), np.zeros(len(DOFS))
    mean[[_D["r_knee"], _D["l_knee"]]] = 8.0
    mean[[_D["r_elbow"], _D["l_elbow"]]] = 15.0
    mean[[_D["l_sh_abd"], _D["r_sh_abd"]]] = 8.0
    for name, (m, o) in dofs.items():
        mean[_D[name]], osc[_D[name]] = m, o
    return dict(
        mean=mean, osc=osc, gait=gait, speed=speed, turn=turn, sit=sit, sit_osc=sit_osc, f_task=f_task,
        one_arm=float(one_arm),
    )  # fmt: skip


ACTION_STYLES = {
    "Directions": _style(turn=0.25, one_arm=True, r_sh_flex=(60, 30), r_elbow=(20, 10), neck_turn=(0, 20)),
    "Discussion": _style(turn=0.1, f_task=0.5, l_sh_flex=(25, 20), r_sh_flex=(25, 20), l_elbow=(70, 30),
                         r_elbow=(70, 30), spine_twist=(0, 10)),
    "Eating": _style(sit=1.0, one_arm=True, f_task=0.25, r_sh_flex=(35, 20), r_elbow=(100, 40),
                     spine_flex=(15, 5)),
    "Greeting": _style(turn=0.1, one_arm=True, f_task=0.8, r_sh_abd=(110, 25), r_elbow=(60, 40),
                       spine_flex=(5, 5)),
    "Phoning": _style(gait=0.3, speed=0.3, one_arm=True, r_sh_flex=(30, 5), r_sh_abd=(30, 5),
                      r_elbow=(135, 5), neck_flex=(10, 10)),
    "Photo": _style(turn=0.15, l_sh_flex=(70, 10), r_sh_flex=(70, 10), l_elbow=(110, 10), r_elbow=(110, 10),
                    spine_flex=(10, 10)),
    "Posing": _style(f_task=0.15, l_sh_abd=(70, 40), r_sh_abd=(70, 40), l_hip_abd=(15, 10),
                     r_hip_abd=(15, 10), spine_lat=(0, 10)),
    "Purchases": _style(gait=0.2, speed=0.2, f_task=0.2, spine_flex=(25, 20), l_sh_flex=(45, 25),
                        r_sh_flex=(45, 25), l_elbow=(30, 20), r_elbow=(30, 20)),
    "Sitting": _style(sit=1.0, spine_flex=(5, 5), l_elbow=(60, 10), r_elbow=(60, 10), l_sh_flex=(20, 10),
                      r_sh_flex=(20, 10)),
    "SittingDown": _style(sit=0.5, sit_osc=0.75, f_task=0.12, spine_flex=(20, 15), l_sh_flex=(30, 20),
                          r_sh_flex=(30, 20)),
    "Smoking": _style(turn=0.05, one_arm=True, f_task=0.2, r_sh_flex=(30, 20), r_elbow=(90, 55)),
    "Waiting": _style(f_task=0.1, pelvis_roll=(0, 5), l_hip_abd=(5, 5), r_hip_abd=(5, 5), l_elbow=(30, 10),
                      r_elbow=(30, 10), neck_turn=(0, 25)),
    "WalkDog": _style(gait=0.8, speed=0.7, one_arm=True, spine_flex=(12, 3), r_sh_flex=(40, 5),
                      r_elbow=(30, 10)),
    "Walking": _style(gait=1.0, speed=0.85),
    "WalkTogether": _style(gait=0.9, speed=0.75, neck_turn=(25, 5), spine_twist=(8, 3)),
}  # fmt: skip
"""Per-action motion templates (see `_style`); unknown action names use "Waiting"."""
_SIT_POSE = np.zeros(len(DOFS))
_SIT_POSE[[_D["r_hip_flex"], _D["l_hip_flex"]]] = 88.0
_SIT_POSE[[_D["r_knee"], _D["l_knee"]]] = 85.0
_SIT_POSE[_D["pelvis_pitch"]] = -5.0


def _subject_number(subject: str) -> int:
    digits = subject.lstrip("S")
    return int(digits) if digits.isdigit() else zlib.crc32(subject.encode()) & 0x7FFFFFFF


def bone_offsets(key: jax.Array, subject: str) -> np.ndarray:
    """A subject's bone offsets: `REFERENCE_OFFSETS_MM` scaled per subject and jittered per bone group.

    Args:
        key: The dataset key (folded with the subject number: a subject's body does not depend on the others).
        subject: E.g. "S9".

    Returns:
        Offsets from the parent joint, shape (17, 3), mm, body frame (x forward, y left, z up).
    """
    ks, kb = jax.random.split(jax.random.fold_in(key, _subject_number(subject)))
    scale = 1.0 + 0.05 * np.clip(np.asarray(jax.random.normal(ks)), -2, 2)
    jitter = 1.0 + 0.03 * np.clip(np.asarray(jax.random.normal(kb, (11,))), -2, 2)
    return REFERENCE_OFFSETS_MM * (scale * jitter[_BONE_GROUP])[:, None]


def _rot_yxz(ay: np.ndarray, ax: np.ndarray, az: np.ndarray) -> np.ndarray:
    """``Ry(ay) @ Rx(ax) @ Rz(az)`` (body axes: x forward, y left, z up), shape (*ay.shape, 3, 3)."""
    cy, sy, cx, sx, cz, sz = np.cos(ay), np.sin(ay), np.cos(ax), np.sin(ax), np.cos(az), np.sin(az)
    return np.stack([
        np.stack([cy * cz + sy * sx * sz, -cy * sz + sy * sx * cz, sy * cx], -1),
        np.stack([cx * sz, cx * cz, -sx], -1),
        np.stack([-sy * cz + cy * sx * sz, sy * sz + cy * sx * cz, cy * cx], -1),
    ], -2)  # fmt: skip


# Per joint: which DOF drives its local (y, x, z) rotation, with a sign (0: none). Flexion is about y,
# abduction about x, axial rotation about z; left/right mirror abduction and rotation; knees flex backwards.
_JOINT_DOFS = {
    0: (("pelvis_pitch", 1), ("pelvis_roll", 1), None),
    1: (("r_hip_flex", -1), ("r_hip_abd", -1), ("r_hip_rot", -1)), 2: (("r_knee", 1), None, None),
    4: (("l_hip_flex", -1), ("l_hip_abd", 1), ("l_hip_rot", 1)), 5: (("l_knee", 1), None, None),
    7: (("spine_flex", 1), ("spine_lat", 1), ("spine_twist", 1)),
    8: (("thorax_flex", 1), ("thorax_lat", 1), ("thorax_twist", 1)),
    9: (("neck_flex", 1), None, ("neck_turn", 1)),
    11: (("l_sh_flex", -1), ("l_sh_abd", 1), ("l_sh_rot", 1)), 12: (("l_elbow", -1), None, None),
    14: (("r_sh_flex", -1), ("r_sh_abd", -1), ("r_sh_rot", -1)), 15: (("r_elbow", -1), None, None),
}  # fmt: skip
_DOF_MAP = np.zeros((17, 3, len(DOFS)))  # (joint, axis y/x/z, dof) -> sign
for _j, _axes in _JOINT_DOFS.items():
    for _a, _spec in enumerate(_axes):
        if _spec is not None:
            _DOF_MAP[_j, _a, _D[_spec[0]]] = _spec[1]
_ROTATED = sorted(_JOINT_DOFS)  # exactly the joints with children
assert _ROTATED == sorted(set(H36M_17.parents) - {-1})


def forward_kinematics(angles_rad, heading_rad, root_mm, offsets_mm) -> np.ndarray:
    """World joints from joint angles over the H36M-17 tree (numpy, vectorised over frames).

    Args:
        angles_rad: (t, 26) angles in `DOFS` order, radians.
        heading_rad: (t,) body yaw about the world z axis (0: facing +x).
        root_mm: (t, 3) pelvis position (world, Z-up, mm).
        offsets_mm: (17, 3) bone offsets in the body frame (`bone_offsets`), or (t, 17, 3): a body per frame.

    Returns:
        (t, 17, 3) world joints, mm, float64.
    """
    # local rotations of the joints that have children (leaves need no frame), joint-major: (12, t, 3, 3)
    ja = np.einsum("jad,td->jta", _DOF_MAP[_ROTATED], np.asarray(angles_rad, np.float64))
    local = dict(zip(_ROTATED, _rot_yxz(ja[..., 0], ja[..., 1], ja[..., 2]), strict=True))
    heading = np.asarray(heading_rad, np.float64)
    glob, pos = {}, [None] * 17
    for j, p in enumerate(H36M_17.parents):  # parents come before children
        if p < 0:
            zero = np.zeros_like(heading)
            glob[j] = _rot_yxz(zero, zero, heading) @ local[j]
            pos[j] = np.asarray(root_mm, np.float64)
        else:
            if j in local:
                glob[j] = glob[p] @ local[j]
            pos[j] = pos[p] + np.einsum("...ab,...b->...a", glob[p], np.asarray(offsets_mm, np.float64)[..., j, :])
    return np.stack(pos, 1)


def _soft_clip(x, lo, hi, sharp: float = 4.0):
    """Smooth clip into the open interval (lo, hi); about identity more than a few `sharp` inside."""
    k = 1.0 / sharp
    return lo + (np.logaddexp(0.0, k * (x - lo)) - np.logaddexp(0.0, k * (x - hi))) / k


class _Draws:
    """Uniform variates of one take, drawn at once from its key and handed out in order."""

    def __init__(self, key: jax.Array, n: int = 512):
        self.u, self.i = np.asarray(jax.random.uniform(key, (n,), jnp.float32), np.float64), 0

    def uniform(self, shape=(), lo=0.0, hi=1.0):
        size = int(np.prod(shape))
        if self.i + size > len(self.u):
            raise RuntimeError("synthetic take ran out of random draws; raise _Draws.n")
        out = self.u[self.i : self.i + size].reshape(shape)
        self.i += size
        return lo + (hi - lo) * out

    def normal(self, shape=()):
        return np.sqrt(2.0) * erfinv(np.clip(2 * self.uniform(shape) - 1, -0.999999, 0.999999))


def _drift(rng: _Draws, t: np.ndarray, n: int, fmin=0.05, fmax=0.5, terms=3) -> np.ndarray:
    """Smooth zero-mean random signals, (t, n), unit-ish amplitude: sums of slow sinusoids."""
    f, ph = rng.uniform((terms, n), fmin, fmax), rng.uniform((terms, n), 0, 2 * np.pi)
    amp = rng.uniform((terms, n), 0.5, 1.0)
    return np.einsum("kn,tkn->tn", amp, np.sin(2 * np.pi * f * t[:, None, None] + ph)) / np.sqrt(terms / 2)


def make_sequence_angles(key: jax.Array, style: dict, *, num_frames: int, fps: float = 50.0):
    """One take's motion: joint angles, heading and pelvis path.

    Args:
        key: The take's key.
        style: An `ACTION_STYLES` template.
        num_frames: Frames t.
        fps: Frame rate (Hz).

    Returns:
        ``(angles_rad (t, 26), heading_rad (t,), root_xy_mm (t, 2))``, numpy float64; angles strictly inside
        `LIMITS_DEG`.
    """
    rng = _Draws(key)
    t = np.arange(num_frames) / fps
    n = len(DOFS)
    flip = rng.uniform() < 0.5 and style["one_arm"] > 0
    mean = (style["mean"][_ARM_SWAP] if flip else style["mean"]) + 4.0 * rng.normal((n,))
    osc = style["osc"][_ARM_SWAP] if flip else style["osc"]
    f_task = style["f_task"] * rng.uniform((), 0.7, 1.3)
    task = np.sin(2 * np.pi * f_task * t[:, None] + rng.uniform((n,), 0, 0.6))  # nearly in phase: coordinated
    # sitting level in [0, 1]; sitting-down takes cycle between standing and sitting
    level = _soft_clip(style["sit"] + style["sit_osc"] * np.sin(2 * np.pi * 0.6 * f_task * t), 0.0, 1.0, 0.08)
    # gait: a stride cycle of ~0.85 Hz growing with speed; legs in anti-phase, arms against the same-side leg
    speed = style["speed"] * rng.uniform((), 0.8, 1.2) * 1000.0  # mm/s
    gait_phase = 2 * np.pi * (0.55 + 0.35 * speed / 1000.0) * t + rng.uniform((), 0, 2 * np.pi)
    g = style["gait"]
    gait = np.zeros((num_frames, n))
    for side, arm, off in (("r", "l", 0.0), ("l", "r", np.pi)):  # the other side's arm swings with this leg
        ph = gait_phase + off
        gait[:, _D[f"{side}_hip_flex"]] = g * (8 + 24 * np.sin(ph))
        gait[:, _D[f"{side}_knee"]] = g * 55 * ((1 + np.cos(ph - 0.6 * np.pi)) / 2) ** 3
        gait[:, _D[f"{arm}_sh_flex"]] = g * 18 * np.sin(ph)
        gait[:, _D[f"{arm}_elbow"]] = g * (10 + 8 * np.sin(ph))
    gait[:, _D["pelvis_pitch"]] = g * 4.0
    gait[:, _D["thorax_twist"]] = g * 6 * np.sin(gait_phase)
    drift = 5.0 * _drift(rng, t, n) * (0.4 if g > 0.5 else 1.0)
    raw = mean + osc * task + level[:, None] * _SIT_POSE + gait + drift
    angles = np.deg2rad(_soft_clip(raw, LIMITS_DEG[:, 0], LIMITS_DEG[:, 1]))
    # path: walkers go round a circle; the others stand near the centre, turning slowly
    center = np.asarray(VOLUME_CENTER_MM) + rng.uniform((2,), -100, 100)
    radius, direction = rng.uniform((), 400.0, 600.0), (-1.0 if rng.uniform() < 0.5 else 1.0)
    start = rng.uniform((), 0, 2 * np.pi)
    if speed > 0:
        arc = start + direction * speed * t / radius
        root_xy = center + radius * np.stack([np.cos(arc), np.sin(arc)], -1)
        heading = arc + direction * np.pi / 2
    else:
        root_xy = center + rng.uniform((2,), -250, 250) + 60.0 * _drift(rng, t, 2, 0.02, 0.1)
        heading = start + style["turn"] * direction * t + 0.3 * _drift(rng, t, 1, 0.02, 0.1)[:, 0]
    return angles, heading, root_xy


def _take(key, style, offsets, *, num_frames: int, fps: float) -> np.ndarray:
    angles, heading, root_xy = make_sequence_angles(key, style, num_frames=num_frames, fps=fps)
    pts = forward_kinematics(
        angles, heading, np.concatenate([root_xy, np.zeros((num_frames, 1))], -1), offsets
    )
    ankle_floor = ANKLE_HEIGHT_MM * np.linalg.norm(offsets[3]) / np.linalg.norm(REFERENCE_OFFSETS_MM[3])
    lowest = np.minimum(pts[:, H36M_17.index("left_ankle"), 2], pts[:, H36M_17.index("right_ankle"), 2])
    pts[..., 2] += (ankle_floor - lowest)[:, None]
    return pts


def person_boxes(points_2d: np.ndarray, *, scale: float = 1.2) -> np.ndarray:
    """Square person boxes around projected joints, rounded to whole pixels (as learnable-triangulation's).

    Args:
        points_2d: (..., 17, 2) px.
        scale: Side = scale x the larger side of the joints' bounding box.

    Returns:
        (..., 4) boxes (left, top, right, bottom), px, float32 with integer values.
    """
    joints = [
        points_2d[..., j, :] for j in range(points_2d.shape[-2])
    ]  # pairwise: faster than a strided reduce
    lo, hi = functools.reduce(np.fmin, joints), functools.reduce(np.fmax, joints)  # NaN-ignoring
    side = np.round(scale * np.max(hi - lo, -1, keepdims=True))
    corner = np.round((lo + hi) / 2 - side / 2)
    return np.concatenate([corner, corner + side], -1).astype(np.float32)


def make_dataset(
    key: jax.Array,
    *,
    subjects: Iterable[str] = SUBJECTS,
    actions: Iterable[str] = ACTIONS,
    trials: int = 2,
    frames_per_sequence: int = 250,
    fps: float = 50.0,
) -> H36MDataset:
    """A synthetic Human3.6M: every subject x action x trial, projected through the real cameras.

    Each take draws from a key folded with (subject number, action, trial), so a subset of subjects or actions
    gives the same takes as the full set. Size: ``len(subjects) * len(actions) * trials *
    frames_per_sequence`` poses (7 x 15 x 2 x 2381 is a million).

    Args:
        key: A `jax.random` key.
        subjects: Subjects (with H36M extrinsics: S1, S5-S9, S11).
        actions: Canonical action names (`ACTIONS`; others move like "Waiting").
        trials: Takes per action, named "<Action>", "<Action> 1", "<Action> 2", ...
        frames_per_sequence: Frames per take.
        fps: Frame rate (Hz).

    Returns:
        The dataset: 3D (mm), 2D of the 4 views (px), square boxes, and the subjects' rigs.
    """
    subjects, actions = tuple(subjects), tuple(actions)
    rigs = {s: h36m_cameras(s) for s in subjects}
    seqs = []
    for subject in subjects:
        offsets = bone_offsets(key, subject)
        k_subject = jax.random.fold_in(jax.random.fold_in(key, _subject_number(subject)), 1)
        for action in actions:
            k_action = jax.random.fold_in(k_subject, zlib.crc32(action.encode()) & 0x7FFFFFFF)
            style = ACTION_STYLES.get(action, ACTION_STYLES["Waiting"])
            for trial in range(trials):
                pts = _take(
                    jax.random.fold_in(k_action, trial),
                    style,
                    offsets,
                    num_frames=frames_per_sequence,
                    fps=fps,
                )
                name = action if trial == 0 else f"{action} {trial}"
                seqs.append(
                    Sequence(subject, name, np.arange(frames_per_sequence), np.asarray(pts, np.float32))
                )
    ds = H36MDataset(seqs, rigs).with_projections()
    boxed = [dataclasses.replace(s, bboxes=person_boxes(s.points_2d)) for s in ds.sequences]
    return H36MDataset(boxed, rigs)

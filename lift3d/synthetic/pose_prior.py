"""A broad pose prior: single poses over the joints' full ranges, many body shapes, for training lifters.

The synthetic twin (`lift3d.synthetic.twin`) moves 7 H36M-like adults through 15 office actions; a lifter trained
on it alone has never seen a raised knee, a kneeling or lying body, a child, or a camera on the ceiling.
`sample_poses` draws independent poses (no motion) from pose *families* that cover what labs film:

==============  ===========================================================================================
family          what it draws (angles uniform inside the given ranges, degrees; the rest near neutral)
==============  ===========================================================================================
``standing``    upright, legs near neutral, arms anywhere in their ranges
``balancing``   one straight support leg, the other raised or swung (hip -30..100, knee 0..140), arms out
``reaching``    one or both arms raised 90..170 (forward or sideways), trunk bent, twisted or leaning
``crouching``   hips 70..120, knees 90..150, trunk bent forward
``kneeling``    one or both knees on the floor, or sitting on the heels
``lying``       the body pitched or rolled 60..100 (back, front, side) or inverted, limbs anywhere
``sport``       running strides, kicks, throws and jumps
``uniform``     every angle uniform over its whole range (`lift3d.synthetic.twin.LIMITS_DEG`)
==============  ===========================================================================================

Every pose is mirrored left/right with probability 1/2. Angles pass through the twin's smooth clip into
`LIMITS_DEG`, after one dependency between joints: hip flexion is limited by the knee (a straight-kneed leg
does not flex past ~80 degrees at the hip, the hamstrings stop it; `HIP_KNEE_COUPLING`).

Bodies (`sample_bodies`): adults of height ~N(1.70 m, 0.09) and, with `child_fraction`, children of 1.0-1.5 m
with a child's proportions (legs relatively shorter, head and neck relatively larger); every bone group gets
its own jitter (left = right), hip and shoulder widths vary more. Poses are returned in metres, Z-up, with the
body's lowest joint 5-9 cm above the floor z = 0 and the pelvis over the origin, heading uniform: ready for
`lift3d.train.data_pipeline.motion_train_samples`, whose virtual cameras (`CameraRanges`) give the viewpoints.

Cost: numpy, vectorised over poses: 100 000 poses in about a second.
"""

from __future__ import annotations

import numpy as np

from lift3d.core.skeleton import H36M_17
from lift3d.synthetic.twin import DOFS, LIMITS_DEG, REFERENCE_OFFSETS_MM, _soft_clip, forward_kinematics

__all__ = ["FAMILIES", "DEFAULT_WEIGHTS", "HIP_KNEE_COUPLING", "DEFINITIONS", "DETECTOR_OFFSETS_MM", "sample_angles",
           "sample_bodies", "sample_poses"]  # fmt: skip

FAMILIES = ("standing", "balancing", "reaching", "crouching", "kneeling", "lying", "sport", "uniform")
DEFAULT_WEIGHTS = (0.16, 0.14, 0.14, 0.12, 0.1, 0.1, 0.14, 0.1)
"""Share of each family in `FAMILIES` order."""
HIP_KNEE_COUPLING = (80.0, 0.5)
"""Hip flexion <= a + b * knee flexion (degrees)."""

_D = {n: i for i, n in enumerate(DOFS)}
_N = len(DOFS)
# left <-> right: swap the legs' and arms' DOFs; lateral bends and twists change sign
_MIRROR = np.arange(_N)
for _r, _l in (("r_hip_flex", "l_hip_flex"), ("r_sh_flex", "l_sh_flex")):
    _MIRROR[_D[_r] : _D[_r] + 4], _MIRROR[_D[_l] : _D[_l] + 4] = (np.arange(_D[_l], _D[_l] + 4),
                                                                   np.arange(_D[_r], _D[_r] + 4))  # fmt: skip
_MIRROR_SIGN = np.ones(_N)
_MIRROR_SIGN[[_D[n] for n in ("pelvis_roll", "spine_lat", "spine_twist", "thorax_lat", "thorax_twist",
                              "neck_turn")]] = -1.0  # fmt: skip
# near-neutral spread of every DOF (mean, std), degrees: what a family does not set
_NEUTRAL = {
    "pelvis_pitch": (3, 6), "pelvis_roll": (0, 4),
    "hip_flex": (5, 12), "hip_abd": (5, 7), "hip_rot": (0, 12), "knee": (10, 10),
    "spine_flex": (5, 10), "spine_lat": (0, 6), "spine_twist": (0, 10),
    "thorax_flex": (3, 6), "thorax_lat": (0, 4), "thorax_twist": (0, 6), "neck_flex": (5, 15), "neck_turn": (0, 25),
    "sh_flex": (15, 25), "sh_abd": (15, 15), "sh_rot": (0, 25), "elbow": (30, 30),
}  # fmt: skip
_ARMS_ANYWHERE = {"sh_flex": (-40, 170), "sh_abd": (0, 160), "sh_rot": (-60, 60), "elbow": (0, 145)}


def _names(key: str) -> list[str]:
    """DOF names of a key: a DOF name, or a side-less one ("knee") meaning both sides."""
    if key in _D:
        return [key]
    return [f"{s}_{key}" for s in ("r", "l")]


def _fill(rng: np.random.Generator, n: int, ranges: dict) -> np.ndarray:
    """(n, 26) degrees: near-neutral normals, then uniform draws over `ranges` (name -> (lo, hi))."""
    out = np.zeros((n, _N))
    for key, (mean, std) in _NEUTRAL.items():
        for name in _names(key):
            out[:, _D[name]] = rng.normal(mean, std, n)
    out[:, [_D["r_knee"], _D["l_knee"]]] = np.abs(out[:, [_D["r_knee"], _D["l_knee"]]])
    out[:, [_D["r_elbow"], _D["l_elbow"]]] = np.abs(out[:, [_D["r_elbow"], _D["l_elbow"]]])
    for key, (lo, hi) in ranges.items():
        for name in _names(key):
            out[:, _D[name]] = rng.uniform(lo, hi, n)
    return out


def _set(out: np.ndarray, rng: np.random.Generator, ranges: dict) -> None:
    for name, (lo, hi) in ranges.items():
        out[:, _D[name]] = rng.uniform(lo, hi, len(out))


def _family(rng: np.random.Generator, family: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 26) degrees before mirroring and clipping, and (n, 2) whole-body (pitch, roll) degrees."""
    tilt = np.zeros((n, 2))
    if family == "standing":
        return _fill(rng, n, dict(_ARMS_ANYWHERE)), tilt
    if family == "uniform":
        return rng.uniform(LIMITS_DEG[:, 0], LIMITS_DEG[:, 1], (n, _N)), tilt
    if family == "balancing":  # right leg supports
        a = _fill(rng, n, {"sh_flex": (-20, 100), "sh_abd": (30, 120), "elbow": (0, 90), "sh_rot": (-40, 40)})
        _set(a, rng, {"r_hip_flex": (-10, 15), "r_knee": (0, 25), "l_hip_flex": (-30, 100), "l_hip_abd": (-10, 45),
                      "l_hip_rot": (-30, 30), "l_knee": (0, 140), "spine_lat": (-20, 20), "spine_flex": (-10, 40),
                      "pelvis_roll": (-12, 12)})  # fmt: skip
        return a, tilt
    if family == "reaching":
        a = _fill(rng, n, {"spine_flex": (-20, 60), "spine_twist": (-30, 30), "spine_lat": (-25, 25),
                           "thorax_flex": (-10, 25)})  # fmt: skip
        both = rng.uniform(size=n) < 0.5
        for side in ("r", "l"):
            on = both | (side == "r")
            up = rng.uniform(90, 170, n)
            sideways = rng.uniform(size=n) < 0.35
            a[:, _D[f"{side}_sh_flex"]] = np.where(on & ~sideways, up, a[:, _D[f"{side}_sh_flex"]])
            a[:, _D[f"{side}_sh_abd"]] = np.where(on & sideways, up, a[:, _D[f"{side}_sh_abd"]])
            a[:, _D[f"{side}_elbow"]] = np.where(on, rng.uniform(0, 40, n), a[:, _D[f"{side}_elbow"]])
        _set(a, rng, {"r_hip_flex": (-20, 40), "neck_flex": (-40, 30)})
        return a, tilt
    if family == "crouching":
        a = _fill(rng, n, {"hip_flex": (70, 120), "knee": (90, 150), "hip_abd": (0, 35), "hip_rot": (-30, 30),
                           "spine_flex": (0, 55), "pelvis_pitch": (0, 30), **_ARMS_ANYWHERE})  # fmt: skip
        return a, tilt
    if family == "kneeling":
        a = _fill(rng, n, {"spine_flex": (-10, 45), **_ARMS_ANYWHERE})
        kind = rng.integers(0, 3, n)  # 0: upright on both knees, 1: on one knee (lunge), 2: sitting on the heels
        _set(a, rng, {"r_hip_flex": (-10, 30), "r_knee": (80, 110)})
        lunge_hip, lunge_knee = rng.uniform(60, 100, n), rng.uniform(70, 110, n)
        a[:, _D["l_hip_flex"]] = np.where(kind == 1, lunge_hip, a[:, _D["r_hip_flex"]] + rng.normal(0, 5, n))
        a[:, _D["l_knee"]] = np.where(kind == 1, lunge_knee, a[:, _D["r_knee"]] + rng.normal(0, 5, n))
        heels = kind == 2
        for side in ("r", "l"):
            a[:, _D[f"{side}_knee"]] = np.where(heels, rng.uniform(135, 150, n), a[:, _D[f"{side}_knee"]])
            a[:, _D[f"{side}_hip_flex"]] = np.where(heels, rng.uniform(30, 70, n), a[:, _D[f"{side}_hip_flex"]])
        return a, tilt
    if family == "lying":
        a = _fill(rng, n, {"hip_flex": (-20, 100), "knee": (0, 130), "hip_abd": (-10, 40), **_ARMS_ANYWHERE})
        kind = rng.integers(0, 4, n)  # on the back, on the front, on a side, inverted (handstand, cartwheel)
        angle = rng.uniform(60, 100, n)
        tilt[:, 0] = np.select([kind == 0, kind == 1], [-angle, angle], 0.0)
        tilt[:, 1] = np.select([kind == 2, kind == 3], [angle * rng.choice([-1, 1], n), rng.uniform(120, 180, n)],
                               0.0)  # fmt: skip
        return a, tilt
    if family == "sport":
        a = _fill(rng, n, {})
        kind = rng.integers(0, 4, n)  # run, kick, throw, jump
        run, kick, throw, jump = (kind == k for k in range(4))
        stride = rng.uniform(20, 80, n)
        cols = {
            "r_hip_flex": np.select([run, kick, jump], [stride, rng.uniform(40, 120, n), rng.uniform(0, 60, n)],
                                    a[:, _D["r_hip_flex"]]),
            "l_hip_flex": np.select([run, kick, jump], [-stride / 2.5, rng.uniform(-10, 15, n),
                                                        rng.uniform(0, 60, n)], a[:, _D["l_hip_flex"]]),
            "r_knee": np.select([run, kick, jump], [rng.uniform(20, 120, n), rng.uniform(0, 60, n),
                                                    rng.uniform(0, 90, n)], a[:, _D["r_knee"]]),
            "l_knee": np.select([run, jump], [rng.uniform(10, 120, n), rng.uniform(0, 90, n)], a[:, _D["l_knee"]]),
            "l_sh_flex": np.select([run, jump], [stride * 0.8, rng.uniform(60, 170, n)], a[:, _D["l_sh_flex"]]),
            "r_sh_flex": np.select([run, jump], [-stride * 0.6, rng.uniform(60, 170, n)], a[:, _D["r_sh_flex"]]),
            "r_sh_abd": np.select([throw, kick], [rng.uniform(70, 170, n), rng.uniform(20, 90, n)],
                                  a[:, _D["r_sh_abd"]]),
            "l_sh_abd": np.select([kick], [rng.uniform(20, 90, n)], a[:, _D["l_sh_abd"]]),
            "r_sh_rot": np.select([throw], [rng.uniform(-70, 70, n)], a[:, _D["r_sh_rot"]]),
            "r_elbow": np.select([run, throw], [rng.uniform(60, 110, n), rng.uniform(0, 120, n)], a[:, _D["r_elbow"]]),
            "l_elbow": np.select([run], [rng.uniform(60, 110, n)], a[:, _D["l_elbow"]]),
            "spine_twist": np.select([throw], [rng.uniform(-35, 35, n)], a[:, _D["spine_twist"]]),
            "spine_flex": np.select([run, throw], [rng.uniform(5, 25, n), rng.uniform(-15, 30, n)],
                                    a[:, _D["spine_flex"]]),
        }
        for name, col in cols.items():
            a[:, _D[name]] = col
        return a, tilt
    raise ValueError(f"unknown pose family {family!r}; use one of {', '.join(FAMILIES)}")


def sample_angles(rng: np.random.Generator, n: int, weights=DEFAULT_WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
    """Joint angles of `n` poses drawn from the families in proportion to `weights`.

    Args:
        rng: Random generator.
        n: Number of poses.
        weights: (8,) non-negative shares of `FAMILIES`.

    Returns:
        ``(angles_rad (n, 26) in `DOFS` order, strictly inside `LIMITS_DEG`, tilt_rad (n, 2))``: the whole
        body's pitch (about its left axis; positive leans forward) and roll (about its forward axis).
    """
    w = np.asarray(weights, np.float64)
    if w.shape != (len(FAMILIES),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights: {len(FAMILIES)} non-negative shares of {FAMILIES}, got {weights}")
    counts = rng.multinomial(n, w / w.sum())
    parts = [_family(rng, f, c) for f, c in zip(FAMILIES, counts, strict=True) if c]
    deg = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, _N))
    tilt = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 2))
    mirror = rng.uniform(size=n) < 0.5
    deg = np.where(mirror[:, None], deg[:, _MIRROR] * _MIRROR_SIGN, deg)
    tilt[:, 1] = np.where(mirror, -tilt[:, 1], tilt[:, 1])
    a, b = HIP_KNEE_COUPLING
    for side in ("r", "l"):
        hip, knee = _D[f"{side}_hip_flex"], _D[f"{side}_knee"]
        deg[:, hip] = np.minimum(deg[:, hip], a + b * np.maximum(deg[:, knee], 0.0))
    deg = _soft_clip(deg, LIMITS_DEG[:, 0], LIMITS_DEG[:, 1])
    order = rng.permutation(n)
    return np.deg2rad(deg[order]), np.deg2rad(tilt[order])


_GROUPS = {"hip_width": [1, 4], "thigh": [2, 5], "shin": [3, 6], "spine": [7, 8], "neck": [9], "head": [10],
           "shoulder_width": [11, 14], "upper_arm": [12, 15], "forearm": [13, 16]}  # fmt: skip
_CHILD = {"thigh": -0.1, "shin": -0.12, "neck": 0.1, "head": 0.3, "hip_width": 0.05, "upper_arm": -0.05,
          "forearm": -0.05}  # fmt: skip
"""Relative proportion change of a small child (1.0 m) against an adult of the same height."""
DETECTOR_OFFSETS_MM = REFERENCE_OFFSETS_MM.copy()
"""The twin's body with the joints placed where `lift3d.core.skeleton.map_to_h36m` puts them from a 2D detector's
keypoints: hips 20 cm apart (detector hips), thorax = mid-shoulders, neck_nose = the nose, head = the head top
(measured on the Pose2Sim static trials' triangulated OpenPose joints)."""
DETECTOR_OFFSETS_MM[[1, 4, 9, 10, 11, 14]] = [[0, -100, 0], [0, 100, 0], [110, 0, 175], [-50, 0, 120],
                                              [0, 150, 0], [0, -150, 0]]  # fmt: skip
DEFINITIONS = {"h36m": REFERENCE_OFFSETS_MM, "detector": DETECTOR_OFFSETS_MM}
"""Joint definitions a prior body can use: Human3.6M's (the twin's) or a mapped 2D detector's."""


def sample_bodies(rng: np.random.Generator, n: int, *, child_fraction: float = 0.1, definitions: str = "h36m",
                  proportion_spread: float = 1.0) -> np.ndarray:  # fmt: skip
    """Bone offsets of `n` random bodies (see the module docstring).

    Args:
        rng: Random generator.
        n: Number of bodies.
        child_fraction: Share of children (1.0-1.5 m tall).
        definitions: A key of `DEFINITIONS`: where the body's joints sit.
        proportion_spread: Factor on the per-group jitter (1: std 3.5 % per bone group, 7 % for widths).

    Returns:
        (n, 17, 3) offsets from the parent joint, mm, body frame (x forward, y left, z up).
    """
    height = np.clip(rng.normal(1.70, 0.09, n), 1.45, 2.05)
    child = rng.uniform(size=n) < child_fraction
    height = np.where(child, rng.uniform(1.0, 1.5, n), height)
    childness = np.where(child, (1.5 - height) / 0.5, 0.0)
    factor = np.ones((n, 17))
    for group, joints in _GROUPS.items():
        spread = (0.07 if group.endswith("width") else 0.035) * proportion_spread
        f = (1.0 + spread * np.clip(rng.normal(size=n), -2, 2)) * (1.0 + _CHILD.get(group, 0.0) * childness)
        factor[:, joints] = f[:, None]
    if definitions not in DEFINITIONS:
        raise ValueError(f"unknown joint definitions {definitions!r}; use one of {', '.join(DEFINITIONS)}")
    offsets = DEFINITIONS[definitions][None] * factor[..., None]
    # the body's height (ankle to head top along the chain) rescaled to the drawn height
    chain = [3, 2, 7, 8, 9, 10]
    stature = np.linalg.norm(offsets[:, chain], axis=-1).sum(-1) + 90.0
    return offsets * (height * 1000.0 / stature)[:, None, None]


def _tilt_matrices(tilt_rad: np.ndarray, heading_rad: np.ndarray) -> np.ndarray:
    """(n, 3, 3): yaw(heading) @ roll @ pitch @ yaw(-heading), i.e. pitch/roll about the body's own axes."""
    def rot(axis, ang):
        c, s = np.cos(ang), np.sin(ang)
        m = np.zeros((len(ang), 3, 3))
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        m[:, axis, axis] = 1.0
        m[:, i, i], m[:, i, j], m[:, j, i], m[:, j, j] = c, -s, s, c
        return m

    yaw = rot(2, heading_rad)
    return yaw @ rot(0, tilt_rad[:, 1]) @ rot(1, tilt_rad[:, 0]) @ np.swapaxes(yaw, -1, -2)


def sample_poses(seed: int, n: int, *, weights=DEFAULT_WEIGHTS, child_fraction: float = 0.1,
                 definitions: str = "h36m", proportion_spread: float = 1.0) -> np.ndarray:  # fmt: skip
    """`n` independent random poses of random bodies (see the module docstring).

    Args:
        seed: Seed of everything drawn (same seed, same poses).
        n: Number of poses.
        weights: Shares of `FAMILIES`.
        child_fraction: Share of children among the bodies.
        definitions: Joint definitions (`DEFINITIONS`).
        proportion_spread: Factor on the bodies' proportion jitter (`sample_bodies`).

    Returns:
        (n, 17, 3) H36M-17 joints, metres, world Z-up: pelvis over the origin, lowest joint 5-9 cm above z = 0.
    """
    rng = np.random.default_rng(seed)
    angles, tilt = sample_angles(rng, n, weights)
    offsets = sample_bodies(rng, n, child_fraction=child_fraction, definitions=definitions,
                            proportion_spread=proportion_spread)  # fmt: skip
    heading = rng.uniform(0, 2 * np.pi, n)
    pts = forward_kinematics(angles, heading, np.zeros((n, 3)), offsets)  # pelvis at the origin
    pts = np.einsum("nab,njb->nja", _tilt_matrices(tilt, heading), pts)
    pts[..., 2] += rng.uniform(50.0, 90.0, n)[:, None] - pts[..., 2].min(-1, keepdims=True)
    assert pts.shape[1] == H36M_17.num_joints
    return pts / 1000.0

"""The world frame from the people: the floor from foot contacts, up from the body, forward from the walk.

Everything here is float64 numpy (no compiling: a capture is a few thousand points), vectorised over frames
and joints. Points are world coordinates in metres, ``points`` (t, j, 3) or (t, p, j, 3) (p people, each one
track), NaN = missing. The joints are named by any object with ``joint_names`` (`lift3d.core.skeleton.Skeleton`,
`lift3d.core.motion.Motion`; geometry knows no nouns) or a sequence of names: `ground_joints` picks the feet
and hips by name.

Method (`align_ground` runs it all):

1. `body_up`: first guess, the median of the unit mid-feet -> body-centroid (mean of all joints) directions.
2. `foot_contacts`: a foot joint touches the floor in a frame where it is still (speed <= ``max_speed``) and
   low (height along ``up`` within ``margin`` of that track's ``percentile``-th height); of each foot's
   joints in contact in a frame, the lowest is the contact (the sole's lowest keypoint: toes when standing flat,
   the heel at heel strike).
3. `fit_ground_plane`: Tukey-reweighted least squares of a plane on the contacts. When they span a line only
   (one subject walking straight, second principal spread < ``min_spread``) the plane holds that line and turns
   about it towards the body's up; when they are a blob (someone standing still) its normal is the body's up;
   its height is always the contacts'. Steps 2-3 run three times, heights measured from the last plane; from
   the second on, the body's up is `support_up`: the mean vector from each contact to the body's
   centroid in that frame (the centre of mass stands over the support). The trunk is not used: on the real
   balancing trial hip-mid -> head_top leans 30 degrees from the lab vertical, mid-feet -> centroid 9, the
   support up 1.
4. `world_frame`: z = the plane's normal (towards the head), x = forward (walking direction: the principal
   horizontal direction of the pelvis trajectory, signed by travel; or given), y = z x x (left), origin =
   the contacts' centroid on the plane (``origin="contacts"``) or the old origin dropped onto the plane
   (``"keep"``: old x, y kept up to the tilt, only z fixed). ``X_new = rotation @ X_old + translation``.

The floor is where the contact *keypoints* are: a detector's toe or heel keypoint sits some centimetres above
the sole, so z = 0 is the keypoints' contact height, not the floor itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

__all__ = [
    "HasJoints", "GroundJoints", "ground_joints", "body_up", "support_up", "foot_contacts", "GroundPlane",
    "fit_ground_plane", "walking_direction", "WorldFrame", "world_frame", "apply_frame", "GroundAlignment",
    "align_ground",
]  # fmt: skip

MAX_SPEED = 0.25  # m/s: a foot joint slower than this may be in contact
PERCENTILE = 5.0  # a track's low height: this percentile of its heights
MARGIN = 0.03  # m: contacts are within this of the track's low height
# m: contacts spread less than this (principal std) in a direction do not fix the tilt along it. Contact keypoints
# differ by a few cm between the feet (the real balancing trial: left toes 4 cm above the right ones), which tilts
# a fit by about atan(0.04 / (2 spread)): 5.7 degrees at 0.2 m (measured: 6.1 on that trial's beam), 2.9 at 0.4.
MIN_SPREAD = 0.4
MIN_TRAVEL = 0.5  # m: the pelvis must travel this far (5-95 % span) to give the forward direction
_FEET = ("heel", "big_toe", "small_toe", "ankle")


class HasJoints(Protocol):
    """Anything with joint names (`lift3d.core.skeleton.Skeleton`, `lift3d.core.motion.Motion`)."""

    joint_names: Sequence[str]


class GroundJoints(NamedTuple):
    """Joint indices by role.

    Attributes:
        feet: One tuple of joint indices per foot (left, right): heels, toes, ankles present.
        hips: Joints whose mean is the hip-mid (pelvis: the walking direction).
    """

    feet: tuple[tuple[int, ...], ...]
    hips: tuple[int, ...]


def ground_joints(joints: HasJoints | Sequence[str]) -> GroundJoints:
    """Feet and hips of a skeleton (or joint-name sequence), by name.

    Raises:
        ValueError: No foot joint or no hips.
    """
    names = list(getattr(joints, "joint_names", joints))
    pick = lambda *cands: tuple(names.index(c) for c in cands if c in names)  # noqa: E731
    feet = tuple(f for f in (pick(*(f"{s}_{p}" for p in _FEET)) for s in ("left", "right")) if f)
    hips = pick("mid_hip") or pick("pelvis") or pick("left_hip", "right_hip")
    missing = [what for what, idx in (("foot (heel, toe or ankle)", feet), ("hip", hips)) if not idx]
    if missing:
        raise ValueError(f"no {' / '.join(missing)} joint among {names}")
    return GroundJoints(feet, hips)


def _tracks(points: Any) -> np.ndarray:
    """(t, j, 3) or (t, p, j, 3) -> (t, p, j, 3) float64."""
    p = np.asarray(points, np.float64)
    if p.ndim == 3:
        p = p[:, None]
    if p.ndim != 4 or p.shape[-1] != 3:
        raise ValueError(f"points: expected (t, j, 3) or (t, p, j, 3), got shape {np.shape(points)}")
    return p


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over finite points (NaN where none), without numpy's empty-slice warning."""
    ok = np.isfinite(x).all(-1, keepdims=True)
    return np.where(ok, x, 0.0).sum(axis) / ok.sum(axis)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def body_up(points: Any, feet: Sequence[Sequence[int]]) -> np.ndarray:
    """First guess of the body's up: median (per axis, renormalised) of the unit mid-feet -> centroid vectors, (3,).

    The centroid is the mean of a track's joints in a frame (a centre-of-mass proxy), mid-feet the mean of its
    foot joints.

    Raises:
        ValueError: No frame has foot joints.
    """
    p = _tracks(points)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = _unit(_nanmean(p, 2) - _nanmean(p[:, :, [j for f in feet for j in f]], 2)).reshape(-1, 3)
    v = v[np.isfinite(v).all(-1)]
    if not len(v):
        raise ValueError("no frame has foot joints: no body up direction")
    return _unit(np.median(v, 0))


def support_up(points: Any, contacts: Any, frames: Any, tracks: Any) -> np.ndarray:
    """The body's up over its support: the unit mean of the contact -> centroid (mean of the track's joints in that
    frame) vectors; over time the centre of mass stands over the support, left and right steps cancel.

    Args:
        points: (t, j, 3) or (t, p, j, 3) metres.
        contacts, frames, tracks: As `foot_contacts` returns them: (n, 3), (n,), (n,).
    """
    p = _tracks(points)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = _nanmean(p, 2)[np.asarray(frames), np.asarray(tracks)] - np.asarray(contacts)
    v = v[np.isfinite(v).all(-1)]
    return _unit(v.mean(0))


def foot_contacts(
    points: Any, feet: Sequence[Sequence[int]], up: Any, *, fps: float, height0: float = 0.0,
    max_speed: float = MAX_SPEED, percentile: float = PERCENTILE, margin: float = MARGIN,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Foot contacts: still, low foot joints; the lowest joint of each foot per frame.

    Args:
        points: (t, j, 3) or (t, p, j, 3) metres.
        feet: Joint indices of each foot.
        up: (3,) unit up direction; heights are ``points @ up - height0``.
        fps: Frame rate (Hz), for speeds (central differences).
        height0: Height (m) of the current floor estimate along ``up``.
        max_speed, percentile, margin: See the module doc (m/s, %, m).

    Returns:
        contacts (n, 3) points, their frame indices (n,) and track (person) indices (n,).
    """
    p = _tracks(points)
    up = _unit(np.asarray(up, np.float64))
    speed = np.linalg.norm(np.gradient(p, axis=0), axis=-1) * fps if len(p) > 1 else np.zeros(p.shape[:-1])
    height = p @ up - height0  # (t, p, j)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a joint never seen: an all-NaN column, no contact
        low = np.nanpercentile(np.where(np.isfinite(height), height, np.nan), percentile, axis=0)  # (p, j)
        ok = (speed <= max_speed) & (height <= low + margin)  # NaN compares False
    out_p, out_t, out_k = [], [], []
    for foot in feet:
        f = list(foot)
        h = np.where(ok[..., f], height[..., f], np.inf)  # (t, p, k)
        best = np.argmin(h, axis=-1)  # (t, p)
        hit = np.isfinite(np.take_along_axis(h, best[..., None], -1)[..., 0])
        joint = np.asarray(f)[best]
        t_idx, p_idx = np.nonzero(hit)
        out_p.append(p[t_idx, p_idx, joint[t_idx, p_idx]])
        out_t.append(t_idx)
        out_k.append(p_idx)
    return np.concatenate(out_p).reshape(-1, 3), np.concatenate(out_t), np.concatenate(out_k)


class GroundPlane(NamedTuple):
    """A floor plane ``normal . x = offset``.

    Attributes:
        normal: (3,) unit normal, pointing to the head.
        offset: Signed distance (m) of the plane from the origin along ``normal``.
        centroid: (3,) robust (weighted) centroid of the contacts, projected on the plane.
        mode: "plane" (normal from the contacts), "line" (plane through the contacts' line, turned to the body's
            up about it) or "body" (normal = the body's up; height from the contacts).
        weights: (n,) final robust weights of the contacts in [0, 1].
    """

    normal: np.ndarray
    offset: float
    centroid: np.ndarray
    mode: str
    weights: np.ndarray


def fit_ground_plane(
    contacts: Any, up: Any, *, min_spread: float = MIN_SPREAD, iterations: int = 30, tukey_c: float = 4.685
) -> GroundPlane:
    """Robust plane through foot contacts (Tukey biweight IRLS), falling back on ``up`` where they are degenerate.

    Args:
        contacts: (n, 3) points, metres (n >= 1).
        up: (3,) the body's up direction (picks the normal's sign; the normal where contacts do not fix it).
        min_spread: Principal standard deviation (m) below which contacts do not fix the tilt in that direction.
        iterations: Reweighting rounds at most.
        tukey_c: Tukey constant in robust standard deviations (1.4826 MAD, at least 5 mm).

    Returns:
        The `GroundPlane`.
    """
    x = np.asarray(contacts, np.float64).reshape(-1, 3)
    if not len(x):
        raise ValueError("no foot contacts (still, low foot joints): cannot find the floor")
    up = _unit(np.asarray(up, np.float64))
    w = np.ones(len(x))
    normal, mode = up, "body"
    for _ in range(iterations):
        c = (w[:, None] * x).sum(0) / w.sum()
        d = x - c
        evals, evecs = np.linalg.eigh((w[:, None] * d).T @ d / w.sum())  # ascending
        spread = np.sqrt(np.maximum(evals, 0.0))
        if spread[1] >= min_spread:
            new, mode = evecs[:, 0], "plane"
        elif spread[2] >= min_spread:
            line = evecs[:, 2]
            new, mode = up - (up @ line) * line, "line"
        else:
            new, mode = up, "body"
        new = _unit(new) * (1.0 if new @ up >= 0 else -1.0)
        r = d @ new
        r = r - np.median(r) if mode == "body" else r
        scale = max(1.4826 * np.median(np.abs(r - np.median(r))), 0.005)
        u = r / (tukey_c * scale)
        w_new = np.where(np.abs(u) < 1, (1 - u**2) ** 2, 0.0)
        if not w_new.any():
            break
        done = np.allclose(new, normal, atol=1e-10) and np.allclose(w_new, w, atol=1e-8)
        normal, w = new, w_new
        if done:
            break
    c = (w[:, None] * x).sum(0) / w.sum()
    offset = float(np.median(x[w > 0] @ normal)) if mode == "body" else float(c @ normal)
    return GroundPlane(normal, offset, c - (c @ normal - offset) * normal, mode, w)


def walking_direction(pelvis: Any, normal: Any, *, min_travel: float = MIN_TRAVEL) -> np.ndarray | None:
    """Forward direction of travel: principal horizontal direction of a (t, 3) pelvis trajectory, signed by
    travel (slope over time); None when its 5-95 % span along it is below ``min_travel`` (m)."""
    p = np.asarray(pelvis, np.float64).reshape(len(pelvis), -1, 3)
    n = _unit(np.asarray(normal, np.float64))
    t = np.broadcast_to(np.arange(len(p))[:, None], p.shape[:2]).reshape(-1)
    p = p.reshape(-1, 3)
    keep = np.isfinite(p).all(-1)
    p, t = p[keep], t[keep]
    if len(p) < 3:
        return None
    h = p - (p @ n)[:, None] * n
    d = h - h.mean(0)
    direction = np.linalg.svd(d, full_matrices=False)[2][0]
    s = d @ direction
    span = np.percentile(s, 95) - np.percentile(s, 5)
    if span < min_travel:
        return None
    slope = np.sum((t - t.mean()) * (s - s.mean()))
    return direction * (1.0 if slope >= 0 else -1.0)


class WorldFrame(NamedTuple):
    """The new world: ``X_new = rotation @ X_old + translation`` (metres, proper rotation).

    Attributes:
        rotation: (3, 3) rows = new x (forward), y (left), z (up) in old coordinates.
        translation: (3,) ``-rotation @ origin``.
        origin: (3,) the new origin in old coordinates (on the floor plane).
    """

    rotation: np.ndarray
    translation: np.ndarray
    origin: np.ndarray


def world_frame(plane: GroundPlane, forward: Any, *, origin: str = "contacts") -> WorldFrame:
    """The frame with z = the plane's normal, x = ``forward`` projected on the plane, origin per ``origin``.

    Args:
        plane: The floor.
        forward: (3,) forward direction in old coordinates (not along the normal).
        origin: "contacts" (contacts' centroid on the plane) or "keep" (old origin dropped onto the plane).
    """
    z = plane.normal
    f = np.asarray(forward, np.float64)
    f = f - (f @ z) * z
    if np.linalg.norm(f) < 1e-6:
        raise ValueError("the forward direction is vertical: it gives no horizontal axis")
    x = _unit(f)
    rotation = np.stack([x, np.cross(z, x), z])
    if origin == "contacts":
        o = plane.centroid
    elif origin == "keep":
        o = plane.offset * z
    else:
        raise ValueError(f"origin must be 'contacts' or 'keep', got {origin!r}")
    return WorldFrame(rotation, -rotation @ o, o)


def apply_frame(frame: WorldFrame, points: Any) -> np.ndarray:
    """Points (..., 3) in old coordinates -> the new world."""
    return np.asarray(points, np.float64) @ frame.rotation.T + frame.translation


class GroundAlignment(NamedTuple):
    """What `align_ground` found (old coordinates unless said).

    Attributes:
        frame: The new world.
        plane: The floor.
        up: (3,) the body's up direction (`support_up` of the last pass).
        contacts: (n, 3) the contacts of the final pass; ``contact_frames`` (n,) their frames.
        forward_source: "walk", "given" or "old x" (walking too short and nothing given).
        tilt_deg: Angle between the old z axis and the new up.
    """

    frame: WorldFrame
    plane: GroundPlane
    up: np.ndarray
    contacts: np.ndarray
    contact_frames: np.ndarray
    forward_source: str
    tilt_deg: float


def align_ground(
    points: Any, joints: HasJoints | Sequence[str], *, fps: float, forward: Any = None, walk: bool = True,
    origin: str = "contacts", max_speed: float = MAX_SPEED, percentile: float = PERCENTILE,
    margin: float = MARGIN, min_spread: float = MIN_SPREAD, min_travel: float = MIN_TRAVEL,
) -> GroundAlignment:  # fmt: skip
    """The world frame in which the feet stand on z = 0 (see the module doc).

    Args:
        points: (t, j, 3) or (t, p, j, 3) metres, NaN = missing.
        joints: Joint names (or an object with ``joint_names``) of the points' j axis.
        fps: Frame rate (Hz).
        forward: (3,) forward direction (old coordinates) used when ``walk`` is False or the walk is too short;
            None: the old x axis.
        walk: Take forward from the pelvis trajectory when it travels at least ``min_travel``.
        origin: "contacts" or "keep" (see `world_frame`).
        max_speed, percentile, margin, min_spread, min_travel: See the module doc.

    Raises:
        ValueError: Missing joints, or no contacts.
    """
    p = _tracks(points)
    roles = ground_joints(joints)
    up = body_up(p, roles.feet)
    plane = GroundPlane(up, 0.0, np.zeros(3), "body", np.zeros(0))
    for i in range(3):
        contacts, frames, tracks = foot_contacts(
            p, roles.feet, plane.normal, fps=fps, height0=plane.offset, max_speed=max_speed,
            percentile=percentile, margin=margin,
        )  # fmt: skip
        if i and len(contacts):
            up = support_up(p, contacts, frames, tracks)
        plane = fit_ground_plane(contacts, up, min_spread=min_spread)
    pelvis = p[:, :, list(roles.hips)].mean(2)
    direction = walking_direction(pelvis, plane.normal, min_travel=min_travel) if walk else None
    source = "walk"
    if direction is None:
        direction, source = (np.eye(3)[0], "old x") if forward is None else (np.asarray(forward, float), "given")
    frame = world_frame(plane, direction, origin=origin)
    tilt = float(np.degrees(np.arccos(np.clip(plane.normal[2], -1.0, 1.0))))
    return GroundAlignment(frame, plane, up, contacts, frames, source, tilt)

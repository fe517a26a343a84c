"""A rig from people alone: pairwise relative poses from keypoints, chained over the camera graph (no board, no rig).

`lift3d calibrate refine` turns a rough rig into a good one; this module makes the rough rig (the whole procedure,
with the bundle adjustment, the focal length, the scale and the world frame, is `lift3d.calibration.people_rig`):

1. `normalised_keypoints`: each camera's detections as normalised, undistorted image coordinates (its
   intrinsics), confidences below `min_confidence` set to 0.
2. `match_pair`, per camera pair: which detection of one view is which detection of the other (people are
   associated before any rig exists by epipolar consistency: hypotheses of the essential matrix from the joints
   of two random detection pairs, `cv2.findEssentialMat` with RANSAC, scored by the frames where some detection
   pair agrees with them); then the essential matrix of all the joints of the matched detections (RANSAC),
   `cv2.recoverPose`, and a Sampson-error refinement of the pose weighted by the detector confidences.
3. `chain_poses`: a maximum spanning tree of the camera graph (edge weight: inlier correspondences times the sine
   of their median triangulation angle), from its best edge: each new camera takes the pair's
   rotation and translation direction, the translation's length from the depths of the joints the placed
   camera already triangulated (median ratio). The world is the best pair's first camera, the scale its baseline.

Degenerate input is refused (`CalibrationError` naming the cameras, raised here and in `people_rig`): fewer than
`MIN_FRAMES` frames where two cameras see the same person, a camera sharing no person with the others, and a
person who barely moves (`motion_share` under `MIN_MOTION`: the joints must move, over the capture, by 5 % of the
body's height in the images; the real balancing trial moves 20-39 %, a static trial 0).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from lift3d.errors import CalibrationError
from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera

__all__ = [
    "PairPose",
    "normalised_keypoints",
    "motion_share",
    "match_pair",
    "chain_poses",
    "MIN_FRAMES",
    "MIN_MOTION",
]

MIN_FRAMES = 10  # frames where two cameras see one person that a pair needs
MIN_MOTION = 0.05  # share of the body's image height the joints must move (90th percentile) over the capture
MIN_JOINTS = 6  # confident joints two detections must share to be a correspondence


@dataclasses.dataclass(frozen=True)
class PairPose:
    """The relative pose of two cameras found from the people they both see.

    Attributes:
        a, b: Camera indices (a < b).
        slots: (t, p_a) int: the detection slot of camera b matched to each detection of camera a (-1: none).
        frames: Frames with at least one matched detection pair.
        correspondences: Joint correspondences of the matched detections (confident in both views).
        inliers: (n,) bool over those correspondences: agreeing with the pose (Sampson error under the threshold,
            in front of both cameras).
        R: (3, 3) rotation from camera a to camera b (`x_b = R x_a + t`).
        t: (3,) unit translation direction.
        angle_deg: Median triangulation angle of the inliers, degrees.
        error_px: Median Sampson error of the inliers, px (normalised error times the mean focal length).
        keys: (n, 3) int (frame, slot_a, joint) of the correspondences; `points_a` (n, 3) their triangulation in
            camera a's frame for a unit baseline (NaN for outliers).
    """

    a: int
    b: int
    slots: np.ndarray
    frames: int
    correspondences: int
    inliers: np.ndarray
    R: np.ndarray
    t: np.ndarray
    angle_deg: float
    error_px: float
    keys: np.ndarray
    points_a: np.ndarray

    @property
    def weight(self) -> float:
        """Support of the pair for the spanning tree: inliers times the sine of the median triangulation angle
        (cameras side by side or facing each other fix depths poorly)."""
        return float(self.inliers.sum()) * max(np.sin(np.radians(self.angle_deg)), 0.0)


def normalised_keypoints(
    cameras: Camera, points_2d: np.ndarray, confidence: np.ndarray, min_confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints as normalised undistorted coordinates (`X / Z`, `Y / Z`) of each camera.

    Args:
        cameras: Intrinsics of the v cameras (poses unused), batch shape (v,).
        points_2d: (t, v, p, j, 2) distorted pixels, NaN where missing.
        confidence: (t, v, p, j) detector confidences.
        min_confidence: Confidences below this become 0.

    Returns:
        (xy, conf): (t, v, p, j, 2) normalised coordinates (NaN where missing) and (t, v, p, j) confidences.
    """
    uv = np.asarray(points_2d, np.float64)
    t, v, p, j, _ = uv.shape
    ok = np.isfinite(uv).all(-1) & (confidence >= min_confidence)
    conf = np.where(ok, confidence, 0.0)
    flat = np.moveaxis(np.where(ok[..., None], uv, 0.0), 1, 0).reshape(v, -1, 2)
    with np.errstate(all="ignore"):
        xy = numpy_camera.undistort(numpy_camera.camera_params(cameras), flat, cameras.model == "fisheye")
    xy = np.moveaxis(xy.reshape(v, t, p, j, 2), 0, 1)
    return np.where(ok[..., None], xy, np.nan), conf


def motion_share(points_2d: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """How much the people move in each view: the 90th percentile over joints of the distance from each joint's
    median position (per detection slot), over the median body height in the image.

    Args:
        points_2d: (t, v, p, j, 2) pixels; confidence (t, v, p, j) (0 = missing).
        confidence: See above.

    Returns:
        (v,) shares (0 for a view with no detection); a person standing still gives about 0, a walk several.
    """
    uv = np.where((confidence > 0)[..., None], np.asarray(points_2d, np.float64), np.nan)
    out = np.zeros(uv.shape[1])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # views or slots without detections
        for c in range(uv.shape[1]):
            x = uv[:, c]  # (t, p, j, 2)
            d = np.linalg.norm(x - np.nanmedian(x, 0), axis=-1)
            h = np.nanmax(x[..., 1], -1) - np.nanmin(x[..., 1], -1)
            if np.isfinite(d).any() and np.isfinite(h).any():
                out[c] = np.nanpercentile(d, 90) / max(float(np.nanmedian(h)), 1.0)
    return out


def _sampson(E: np.ndarray, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Sampson distances (...,) of normalised correspondences xa, xb (..., 2) under essential matrices E."""
    ha = np.concatenate([xa, np.ones(xa.shape[:-1] + (1,))], -1)
    hb = np.concatenate([xb, np.ones(xb.shape[:-1] + (1,))], -1)
    Ea = ha @ E.T  # E x_a
    Etb = hb @ E  # E^T x_b
    num = np.sum(hb * Ea, -1)
    den = Ea[..., 0] ** 2 + Ea[..., 1] ** 2 + Etb[..., 0] ** 2 + Etb[..., 1] ** 2
    return np.abs(num) / np.sqrt(np.maximum(den, 1e-30))


def _essential(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    return tx @ R


def _candidates(xa, ca, xb, cb):
    """Detection pairs (frame, slot_a, slot_b) sharing at least MIN_JOINTS confident joints, and their masks."""
    both = (ca[:, :, None] > 0) & (cb[:, None, :] > 0)  # (t, pa, pb, j)
    f, sa, sb = np.nonzero(both.sum(-1) >= MIN_JOINTS)
    return f, sa, sb, both[f, sa, sb]


def _hypotheses(xa, xb, f, sa, sb, mask, thr, rng, iterations):
    """Essential matrices from the joints of two random detection pairs of different frames (RANSAC each)."""
    frames = np.unique(f)
    if len(frames) < 2:
        return
    for _ in range(iterations):
        fr = rng.choice(frames, 2, replace=False)
        pick = [rng.choice(np.flatnonzero(f == x)) for x in fr]
        pa = np.concatenate([xa[f[k], sa[k]][mask[k]] for k in pick])
        pb = np.concatenate([xb[f[k], sb[k]][mask[k]] for k in pick])
        if len(pa) < 8:
            continue
        E, _ = cv2.findEssentialMat(pa, pb, np.eye(3), method=cv2.RANSAC, prob=0.95, threshold=thr, maxIters=100)
        if E is not None:
            yield from (E[i : i + 3] for i in range(0, len(E), 3))


def _most_pairs(f, sa, sb) -> int:
    """Most one-to-one detection pairs the frames can hold (per frame the smaller number of slots)."""
    return int(sum(min(len(np.unique(sa[f == x])), len(np.unique(sb[f == x]))) for x in np.unique(f)))


def _assign(score, f, sa, sb, gate):
    """Greedy one-to-one detection pairs per frame, lowest score first, below `gate`; returns a bool mask."""
    keep = np.zeros(len(score), bool)
    used = set()
    for k in np.argsort(score):
        if score[k] > gate:
            break
        if (f[k], 0, sa[k]) in used or (f[k], 1, sb[k]) in used:
            continue
        used |= {(f[k], 0, sa[k]), (f[k], 1, sb[k])}
        keep[k] = True
    return keep


def _refine_pose(R, t, xa, xb, w):
    """Confidence-weighted Sampson least squares over (rotation vector, translation on the sphere)."""
    r0 = Rotation.from_matrix(R).as_rotvec()
    u0 = t / np.linalg.norm(t)
    e1 = np.cross(u0, [1.0, 0, 0] if abs(u0[0]) < 0.9 else [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u0, e1)
    sw = np.sqrt(w)

    def pose(p):
        u = u0 + p[3] * e1 + p[4] * e2
        return Rotation.from_rotvec(p[:3]).as_matrix(), u / np.linalg.norm(u)

    def res(p):
        Rp, up = pose(p)
        return sw * _sampson(_essential(Rp, up), xa, xb)

    scale = 3.0 * float(np.median(res(np.zeros(5)))) + 1e-9  # Huber from 3 median errors
    fit = least_squares(res, np.concatenate([r0, [0.0, 0.0]]), loss="huber", f_scale=scale, x_scale="jac")
    Rp, up = pose(fit.x)
    return Rp, up


def _triangulate_pair(R, t, xa, xb):
    """Points (n, 3) in camera a's frame from normalised xa, xb (n, 2) (linear triangulation) and the angles (deg)
    between their two rays."""
    P1 = np.hstack([np.eye(3), np.zeros((3, 1))])
    P2 = np.hstack([R, t[:, None]])
    X = cv2.triangulatePoints(P1, P2, xa.T.astype(np.float64), xb.T.astype(np.float64))
    X = (X[:3] / X[3]).T
    ra = X / np.linalg.norm(X, axis=-1, keepdims=True)
    cb = -R.T @ t
    rb = X - cb
    rb /= np.linalg.norm(rb, axis=-1, keepdims=True)
    ang = np.degrees(np.arccos(np.clip(np.sum(ra * rb, -1), -1, 1)))
    return X, ang


def match_pair(
    a: int,
    b: int,
    xy: np.ndarray,
    conf: np.ndarray,
    *,
    focal_px: float,
    threshold_px: float = 4.0,
    gate_px: float = 15.0,
    iterations: int = 60,
    seed: int = 0,
) -> PairPose | None:
    """Associate the detections of cameras a and b by epipolar consistency and find their relative pose.

    Args:
        a, b: Camera indices.
        xy: (t, v, p, j, 2) normalised coordinates (`normalised_keypoints`), NaN where missing.
        conf: (t, v, p, j) confidences (0 = missing).
        focal_px: A typical focal length of the two cameras, px: converts the pixel thresholds.
        threshold_px: RANSAC threshold of the essential matrix (Sampson error), px.
        gate_px: Largest median Sampson error of a detection pair that is the same person, px.
        iterations: Hypotheses tried when some frame has several candidate detection pairs.
        seed: Seed of the hypothesis sampling.

    Returns:
        The `PairPose`, or None when fewer than `MIN_FRAMES` frames have a detection pair or no pose is found.
    """
    xa, ca, xb, cb = xy[:, a], conf[:, a], xy[:, b], conf[:, b]
    f, sa, sb, mask = _candidates(xa, ca, xb, cb)
    if len(np.unique(f)) < MIN_FRAMES:
        return None
    thr, gate = threshold_px / focal_px, gate_px / focal_px
    ambiguous = len(f) > len(np.unique(f))
    if ambiguous:
        rng = np.random.default_rng(seed)
        best, best_score = None, -np.inf
        Xa, Xb = np.nan_to_num(xa[f, sa]), np.nan_to_num(xb[f, sb])  # (k, j, 2)
        bound = _most_pairs(f, sa, sb)
        for E in _hypotheses(xa, xb, f, sa, sb, mask, thr, rng, iterations):
            d = np.where(mask, _sampson(E, Xa, Xb), np.nan)
            med = np.nanmedian(d, -1)
            keep = _assign(med, f, sa, sb, gate)
            score = keep.sum() - np.sum(np.minimum(med[keep], gate)) / gate  # frames, then closeness
            if score > best_score:
                best, best_score = keep, score
            if keep.sum() >= 0.9 * bound:
                break
        if best is None:
            return None
        f, sa, sb, mask = f[best], sa[best], sb[best], mask[best]
    else:
        keep = np.ones(len(f), bool)
    if len(np.unique(f)) < MIN_FRAMES:
        return None
    k_idx, j_idx = np.nonzero(mask)
    pa, pb = xa[f[k_idx], sa[k_idx], j_idx], xb[f[k_idx], sb[k_idx], j_idx]
    w = ca[f[k_idx], sa[k_idx], j_idx] * cb[f[k_idx], sb[k_idx], j_idx]
    E, inl = cv2.findEssentialMat(pa, pb, np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=thr, maxIters=2000)
    if E is None or len(E) < 3:
        return None
    _, R, t, inl = cv2.recoverPose(E[:3], pa, pb, np.eye(3), mask=inl.copy())
    inl = inl.ravel() > 0
    if inl.sum() < 8:
        return None
    R, t = _refine_pose(R, t.ravel(), pa[inl], pb[inl], w[inl])
    d = _sampson(_essential(R, t), pa, pb)
    X, ang = _triangulate_pair(R, t, pa, pb)
    depth_b = X @ R.T + t
    inl = (d < thr) & (X[:, 2] > 0) & (depth_b[:, 2] > 0)
    if inl.sum() < 8:
        return None
    slots = -np.ones(ca.shape[:2], np.int64)
    slots[f, sa] = sb
    return PairPose(
        a=a, b=b, slots=slots, frames=len(np.unique(f)), correspondences=len(pa), inliers=inl, R=R, t=t,
        angle_deg=float(np.median(ang[inl])), error_px=float(np.median(d[inl]) * focal_px),
        keys=np.stack([f[k_idx], sa[k_idx], j_idx], -1), points_a=np.where(inl[:, None], X, np.nan),
    )  # fmt: skip


def chain_poses(pairs: Sequence[PairPose], v: int, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list]:
    """Camera poses from pairwise ones over a maximum spanning tree of the camera graph.

    The best-supported pair (`PairPose.weight`) starts: its first camera is the world, its baseline the unit.
    Each further camera joins through its best edge to a placed camera k: rotation and translation direction
    from that pair, the translation's length from the median ratio of the depths (in camera k) of the joints k
    already has to the pair's own unit-baseline triangulation of them.

    Args:
        pairs: `match_pair` results (None-free).
        v: Number of cameras.
        names: Camera names (for the errors).

    Returns:
        (R (v, 3, 3), t (v, 3), tree): world->camera poses and the edges used as (placed, new) index pairs.

    Raises:
        CalibrationError: Cameras that no pair connects to the others (naming them), or a scale that cannot be
            carried along an edge (no common joints).
    """
    if not pairs:
        raise CalibrationError(
            f"no two cameras of {list(names)} see the same person in {MIN_FRAMES} frames or more: nothing to "
            "calibrate on; check that the keypoints are synchronised and the cameras overlap"
        )
    R, t = np.full((v, 3, 3), np.nan), np.full((v, 3), np.nan)
    world: dict[int, dict[tuple[int, int, int], np.ndarray]] = {}  # camera -> (frame, slot, joint) -> point
    first = max(pairs, key=lambda p: p.weight)
    R[first.a], t[first.a] = np.eye(3), np.zeros(3)
    _place(first, first.a, R, t, world, scale=1.0)
    tree = [(first.a, first.b)]
    placed = {first.a, first.b}
    while len(placed) < v:
        edges = [p for p in pairs if (p.a in placed) != (p.b in placed)]
        if not edges:
            missing = [names[c] for c in range(v) if c not in placed]
            raise CalibrationError(
                f"camera(s) {', '.join(missing)} share no person with camera(s) "
                f"{', '.join(names[c] for c in sorted(placed))} in {MIN_FRAMES} frames or more (with enough "
                "agreeing joints): they cannot be placed; check their keypoints and that they overlap the others"
            )
        edge = max(edges, key=lambda p: p.weight)
        k = edge.a if edge.a in placed else edge.b
        scale = _edge_scale(edge, k, R, t, world)
        if not np.isfinite(scale):
            raise CalibrationError(
                f"cameras {names[edge.a]} and {names[edge.b]}: no joint seen by both has a known depth, so the "
                "scale cannot be carried to the new camera"
            )
        _place(edge, k, R, t, world, scale)
        new = edge.b if k == edge.a else edge.a
        tree.append((k, new))
        placed.add(new)
    return R, t, tree


def _pair_in(edge: PairPose, k: int):
    """The edge's pose and points seen from camera k: (R_k->other, t, points in k's frame, keys of k, keys other)."""
    f, sa, j = edge.keys.T
    sb = edge.slots[f, sa]
    if k == edge.a:
        return edge.R, edge.t, edge.points_a, np.stack([f, sa, j], -1), np.stack([f, sb, j], -1)
    Rt = edge.R.T
    return Rt, -Rt @ edge.t, edge.points_a @ edge.R.T + edge.t, np.stack([f, sb, j], -1), np.stack([f, sa, j], -1)


def _edge_scale(edge: PairPose, k: int, R, t, world) -> float:
    """Length of the edge's translation in world units: median depth ratio over joints camera k knows."""
    _, _, Xk, keys_k, _ = _pair_in(edge, k)
    known = world.get(k, {})
    ratios = []
    for key, x in zip(map(tuple, keys_k), Xk, strict=True):
        W = known.get(key)
        if W is not None and np.isfinite(x).all() and x[2] > 0:
            ratios.append((R[k] @ W + t[k])[2] / x[2])
    ratios = np.asarray(ratios)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return float(np.median(ratios)) if len(ratios) >= 3 else float("nan")


def _place(edge: PairPose, k: int, R, t, world, scale: float) -> None:
    """Set the other camera of `edge` from placed camera k and record the edge's joints in the world."""
    Rk_o, tk_o, Xk, keys_k, keys_o = _pair_in(edge, k)
    o = edge.b if k == edge.a else edge.a
    R[o] = Rk_o @ R[k]
    t[o] = Rk_o @ t[k] + scale * tk_o
    W = (scale * Xk - t[k]) @ R[k]  # camera k's frame -> world
    for c, keys in ((k, keys_k), (o, keys_o)):
        known = world.setdefault(c, {})
        for key, x in zip(map(tuple, keys), W, strict=True):
            if np.isfinite(x).all() and key not in known:
                known[key] = x

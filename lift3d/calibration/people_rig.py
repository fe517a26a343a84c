"""Calibrate a rig from people alone (`lift3d calibrate people`): no board, no starting rig.

Procedure (`calibrate_from_people`):

1. Intrinsics: given (a file, e.g. from checkerboard photos), or made from the image size (principal point at
   the centre, no distortion) with one focal length shared by all cameras, estimated in step 4.
2. Pairwise relative poses and the associations of people across views (`people_init.match_pair`: epipolar
   consistency, essential matrix with RANSAC, confidence-weighted Sampson refinement), chained over a maximum
   spanning tree of the camera graph (`people_init.chain_poses`); the world is then camera 0's frame.
3. The people bundle adjustment of `lift3d calibrate refine` (`refine.refine_rig_from_keypoints`).
4. With an estimated focal length: the shared focal length minimising the adjustment's cost over the final
   round's inlier observations (a log-spaced bracket, then golden-section search, each value a bundle adjustment
   of poses and joints, `points_bundle.adjust_cameras_and_points`), its standard deviation from the curvature of
   that profile (statistical only: a bias of the people's geometry is not in it), then step 3 again.
5. Scale: a known distance between two cameras, or the subject's height (`subject_height`: the median lengths
   of heel-ankle, shank, thigh, hip-shoulder and shoulder-mid to head top (or nose, divided by its share of the
   stature)). World: the floor under the feet, z up, x forward as `lift3d rig align` does
   (`geometry.ground.align_ground`), or camera 0's frame when no floor is found; the result says which.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from lift3d.calibration import people_init as pi
from lift3d.calibration.refine import RefineResult, refine_rig_from_keypoints
from lift3d.calibration.solvers import points_bundle as pb
from lift3d.core.rig import Rig
from lift3d.errors import CalibrationError
from lift3d.geometry.camera import Camera
from lift3d.geometry.ground import align_ground
from lift3d.geometry.numpy_camera import camera_centres
from lift3d.geometry.transforms import transform_cameras

__all__ = ["PeopleCalibration", "calibrate_from_people", "subject_height", "guess_intrinsics", "people_report"]

NOSE_SHARE = 0.91  # the nose's height over the stature (anthropometric tables: eyes 0.936, chin 0.87)
MIN_AGREEMENT = 0.2  # a camera with fewer inlier joints than this share of the median camera's is refused
ANKLE_SHARE = 0.039  # the ankle's height over the stature, used where the skeleton has no heel


@dataclasses.dataclass(frozen=True)
class PeopleCalibration:
    """The outcome of `calibrate_from_people`.

    Attributes:
        rig: The calibrated rig, metres, in the world frame `world` says.
        refine: The bundle adjustment's result (in the pre-world frame: camera 0, unit first baseline).
        pairs: The camera pairs that matched (`people_init.PairPose`).
        tree: Edges (placed camera, new camera) of the spanning tree that made the start.
        shared_frames: (v, v) frames where two cameras both see a person (with enough confident joints).
        motion: (v,) `people_init.motion_share` per camera.
        world: "floor" (z up, feet on z = 0, x forward) or "camera" (camera 0's frame).
        world_note: How the world was made, in words.
        scale: {"source": "height" | "distance", "value_m", "measured" (in pre-world units), "factor"}.
        focal: None, or {"initial_px", "estimate_px", "std_px", "profile": [[f_px, rms_px], ...]}.
        seconds: Wall time.
    """

    rig: Rig
    refine: RefineResult
    pairs: list[pi.PairPose]
    tree: list[tuple[int, int]]
    shared_frames: np.ndarray
    motion: np.ndarray
    world: str
    world_note: str
    scale: dict[str, Any]
    focal: dict[str, Any] | None
    seconds: float


def guess_intrinsics(image_size: Sequence[float], v: int, focal_px: float | None = None) -> Camera:
    """Intrinsics from the image size alone: principal point at the centre, no distortion, square pixels.

    Args:
        image_size: (width, height), px.
        v: Number of cameras.
        focal_px: Focal length; default the image's larger side (a 53 degree field of view along it).

    Returns:
        Cameras, batch shape (v,), identity poses.
    """
    w, h = (float(x) for x in image_size)
    f = float(focal_px or max(w, h))
    K = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    return Camera.create(np.tile(K, (v, 1, 1)), image_size=np.tile([w, h], (v, 1)))


def subject_height(points_3d: np.ndarray, joints: Sequence[str]) -> float:
    """The subject's stature from triangulated joints: median segment lengths along heel -> head.

    Args:
        points_3d: (t, j, 3) one person's joints over frames, any units, NaN = missing.
        joints: Joint names (`Skeleton.joints`): needs left / right ankle, knee, hip and shoulder, and
            head_top or nose; heel optional.

    Returns:
        The stature in the points' units.

    Raises:
        CalibrationError: Joints missing from the skeleton or never triangulated.
    """
    names = list(joints)
    X = np.asarray(points_3d, np.float64)

    def seg(a: str, b: str) -> float:
        ia, ib = names.index(a), names.index(b)
        d = np.linalg.norm(X[:, ia] - X[:, ib], axis=-1)
        return float(np.nanmedian(d)) if np.isfinite(d).any() else np.nan

    def mid(a: str, b: str) -> np.ndarray:
        return 0.5 * (X[:, names.index(a)] + X[:, names.index(b)])

    need = [f"{s}_{p}" for s in ("left", "right") for p in ("ankle", "knee", "hip", "shoulder")]
    head = "head_top" if "head_top" in names else "nose" if "nose" in names else None
    if head is None or any(n not in names for n in need):
        raise CalibrationError(
            f"the subject's height needs ankles, knees, hips, shoulders and a head_top or nose joint; the "
            f"skeleton has {names}: give a known distance instead"
        )
    legs = [
        sum(seg(f"{s}_{a}", f"{s}_{b}") for a, b in (("ankle", "knee"), ("knee", "hip"), ("hip", "shoulder")))
        for s in ("left", "right")
    ]
    top = np.nanmedian(np.linalg.norm(X[:, names.index(head)] - mid("left_shoulder", "right_shoulder"), axis=-1))
    body = float(np.nanmean(legs)) + float(top)
    if "left_heel" in names and "right_heel" in names:
        ankle = np.nanmean([seg("left_heel", "left_ankle"), seg("right_heel", "right_ankle")])
        height = body + ankle
        height = height if head == "head_top" else height / NOSE_SHARE
    else:
        height = body / ((1.0 if head == "head_top" else NOSE_SHARE) - ANKLE_SHARE)
    if not np.isfinite(height) or height <= 0:
        raise CalibrationError("the subject's height cannot be measured: its legs, trunk or head were never seen")
    return float(height)


def _check_input(names, points_2d, confidence):
    uv = np.asarray(points_2d, np.float64)
    if uv.ndim == 4:
        uv = uv[:, :, None]
        confidence = None if confidence is None else np.asarray(confidence)[:, :, None]
    v = len(names)
    if uv.ndim != 5 or uv.shape[1] != v or uv.shape[-1] != 2:
        raise CalibrationError(f"keypoints of shape {uv.shape} do not match the {v} cameras {list(names)}")
    if v < 2:
        raise CalibrationError(f"calibration from people needs at least two cameras, got {list(names)}")
    conf = np.isfinite(uv).all(-1).astype(float) if confidence is None else np.asarray(confidence, np.float64)
    if conf.shape != uv.shape[:-1]:
        raise CalibrationError(f"confidence of shape {conf.shape} does not match keypoints {uv.shape}")
    return uv, np.where(np.isfinite(uv).all(-1), conf, 0.0)


def _shared_frames(conf: np.ndarray) -> np.ndarray:
    """(v, v) frames where some detection of each of two cameras has `MIN_JOINTS` confident joints."""
    seen = ((conf > 0).sum(-1) >= pi.MIN_JOINTS).any(-1)  # (t, v)
    return (seen[:, :, None] & seen[:, None, :]).sum(0)


def _start(names, cams, uv, conf, min_confidence, threshold_px, min_motion):
    """Checks, pairs and the chained start; returns (R, t, pairs, tree, shared, motion)."""
    v = len(names)
    xy, cf = pi.normalised_keypoints(cams, uv, conf, min_confidence)
    shared, motion = _shared_frames(cf), pi.motion_share(uv, cf)
    lonely = [names[c] for c in range(v) if np.delete(shared[c], c).max(initial=0) < pi.MIN_FRAMES]
    if lonely:
        best = [int(np.delete(shared[names.index(n)], names.index(n)).max(initial=0)) for n in lonely]
        raise CalibrationError(
            f"camera(s) {', '.join(lonely)}: too few frames where another camera sees the same person (at most "
            f"{', '.join(map(str, best))}; at least {pi.MIN_FRAMES} with {pi.MIN_JOINTS}+ joints of confidence "
            f">= {min_confidence:g} needed)"
        )
    still = [f"{names[c]} ({100 * motion[c]:.1f} %)" for c in range(v) if motion[c] < min_motion]
    if still:
        raise CalibrationError(
            f"the people barely move in camera(s) {', '.join(still)}: their joints must move by at least "
            f"{100 * min_motion:g} % of the body's height in the image (90th percentile over the capture) for "
            "the cameras' poses to be found; film someone walking or turning through the shared volume"
        )
    focal = float(np.mean(np.asarray(cams.K)[:, :2, :2].diagonal(axis1=1, axis2=2)))
    pairs = [
        p for a in range(v) for b in range(a + 1, v)
        if (p := pi.match_pair(a, b, xy, cf, focal_px=focal, threshold_px=threshold_px)) is not None
    ]  # fmt: skip
    R, t, tree = pi.chain_poses(pairs, v, names)
    R0, t0 = R[0].copy(), t[0].copy()  # camera 0's frame as the world
    R = R @ R0.T
    t = t - R @ t0
    return R, t, pairs, tree, shared, motion


def _focal_profile(res: RefineResult, f0: float, tolerance: float = 0.005, rows: int = 50) -> dict[str, Any]:
    """The shared focal length minimising the adjustment's cost over `res`'s last inlier observations (of at most
    `rows` frames x people, spread; the standard deviation is scaled to all of them)."""
    v = res.used.shape[2]
    j = res.used.shape[3]
    used_all = res.used.reshape(-1, v, j)
    keep = slice(None, None, max(1, -(-len(used_all) // rows)))
    used = used_all[keep]
    uv = res.points_2d.reshape(-1, v, j, 2)[keep]
    X = res.points_3d.reshape(-1, j, 3)[keep]
    pts = used.any(1)
    pid = -np.ones(pts.shape, np.int64)
    pid[pts] = np.arange(pts.sum())
    n_idx, c_idx, j_idx = np.nonzero(used)
    obs, cam_i, pt_i = uv[n_idx, c_idx, j_idx], c_idx, pid[n_idx, j_idx]
    cams0 = res.rig.to_units("m").cameras
    X0 = X[pts] / (1.0 if res.rig.units == "m" else 1000.0)
    cache: dict[float, tuple[float, Any]] = {}

    def cost(log_f: float, start=None) -> float:
        key = round(log_f, 6)
        if key not in cache:
            f = float(np.exp(log_f))
            base = start or (cams0, X0)
            K = np.asarray(base[0].K).copy()
            K[:, 0, 0] = K[:, 1, 1] = f
            c = base[0].replace(K=K)
            r = pb.adjust_cameras_and_points(c, base[1], obs, cam_i, pt_i, None, free=pb.gauge_free_mask(c),
                                             loss="linear", max_iterations=30, ftol=1e-6)  # fmt: skip
            cache[key] = (float(np.sum(r.errors_px**2)), (r.cameras, r.points_3d))
        return cache[key][0]

    steps = np.log(f0) + np.log(2.0) * np.arange(-3, 4) / 3  # f0 / 2 to 2 f0
    cost(steps[3])
    for side in (range(4, 7), range(2, -1, -1)):  # outwards from f0, each warm-started from its neighbour
        for k in side:
            prev = cache[round(steps[k - 1 if k > 3 else k + 1], 6)][1]
            cost(steps[k], prev)
    vals = np.array([cache[round(s, 6)][0] for s in steps])
    k = int(np.argmin(vals))
    lo, hi = steps[max(k - 1, 0)], steps[min(k + 1, len(steps) - 1)]
    g = (np.sqrt(5) - 1) / 2
    start = cache[round(steps[k], 6)][1]
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    while hi - lo > tolerance:
        if cost(a, start) < cost(b, start):
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    best = 0.5 * (lo + hi)
    c_best = cost(best, start)
    # curvature of the cost in f (px): var(f) = 2 sigma^2 / cost''
    f_best, h = float(np.exp(best)), 0.01
    c_p, c_m = cost(best + h, start), cost(best - h, start)
    d2_log = (c_p - 2 * c_best + c_m) / h**2
    sigma2 = c_best / max(2 * len(obs) - (6 * v + 3 * len(X0)), 1)
    std = f_best * np.sqrt(2 * sigma2 / d2_log * len(obs) / used_all.sum()) if d2_log > 0 else float("inf")
    profile = sorted((float(np.exp(s)), float(np.sqrt(c / len(obs)))) for s, (c, _) in cache.items())
    return {"initial_px": f0, "estimate_px": f_best, "std_px": float(std), "profile": profile,
            "cameras": cache[round(best, 6)][1][0]}  # fmt: skip


def calibrate_from_people(
    names: Sequence[str],
    intrinsics: Camera,
    points_2d: np.ndarray,
    confidence: np.ndarray | None,
    *,
    joints: Sequence[str],
    fps: float,
    estimate_focal: bool = False,
    height_m: float | None = 1.75,
    distance: tuple[str, str, float] | None = None,
    people: int | None = 1,
    min_confidence: float = 0.3,
    threshold_px: float = 8.0,
    min_motion: float = pi.MIN_MOTION,
    max_frames: int = 300,
    final_loss: str = "huber",
) -> PeopleCalibration:
    """Calibrate the rig of v cameras from the people they see (see the module docstring).

    Args:
        names: Camera names, in the order of the views.
        intrinsics: Each camera's intrinsics, batch shape (v,) (poses unused); with `estimate_focal`, from
            `guess_intrinsics`.
        points_2d: (t, v, p, j, 2) or (t, v, j, 2) distorted pixels, NaN where missing (p detection slots,
            associated here).
        confidence: (t, v, p, j) or (t, v, j) detector confidences; None for 1.
        joints: Joint names of the j axis (for the height and the floor).
        fps: Frame rate (Hz), for the foot speeds of the floor.
        estimate_focal: Estimate one focal length shared by all cameras (fx = fy) in the adjustment.
        height_m: The subject's stature (metres), the scale when `distance` is None.
        distance: (camera, camera, metres): a known distance between two camera centres, the scale.
        people: People used by the bundle adjustment (the most complete tracks); None for all.
        min_confidence: Detections below this confidence are ignored.
        threshold_px: RANSAC threshold of the pairwise essential matrices, px.
        min_motion: Least `people_init.motion_share` of every camera.
        max_frames: Most frames used by the bundle adjustment.
        final_loss: Loss of the adjustment's final rounds (`refine_rig_from_keypoints`): "huber" (default here:
            an outlier that a two-view joint cannot reject otherwise pulls the rig) or "linear".

    Returns:
        `PeopleCalibration`.

    Raises:
        CalibrationError: Bad shapes, too few shared frames (naming the cameras), a camera sharing no person,
            a person barely moving, an unknown camera in `distance`, or a failed adjustment.
    """
    t0 = time.perf_counter()
    names = list(names)
    uv, conf = _check_input(names, points_2d, confidence)
    cams = intrinsics
    R, t, pairs, tree, shared, motion = _start(names, cams, uv, conf, min_confidence, threshold_px, min_motion)
    opts = {"people": people, "min_confidence": min_confidence, "max_frames": max_frames, "final_loss": final_loss}
    first = {**opts, "final_loss": "linear", "max_rounds": 4} if estimate_focal else opts  # focal: a rough start
    res = refine_rig_from_keypoints(Rig(tuple(names), cams.replace(R=R, t=t)), uv, conf, **first)
    focal = None
    if estimate_focal:
        f0 = float(np.asarray(cams.K)[0, 0, 0])
        focal = _focal_profile(res, f0)
        res = refine_rig_from_keypoints(Rig(tuple(names), focal.pop("cameras")), uv, conf, **opts)
    if res.status == "diverged":
        raise CalibrationError(f"the bundle adjustment diverged: {res.reason}")
    _check_agreement(names, res)
    cams = res.rig.to_units("m").cameras
    scale = _scale(names, cams, res, joints, height_m, distance)
    points = res.points_3d[:, 0] * scale["factor"]  # the main person, metres, pre-world axes
    span = res.frames[-1] - res.frames[0] if len(res.frames) > 1 else 0
    fps_used = fps * (len(res.frames) - 1) / span if span else fps  # frames spread over a long capture
    try:
        ground = align_ground(points, list(joints), fps=fps_used)
        rot, trans = ground.frame.rotation, ground.frame.translation
        world, note = (
            "floor",
            (
                f"floor from {len(ground.contacts)} foot contacts (z up, z = 0 at the contact keypoints, x forward "
                f"({ground.forward_source}), origin at the contacts' centroid), as lift3d rig align"
            ),
        )
    except ValueError as err:
        rot, trans = np.eye(3), np.zeros(3)
        world, note = "camera", f"camera {names[0]}'s frame (x right, y down, z forward): no floor found ({err})"
    final = transform_cameras(cams, scale["factor"], rot, trans)
    meta = {"calibration": "people", "error": res.dlt_error_px["refined"]["all"], "world": note}
    rig = Rig(tuple(names), final, units="m", metadata=meta)
    return PeopleCalibration(rig, res, pairs, tree, shared, motion, world, note, scale, focal,
                             time.perf_counter() - t0)  # fmt: skip


def _check_agreement(names: Sequence[str], res: RefineResult) -> None:
    """Refuse cameras whose inlier joints are under `MIN_AGREEMENT` of the median camera's (naming them)."""
    n = res.used.sum((0, 1, 3))
    bad = [f"{names[c]} ({n[c]} joints)" for c in range(len(names)) if n[c] < MIN_AGREEMENT * np.median(n)]
    if bad:
        raise CalibrationError(
            f"camera(s) {', '.join(bad)}: few detections agree with the other cameras (median camera "
            f"{int(np.median(n))} joints): are the keypoints from this capture, synchronised, in this camera's "
            "order?"
        )


def _scale(names, cams, res, joints, height_m, distance) -> dict[str, Any]:
    if distance is not None:
        a, b, metres = distance
        for n in (a, b):
            if n not in names:
                raise CalibrationError(f"--distance names camera {n!r}; the cameras are {names}")
        C = camera_centres(cams)
        measured = float(np.linalg.norm(C[names.index(a)] - C[names.index(b)]))
        return {"source": f"distance {a}-{b}", "value_m": float(metres), "measured": measured,
                "factor": float(metres) / measured}  # fmt: skip
    if height_m is None:
        raise CalibrationError("no scale: give the subject's height or a known distance")
    measured = subject_height(res.points_3d[:, 0] / (1.0 if res.rig.units == "m" else 1000.0), joints)
    return {"source": "height", "value_m": float(height_m), "measured": measured, "factor": height_m / measured}


def people_report(result: PeopleCalibration) -> dict[str, Any]:
    """A JSON-ready report: world, scale, focal length, pairs, and per camera its errors and support.

    Args:
        result: From `calibrate_from_people`.

    Returns:
        Dict with "world", "world_note", "scale", "focal", "seconds", "dlt_error_px", "inlier_error_px",
        "pairs" (each: cameras, frames, correspondences, inliers, median triangulation angle, Sampson error,
        in the tree) and "cameras" (per camera: DLT and inlier error, px; frames and joints used; pairs used).
    """
    res, names = result.refine, list(result.rig.names)
    used = res.used  # (f, P, v, j)
    edges = {tuple(sorted(e)) for e in result.tree}
    pairs = [
        {"cameras": [names[p.a], names[p.b]], "frames": p.frames, "correspondences": p.correspondences,
         "inliers": int(p.inliers.sum()), "angle_deg": p.angle_deg, "sampson_error_px": p.error_px,
         "in_tree": (p.a, p.b) in edges}
        for p in result.pairs
    ]  # fmt: skip
    cams = {}
    for i, n in enumerate(names):
        cams[n] = {
            "dlt_error_px": res.dlt_error_px["refined"]["cameras"][i],
            "inlier_error_px": res.camera_error_px["refined"][i],
            "frames": int(used[:, :, i].any(-1).any(-1).sum()),
            "joints": int(used[:, :, i].sum()),
            "pairs_used": [names[b if a == i else a] for a, b in result.tree if i in (a, b)],
            "motion_share": float(result.motion[i]),
            "fx_px": float(np.asarray(result.rig.cameras.K)[i, 0, 0]),
        }
    focal = None if result.focal is None else {k: val for k, val in result.focal.items() if k != "cameras"}
    return {
        "world": result.world, "world_note": result.world_note, "scale": result.scale, "focal": focal,
        "seconds": result.seconds, "status": res.status, "rounds": len(res.rounds),
        "dlt_error_px": res.dlt_error_px["refined"]["all"],
        "inlier_error_px": float(np.nanmean(res.errors_px)), "pairs": pairs, "cameras": cams,
        "shared_frames": {n: dict(zip(names, map(int, result.shared_frames[i]), strict=True))
                          for i, n in enumerate(names)},
    }  # fmt: skip

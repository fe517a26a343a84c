"""People as the calibration target: refine a rig by bundle adjustment on 2D keypoints (`lift3d calibrate refine`).

A person's joints, detected in several synchronised views over many frames, are 3D points seen by several
cameras: jointly adjusting the camera poses (optionally focal lengths) and those points lowers the
reprojection error of the detections. Procedure (`refine_rig_from_keypoints`), in rounds:

1. Associate the detections into people with the current rig (`lift3d.geometry.association`; a wide gate in
   the first round so that a perturbed rig still joins the views of a person), keep the `people` most
   complete tracks, and re-choose each view of each person by leave-one-view-out (`_associate`): a wrong view
   (a bystander) can win the joint score of a perturbed rig, not a triangulation it is left out of.
2. Take up to `max_frames` frames spread evenly over the capture (not consecutive: they see more poses).
3. Triangulate each joint robustly (`numpy_camera.triangulate_inliers`, best view pair): the inlier views with a
   confidence of at least `min_confidence` are the observations; joints with fewer than two are left out.
4. Bundle-adjust cameras and points (`points_bundle.adjust_cameras_and_points`: Levenberg-Marquardt with
   analytic Jacobians, the points eliminated by the Schur complement (3x3 blocks), costs weighted by the
   detector confidence; Huber loss while the inlier threshold is still wide, least squares over the inliers
   once it is `threshold_px`).
5. Repeat with the refined rig (re-associate when it moved, re-select inliers with a threshold shrinking to
   `threshold_px`) until the rig moves less than 0.01 degree / 0.1 mm or `max_rounds` is reached.

Measured on Pose2Sim's balancing trial (`benchmarks/calibration_refine.py`, `experiments/RESULTS.md`): mean
reprojection error of a weighted DLT 13.7 px with the Qualisys rig, 8.5 px refined; starts 5 deg / 20 cm off
reach the same rig within 0.03 deg / 1 mm.

Gauge: keypoints fix the rig only up to a similarity (7 degrees of freedom: the world frame and the scale; a
person's size is unknown). During the optimisation the pose of the `reference` camera and one coordinate of
the farthest camera's translation are held; the result is then put back into the initial rig's world by the
similarity (rotation, translation, scale) that best maps its camera centres onto the initial ones
(`gauge="similarity"`, default), or kept with the reference camera's initial pose and the initial mean
distance from it to the other cameras (`gauge="reference"`). Either way the world frame and the scale come
from the initial rig, so two refinements from differently perturbed rigs agree in shape, and in the world
frame only as well as their initial rigs do.

Cost: nothing is compiled for captures of up to about 600 frames: the association runs on numpy there
(`associate(backend="auto")`; jitted JAX beyond, where its compile time is small against the work), the
triangulations and the adjustment are float64 numpy (`lift3d.geometry.numpy_camera`, `points_bundle`), so the
first call in a process costs what a repeat costs.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from lift3d.calibration.report import finite_or_none
from lift3d.calibration.solvers import points_bundle as pb
from lift3d.calibration.solvers.points_bundle import (
    perturb_cameras,
    rig_shape_errors,
    similarity_transform,
    transform_cameras,
)
from lift3d.core.rig import Rig
from lift3d.errors import CalibrationError
from lift3d.geometry import numpy_camera
from lift3d.geometry.association import MIN_CONFIDENCE
from lift3d.geometry.camera import Camera
from lift3d.geometry.numpy_camera import camera_centres
from lift3d.geometry.triangulation.robust import INLIER_THRESHOLD_PX

__all__ = [
    "RefineResult",
    "refine_rig_from_keypoints",
    "spread_frames",
    "refine_report",
    # the gauge helpers of `points_bundle`, used with refinements
    "similarity_transform",
    "transform_cameras",
    "rig_shape_errors",
    "perturb_cameras",
]


def spread_frames(present: np.ndarray, max_frames: int) -> np.ndarray:
    """Indices of at most `max_frames` frames spread evenly over those where `present` is True.

    Args:
        present: (t,) bool, frames with usable observations.
        max_frames: Most frames to keep.

    Returns:
        Sorted frame indices (int64).
    """
    idx = np.flatnonzero(present)
    if len(idx) <= max_frames:
        return idx
    return idx[np.unique(np.round(np.linspace(0, len(idx) - 1, max_frames)).astype(np.int64))]


# ------------------------------------------------------------------------------------------- people


@dataclasses.dataclass(frozen=True)
class RefineResult:
    """The outcome of `refine_rig_from_keypoints`.

    Attributes:
        rig: The refined rig, in the initial rig's world frame, scale and units.
        initial_rig: The rig it started from.
        frames: Indices of the frames used in the last round, shape (f,).
        points_2d: The associated detections of those frames, shape (f, P, v, j, 2), px (NaN where missing).
        points_3d: Adjusted 3D joints of those frames, shape (f, P, j, 3), rig units (NaN where not used).
        used: Observations that entered the last adjustment, shape (f, P, v, j), bool.
        errors_px: Their final pixel errors, shape (f, P, v, j) (NaN where not used).
        initial_errors_px: Their errors under the initial rig with the points triangulated (RANSAC inliers,
            weighted DLT) by it, shape (f, P, v, j) (NaN where not used).
        camera_error_px: Mean pixel error per camera over `used`, shape (v,): {"initial": ..., "refined": ...}.
        dlt_error_px: Mean reprojection error of a confidence-weighted DLT over all confident associated
            observations of every frame (no inlier selection), per camera (v,) and overall ("all"), for the
            initial and the refined rig: {"initial": {"all": float, "cameras": (v,)}, "refined": {...}}.
        rounds: One dict per round: gate and inlier threshold (px), frames, observations, iterations,
            status, errors before / after (px), how far the rig moved (deg, rig units).
        status: "converged", "max_rounds" or "diverged".
        reason: Why it stopped, in words.
        seconds: Wall time.
    """

    rig: Rig
    initial_rig: Rig
    frames: np.ndarray
    points_2d: np.ndarray
    points_3d: np.ndarray
    used: np.ndarray
    errors_px: np.ndarray
    initial_errors_px: np.ndarray
    camera_error_px: dict[str, np.ndarray]
    dlt_error_px: dict[str, dict[str, Any]]
    rounds: list[dict[str, Any]]
    status: str
    reason: str
    seconds: float


def _apply_gauge(cameras: Camera, initial: Camera, gauge: str, reference: int) -> tuple[Camera, tuple]:
    """Put adjusted cameras into the initial rig's world; returns them and the similarity (s, Q, d) used."""
    C, C0 = camera_centres(cameras), camera_centres(initial)
    if gauge == "similarity" and len(C) >= 3:
        s, Q, d = similarity_transform(C, C0)
    else:  # the reference camera's initial pose, the initial mean distance from it to the others
        R, R0 = np.asarray(cameras.R)[reference], np.asarray(initial.R)[reference]
        Q = R0.T @ R  # maps the adjusted world onto the initial one at the reference camera
        others = np.arange(len(C)) != reference
        s = float(
            np.linalg.norm(C0[others] - C0[reference], axis=-1).mean()
            / np.linalg.norm(C[others] - C[reference], axis=-1).mean()
        )
        d = C0[reference] - s * Q @ C[reference]
    return transform_cameras(cameras, s, Q, d), (s, Q, d)


def _rig_motion(a: Camera, b: Camera) -> tuple[float, float]:
    """Largest rotation (deg) and centre displacement (world units) between two rigs."""
    dR = np.asarray(a.R) @ np.swapaxes(np.asarray(b.R), -1, -2)
    return (
        float(np.rad2deg(Rotation.from_matrix(dR).magnitude()).max()),
        float(np.linalg.norm(camera_centres(a) - camera_centres(b), axis=-1).max()),
    )


def _associate(cameras, points_2d, conf, people, gate_px, min_confidence, track_distance, passes=2):
    """People (t, P, v, j, 2) and their confidences (t, P, v, j) (0 below `min_confidence`).

    `associate_sequence` groups the detections and tracks them; then each view of each person is re-chosen
    `passes` times by leave-one-view-out: the person is triangulated (weighted DLT) from its other views and
    the view's detection whose median joint distance to that projection is smallest (and at most `gate_px`)
    is taken. With a perturbed rig a wrong view (a bystander) can pull a joint triangulation towards itself
    and win `associate`'s joint score; it cannot pull a triangulation it is left out of.
    """
    from lift3d.geometry.association import associate_sequence

    if points_2d.ndim == 4:  # one person, already associated
        return points_2d[:, None], conf[:, None]
    assoc = associate_sequence(
        cameras,
        points_2d,
        conf,
        people=people,
        max_error_px=gate_px,
        min_confidence=min_confidence,
        max_distance=track_distance,
    )
    chosen = np.asarray(assoc.assignment)  # (t, P, v), -1 = none
    for _ in range(passes):
        chosen = _reassign(cameras, points_2d, conf, chosen, gate_px)
    return _gather_people(points_2d, conf, chosen)


def _gather_people(points_2d, conf, chosen):
    t, v = conf.shape[:2]
    rows, views = np.arange(t)[:, None, None], np.arange(v)[None, None, :]
    has = chosen >= 0
    uv = np.where(has[..., None, None], points_2d[rows, views, np.maximum(chosen, 0)], np.nan)
    return uv, np.where(has[..., None], conf[rows, views, np.maximum(chosen, 0)], 0.0)


def _reassign(cameras, points_2d, conf, chosen, gate_px):
    """One leave-one-view-out pass over the views (see `_associate`); returns the new `chosen` (t, P, v)."""
    t, v, p, j = conf.shape
    P = chosen.shape[1]
    raw = np.moveaxis(points_2d, 2, 1)[:, None]  # (t, 1, p, v, j, 2): detection slot s of every view
    raw_ok = np.moveaxis(conf > 0, 2, 1)[:, None]
    chosen = chosen.copy()
    for u in range(v):
        uv, cf = _gather_people(points_2d, conf, chosen)
        cf[:, :, u] = 0.0
        X = numpy_camera.triangulate_weighted(cameras, uv, cf)  # (t, P, j, 3) from the other views
        err = numpy_camera.reprojection_errors(cameras[u : u + 1], X[:, :, None], raw[:, :, :, u : u + 1])[:, :, :, 0]
        ok = raw_ok[:, :, :, u] & np.isfinite(err)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # detections without any usable joint
            med = np.nanmedian(np.where(ok, err, np.nan), -1)
        med = np.where(ok.sum(-1) >= 3, med, np.inf)  # (t, P, p)
        new = np.full((t, P), -1)
        for _ in range(min(P, p)):  # greedy, best (person, detection) first, each detection once
            flat = med.reshape(t, -1)
            best = np.argmin(flat, -1)
            found = np.isfinite(flat[np.arange(t), best]) & (flat[np.arange(t), best] <= gate_px)
            bp, bs = np.unravel_index(best, (P, p))
            new[found, bp[found]] = bs[found]
            med[found, bp[found], :] = np.inf
            med[found, :, bs[found]] = np.inf
        seen = (cf > 0).any(-1).sum(-1) >= 2  # the others could triangulate the person
        chosen[:, :, u] = np.where(seen, new, chosen[:, :, u])
    return chosen


def _dlt_reprojection(cameras: Camera, uv: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Errors (t, P, v, j), px, of a confidence-weighted DLT of people (t, P, v, j, 2)."""
    return numpy_camera.reprojection_errors(cameras, numpy_camera.triangulate_weighted(cameras, uv, conf), uv)


def _dlt_errors(cameras: Camera, uv: np.ndarray, conf: np.ndarray) -> dict[str, Any]:
    """Mean error of a confidence-weighted DLT of every joint over its confident views (all and per camera)."""

    v = conf.shape[2]
    err = _dlt_reprojection(cameras, uv, conf)
    ok = (conf > 0) & np.isfinite(err)
    per_cam = np.array([err[:, :, c][ok[:, :, c]].mean() if ok[:, :, c].any() else np.nan for c in range(v)])
    return {"all": float(err[ok].mean()) if ok.any() else float("nan"), "cameras": per_cam}


def _inlier_triangulation(key, cameras: Camera, uv: np.ndarray, conf: np.ndarray, threshold_px: float):
    """Robust triangulation of rows (n, v, j, 2), (n, v, j): points (n, j, 3) and inlier views (n, v, j).

    Up to 8 views `numpy_camera.triangulate_inliers` (all pairs, numpy: nothing to compile); with more,
    `geometry.triangulation.triangulate_ransac` (pairs drawn with `key`), the rows padded to a power of two (at
    least 64) so that it compiles for few shapes.
    """
    if cameras.batch_shape[0] <= 8:
        return numpy_camera.triangulate_inliers(cameras, uv, conf, threshold_px=threshold_px)
    import jax

    from lift3d.geometry.triangulation import triangulate_ransac

    n, v, j = conf.shape
    size = max(64, 1 << (n - 1).bit_length())
    pad_uv, pad_cf = np.full((size, v, j, 2), np.nan), np.zeros((size, v, j))
    pad_uv[:n], pad_cf[:n] = uv, conf
    key = jax.random.key(0) if key is None else key
    X, info = triangulate_ransac(key, cameras, pad_uv, pad_cf, threshold_px=threshold_px)
    return np.asarray(X, np.float64)[:n], np.asarray(info.views_used)[:n]


def refine_rig_from_keypoints(
    rig: Rig,
    points_2d: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    key=None,
    people: int | None = 1,
    min_confidence: float = MIN_CONFIDENCE,
    threshold_px: float = INLIER_THRESHOLD_PX,
    max_error_px: float = 50.0,
    first_gate_px: float = 400.0,
    max_frames: int = 300,
    refine_intrinsics: str = "none",
    loss: str = "huber",
    loss_scale_px: float = 5.0,
    final_loss: str = "linear",
    weight_by_confidence: bool = True,
    gauge: str = "similarity",
    reference: int = 0,
    max_rounds: int = 8,
    max_iterations: int = 50,
    ftol: float = 1e-8,
    tolerance_deg: float = 0.01,
    tolerance_m: float = 1e-4,
) -> RefineResult:
    """Refine a rig's extrinsics (optionally focal lengths) by bundle adjustment on people's 2D keypoints.

    See the module docstring for the rounds and the gauge. Thresholds are in pixels of the input images.

    Args:
        rig: The initial rig (any units; the result keeps them), cameras in the order of the views.
        points_2d: Detections, shape (t, v, p, j, 2) (p detection slots per view, associated here) or
            (t, v, j, 2) (one person, associated already), distorted pixels, NaN where missing.
        confidence: Detector confidences, shape (t, v, p, j) or (t, v, j); None for 1 where finite.
        key: `jax.random` key of the RANSAC triangulation (used only with more than 8 views); default key 0.
        people: How many people (the most complete tracks) serve as targets; None for all.
        min_confidence: Observations below this confidence are ignored.
        threshold_px: RANSAC inlier threshold of the final rounds, px.
        max_error_px: Association gate of the final rounds, px (see `associate`).
        first_gate_px: Association gate of the first round, px: wide, so that a perturbed rig still joins
            the views of a person; later rounds shrink the gate and the inlier threshold towards
            `max_error_px` and `threshold_px` as the error falls.
        max_frames: Most frames used, spread evenly over the frames where the people are seen.
        refine_intrinsics: "none" or "focal" (fx, fy per camera); "focal_center" and "all" are allowed but
            poorly constrained by people.
        loss: Loss of the coarse rounds (inlier threshold still above `threshold_px`), "huber" (default),
            "soft_l1" or "linear".
        loss_scale_px: Scale of the robust loss, px.
        final_loss: Loss of the rounds at `threshold_px`. Default "linear": least squares over the RANSAC
            inliers (a truncated quadratic, re-selected every round), which converges in 3-4 iterations where
            Huber's re-weighting creeps for 15-20, for the same final error on real detections.
        weight_by_confidence: Weigh each observation's cost by its detector confidence.
        gauge: "similarity" (best similarity of the camera centres onto the initial rig's) or "reference"
            (the reference camera's initial pose and the initial mean distance from it to the others).
        reference: Index of the camera held during the optimisation (and by `gauge="reference"`).
        max_rounds: Most association / selection / adjustment rounds.
        max_iterations: Most Levenberg-Marquardt iterations per round.
        ftol: Relative cost decrease that ends a round's optimisation.
        tolerance_deg: Stop when no camera turned by more than this in a round (and moved less than
            `tolerance_m`).
        tolerance_m: Centre displacement tolerance, metres.

    Returns:
        `RefineResult`.

    Raises:
        CalibrationError: Shapes that do not match the rig, fewer than two cameras, no person seen by two
            cameras, or a camera without any usable observation.
    """
    t0 = time.perf_counter()
    if gauge not in ("similarity", "reference"):
        raise ValueError(f"gauge must be 'similarity' or 'reference', got {gauge!r}")
    uv = np.asarray(points_2d, np.float64)
    v = len(rig)
    if uv.ndim not in (4, 5) or uv.shape[-1] != 2 or uv.shape[1] != v:
        raise CalibrationError(
            f"keypoints of shape {uv.shape} do not match the rig's {v} cameras {list(rig.names)} "
            "(expected (t, v, p, j, 2) or (t, v, j, 2))"
        )
    if v < 2:
        raise CalibrationError(f"refinement needs at least two cameras, got {list(rig.names)}")
    conf = np.isfinite(uv).all(-1).astype(np.float64) if confidence is None else np.asarray(confidence, np.float64)
    if conf.shape != uv.shape[:-1]:
        raise CalibrationError(f"confidence of shape {conf.shape} does not match keypoints {uv.shape}")
    conf = np.where(np.isfinite(uv).all(-1) & (conf >= min_confidence), conf, 0.0)
    initial = rig.to_units("m")
    cams = initial.cameras
    gate, thr = float(first_gate_px), float(first_gate_px)
    rounds: list[dict[str, Any]] = []
    status, reason = "max_rounds", f"stopped after {max_rounds} rounds"
    dlt_initial, assoc_key = None, None
    for r in range(1, max_rounds + 1):
        # 1. people, 2. frames
        moved = _rig_motion(cams, assoc_key[0]) if assoc_key else (np.inf, np.inf)
        if not assoc_key or gate != assoc_key[1] or moved[0] > 0.1 or moved[1] > 0.005:
            puv, pcf = _associate(cams, uv, conf, people, gate, min_confidence, 0.5)
            assoc_key = (cams, gate)  # associations barely change with the rig: re-associate when it moves
        if dlt_initial is None:
            dlt_initial = _dlt_errors(initial.cameras, puv, pcf)
        t, P, _, j = pcf.shape
        present = ((pcf > 0).sum(2) >= 2).any(-1).any(-1)
        frames = spread_frames(present, max_frames)
        if len(frames) == 0:
            raise CalibrationError("no person is seen by two cameras in any frame: nothing to calibrate on")
        fuv, fcf = puv[frames].reshape(-1, v, j, 2), pcf[frames].reshape(-1, v, j)  # rows (f P, ...)
        # 3. robust triangulation: inlier observations
        X, used = _inlier_triangulation(key, cams, fuv, fcf, thr)
        used &= fcf > 0
        with np.errstate(invalid="ignore"):  # a far-off start can put a joint behind a camera that sees it
            used &= numpy_camera.project(numpy_camera.camera_params(cams), X[:, None], cams.model == "fisheye")[1] > 0
        used &= (used.sum(1, keepdims=True) >= 2) & np.isfinite(X).all(-1)[:, None, :]
        missing = [rig.names[c] for c in range(v) if not used[:, c].any()]
        if missing:
            raise CalibrationError(
                f"camera(s) {', '.join(missing)}: no keypoint agrees with the other cameras (round {r}, inlier "
                f"threshold {thr:g} px); check that the keypoints of each camera belong to it and the frames "
                "are synchronised"
            )
        pts_mask = used.any(1)  # (n, j)
        point_id = -np.ones(pts_mask.shape, np.int64)
        point_id[pts_mask] = np.arange(pts_mask.sum())
        n_idx, c_idx, j_idx = np.nonzero(used)
        weights = fcf[n_idx, c_idx, j_idx] if weight_by_confidence else None
        # 4. bundle adjustment
        free = pb.gauge_free_mask(cams, reference, refine_intrinsics)
        res = pb.adjust_cameras_and_points(
            cams,
            X[pts_mask],
            fuv[n_idx, c_idx, j_idx],
            c_idx,
            point_id[n_idx, j_idx],
            weights,
            free=free,
            loss=loss if thr > threshold_px else final_loss,
            loss_scale_px=loss_scale_px,
            max_iterations=max_iterations,
            ftol=ftol if thr <= threshold_px else max(ftol, 1e-4),  # coarse rounds: roughly is enough
        )
        new, sim = _apply_gauge(res.cameras, initial.cameras, gauge, reference)
        moved_deg, moved_m = _rig_motion(new, cams)
        rounds.append(
            {
                "round": r,
                "gate_px": gate,
                "threshold_px": thr,
                "loss": loss if thr > threshold_px else final_loss,
                "frames": len(frames),
                "points": int(pts_mask.sum()),
                "observations": len(n_idx),
                "iterations": res.iterations,
                "status": res.status,
                "reason": res.reason,
                "mean_error_px_before": float(res.initial_errors_px.mean()),
                "mean_error_px_after": float(res.errors_px.mean()),
                "median_error_px_after": float(np.median(res.errors_px)),
                "moved_deg": moved_deg,
                "moved_m": moved_m,
            }
        )
        cams = new  # a diverged adjustment returns its last good state
        if res.status == "diverged":
            status, reason = "diverged", f"round {r}: {res.reason}"
            break
        med = float(np.median(res.errors_px))
        last_thr = thr
        thr = max(float(threshold_px), min(thr, 4.0 * med))
        gate = max(float(max_error_px), min(gate, 8.0 * med))
        if moved_deg < tolerance_deg and moved_m < tolerance_m and thr == last_thr:
            status, reason = "converged", f"the rig moved less than {tolerance_deg:g} deg / {tolerance_m:g} m"
            break
    # the last round's observations and points in the final world; their errors under the initial rig
    s_, Q, d = sim
    shape = (len(frames), P)
    X_out = np.full(used.shape[:1] + (j, 3), np.nan)
    X_out[pts_mask] = s_ * res.points_3d @ Q.T + d
    err_used = np.full(used.shape, np.nan)
    err_used[n_idx, c_idx, j_idx] = res.errors_px
    used_f = used.reshape(*shape, v, j)
    conf_used = np.zeros_like(pcf)
    conf_used[frames] = np.where(used_f, pcf[frames], 0.0)
    err_init = np.where(used_f, _dlt_reprojection(initial.cameras, puv[frames], conf_used[frames]), np.nan)
    moved = _rig_motion(cams, assoc_key[0])  # the refined rig's own association, for its DLT error
    if assoc_key[1] != max_error_px or moved[0] > 0.1 or moved[1] > 0.005:
        puv, pcf = _associate(cams, uv, conf, people, max_error_px, min_confidence, 0.5)
    dlt_refined = _dlt_errors(cams, puv, pcf)
    meta = {k: val for k, val in rig.metadata.items() if not k.startswith("_")}
    meta |= {"calibration": "refine", "error": dlt_refined["all"]}
    refined = dataclasses.replace(initial, cameras=cams, metadata=meta)
    scale = 1.0 if rig.units == "m" else 1000.0

    def per_cam(e):
        return np.array([np.nanmean(e[:, c]) if np.isfinite(e[:, c]).any() else np.nan for c in range(v)])

    return RefineResult(
        rig=refined.to_units(rig.units),
        initial_rig=rig,
        frames=frames,
        points_2d=fuv.reshape(*shape, v, j, 2),
        points_3d=X_out.reshape(*shape, j, 3) * scale,
        used=used_f,
        errors_px=err_used.reshape(*shape, v, j),
        initial_errors_px=err_init,
        camera_error_px={"initial": per_cam(err_init.reshape(-1, v, j)), "refined": per_cam(err_used)},
        dlt_error_px={"initial": dlt_initial, "refined": dlt_refined},
        rounds=rounds,
        status=status,
        reason=reason,
        seconds=time.perf_counter() - t0,
    )


def refine_report(result: RefineResult) -> dict[str, Any]:
    """A JSON-ready report of a refinement: per camera the errors before / after and how far it moved.

    Args:
        result: From `refine_rig_from_keypoints`.

    Returns:
        Dict with "status", "reason", "seconds", "frames", "observations", per-camera entries (inlier mean
        error initial / refined, px; weighted-DLT mean error initial / refined, px; rotation change, deg;
        centre change, rig units), the overall DLT errors and the rounds.
    """
    init, ref = result.initial_rig.cameras, result.rig.cameras
    moved_deg = np.rad2deg(
        Rotation.from_matrix(np.asarray(ref.R) @ np.swapaxes(np.asarray(init.R), -1, -2)).magnitude()
    )
    moved = np.linalg.norm(camera_centres(ref) - camera_centres(init), axis=-1)
    fx0, fx1 = np.asarray(init.K)[:, 0, 0], np.asarray(ref.K)[:, 0, 0]
    cams = {
        name: {
            "inlier_error_px": {k: result.camera_error_px[k][i] for k in ("initial", "refined")},
            "dlt_error_px": {k: result.dlt_error_px[k]["cameras"][i] for k in ("initial", "refined")},
            "observations": int(result.used[:, :, i].sum()),
            "rotation_change_deg": moved_deg[i],
            f"centre_change_{result.rig.units}": moved[i],
            "fx_px": {"initial": fx0[i], "refined": fx1[i]},
        }
        for i, name in enumerate(result.rig.names)
    }
    return finite_or_none(
        {
            "status": result.status,
            "reason": result.reason,
            "seconds": result.seconds,
            "frames": len(result.frames),
            "observations": int(result.used.sum()),
            "dlt_error_px": {k: result.dlt_error_px[k]["all"] for k in ("initial", "refined")},
            "inlier_error_px": {
                "initial": float(np.nanmean(result.initial_errors_px)),
                "refined": float(np.nanmean(result.errors_px)),
            },
            "cameras": cams,
            "rounds": result.rounds,
        }
    )

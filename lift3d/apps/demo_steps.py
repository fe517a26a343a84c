"""The analysis steps of the demo that are more than one library call: intrinsics vs Qualisys, one view lifted
vs the triangulation. Each returns plain numbers (for the report) and writes nothing but what it is asked to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lift3d.core.rig import Rig

__all__ = ["IntrinsicsComparison", "LiftComparison", "compare_intrinsics", "lift_one_view"]

# The checkerboard in the Pose2Sim sample's intrinsics photos (calib/boards/pose2sim_checkerboard_4x7_60mm.toml):
# kept here so the demo also runs from an installed package, without the repository's calib/ folder.
_SAMPLE_BOARD = dict(kind="checkerboard", inner_corners=(7, 4), square_size_mm=60.0,
                     name="pose2sim_checkerboard_4x7_60mm")  # fmt: skip


@dataclass(frozen=True)
class IntrinsicsComparison:
    """Intrinsics calibrated from the sample's checkerboard photos next to the Qualisys reference.

    Attributes:
        rows: One dict a camera: name, views_used, views_found, fx, fx_ref (px), fx_err_pct, rms_px,
            principal point (cx, cy), unusable (photo names).
        rig_path: The calibrated intrinsics (TOML).
        report_path: The JSON report of the calibration.
        coverage_pngs: Coverage maps, one a camera.
        report: The report's contents (the files are staged until the demo's outputs are committed).
    """

    rows: list[dict]
    rig_path: Path
    report_path: Path
    coverage_pngs: list[Path]
    report: dict


def compare_intrinsics(
    photos_dir: str | os.PathLike, reference: Rig, out_dir: str | os.PathLike
) -> IntrinsicsComparison:
    """Calibrate the intrinsics of each camera from checkerboard photos and compare fx with a reference rig.

    Args:
        photos_dir: Folder with one ``int_camNN_img`` sub-folder a camera (the sample's ``intrinsics``).
        reference: Rig whose cameras are matched by name (e.g. the Qualisys calibration).
        out_dir: Where ``intrinsics.toml``, ``intrinsics.json`` and the coverage PNGs go.

    Returns:
        An `IntrinsicsComparison`.

    Raises:
        lift3d.errors.CalibrationError: No camera could be calibrated.
    """
    from lift3d.apps.calibrate import calibrate_intrinsics
    from lift3d.io.boards import Board

    rig_path = Path(out_dir) / "intrinsics.toml"  # its folder is made when the files are written
    rig, report = calibrate_intrinsics(photos_dir, Board(**_SAMPLE_BOARD), rig_path)
    rows, pngs = [], []
    for name, cam in report["cameras"].items():
        fx = float(cam["K"][0][0])
        try:
            ref = float(np.asarray(reference.match([name]).cameras.K)[0, 0, 0])
        except KeyError:  # a camera the reference does not have
            ref = None
        rows.append(dict(
            camera=name, views_used=cam["views_used"], views_found=cam["views_found"], fx=fx,
            fx_ref=None if ref is None else float(ref),
            fx_err_pct=None if ref is None else 100.0 * (fx - ref) / ref,
            cx=float(cam["K"][0][2]), cy=float(cam["K"][1][2]), rms_px=float(cam["rms_px"]),
            unusable=[u["name"] for u in cam.get("unusable", [])],
        ))  # fmt: skip
        if cam.get("coverage_png"):
            pngs.append(Path(cam["coverage_png"]))
    return IntrinsicsComparison(rows, rig_path, rig_path.with_suffix(".json"), pngs, report)


def format_intrinsics_table(comparison: IntrinsicsComparison) -> str:
    """Text table of `compare_intrinsics`: one line a camera."""
    lines = [f"{'camera':<8}{'views':>7}{'fx (px)':>10}{'Qualisys':>10}{'error':>9}{'RMS (px)':>10}  unusable photos"]
    for r in comparison.rows:
        ref = f"{r['fx_ref']:10.1f}{r['fx_err_pct']:+8.2f}%" if r["fx_ref"] is not None else f"{'-':>10}{'-':>9}"
        lines.append(f"{r['camera']:<8}{r['views_used']:>4}/{r['views_found']:<2}{r['fx']:>10.1f}{ref}"
                     f"{r['rms_px']:>10.3f}  {', '.join(r['unusable']) or '-'}")  # fmt: skip
    return "\n".join(lines)


__all__ += ["format_intrinsics_table", "compare_reconstructions", "Agreement"]


@dataclass(frozen=True)
class LiftComparison:
    """One camera's lift of the subject against the multi-camera triangulation (H36M-17 joints).

    Attributes:
        view: The lifted camera.
        lifted_world: (t, 17, 3) lifted root-relative joints rotated into world axes, mm (NaN: not lifted).
        triangulated: (t, 17, 3) the triangulation mapped to H36M-17, root-relative, mm.
        triangulated_pelvis_m: (t, 3) the triangulated pelvis (mid-hips), world, metres.
        mpjpe_mm: Mean per-joint error after root alignment (P1).
        p_mpjpe_mm: After a similarity (Procrustes) alignment (P2).
        per_joint_mm: (17,) P2 per joint.
        frames: Frames that have both.
        joint_names: The 17 names.
    """

    view: str
    lifted_world: np.ndarray
    triangulated: np.ndarray
    triangulated_pelvis_m: np.ndarray
    mpjpe_mm: float
    p_mpjpe_mm: float
    per_joint_mm: np.ndarray
    frames: int
    joint_names: tuple[str, ...]


def lift_one_view(
    keypoints_dir: str | os.PathLike, rig: Rig, points_3d: np.ndarray, *, units: str, points_skeleton: str,
    skeleton: str = "body_25b",
) -> LiftComparison:
    """Lift one camera's detections with the shipped lifter and compare them with the triangulated subject.

    In each frame the detection slot whose keypoints lie closest to the triangulated subject's reprojection
    is the subject (the view may also see bystanders). Both sides are mapped to H36M-17 and made relative to
    the pelvis; P1 compares them in world axes (the lift rotated by the camera's R), P2 after a similarity.

    Args:
        keypoints_dir: The camera's OpenPose folder (its name selects the rig camera, e.g. ``cam01_json``).
        rig: The capture's rig (units "m" or "mm").
        points_3d: (t, J, 3) the triangulated subject over the same frames, in `units`.
        units: "m" or "mm".
        points_skeleton: Skeleton of `points_3d` (e.g. "blazepose").
        skeleton: Detector skeleton of the keypoints.

    Returns:
        A `LiftComparison`.
    """
    from lift3d.core.skeleton import H36M_17, map_to_h36m
    from lift3d.eval.metrics import mpjpe, p_mpjpe
    from lift3d.geometry.camera import project_points
    from lift3d.io.keypoints import read_keypoints
    from lift3d.predict.lifter import lift_keypoints

    kp = read_keypoints(keypoints_dir, format="openpose", skeleton=skeleton)
    view = kp.views[0]
    rig_mm = rig.to_units("mm")
    result = lift_keypoints(kp, rig=rig_mm)
    scale = 1000.0 if units == "m" else 1.0
    tri = np.asarray(points_3d, np.float64) * scale  # (t, J, 3) mm
    uv = np.asarray(project_points(rig_mm.match([view]).cameras[0], np.nan_to_num(tri)))  # (t, J, 2)
    det = np.where(kp.confidence[:, 0, ..., None] > 0, kp.points[:, 0], np.nan)  # (t, p, J, 2)
    gap = np.linalg.norm(det - uv[:, None], axis=-1)  # (t, p, J) px
    count = np.isfinite(gap).sum(-1)
    dist = np.where(count > 0, np.nansum(gap, -1) / np.maximum(count, 1), np.inf)  # (t, p) mean px
    slot = np.argmin(dist, axis=-1)  # (t,)
    t = np.arange(len(slot))
    lifted = np.asarray(result.points_3d_world[t, 0, slot], np.float64)  # (t, 17, 3) root-relative, mm
    tri17, conf17 = (np.asarray(a, np.float64) for a in map_to_h36m(tri, None, points_skeleton))
    pelvis_m = tri17[:, 0] / 1000.0
    tri17 = tri17 - tri17[:, :1]
    both = np.isfinite(lifted).all(-1) & (conf17 > 0)
    mask = both & both.any(-1, keepdims=True)
    frames = int(mask.any(-1).sum())
    safe_l, safe_t = np.nan_to_num(lifted), np.nan_to_num(tri17)
    per_joint = np.asarray(p_mpjpe(safe_l, safe_t, mask=mask, reduce=False))  # (t, 17), NaN where not valid
    per_joint = np.nansum(per_joint, 0) / np.maximum(np.isfinite(per_joint).sum(0), 1)
    return LiftComparison(
        view=view, lifted_world=lifted, triangulated=tri17, triangulated_pelvis_m=pelvis_m,
        mpjpe_mm=float(mpjpe(safe_l, safe_t, mask=mask)), p_mpjpe_mm=float(p_mpjpe(safe_l, safe_t, mask=mask)),
        per_joint_mm=per_joint, frames=frames, joint_names=tuple(H36M_17.joints),
    )  # fmt: skip


@dataclass(frozen=True)
class Agreement:
    """Two 3D reconstructions of one subject compared on the H36M-17 joints both skeletons map to.

    Attributes:
        per_joint_mm: (17,) mean distance per joint over the frames where both have it, mm.
        mean_mm: Mean over every joint and frame both have, mm.
        direct_mean_mm: The same over the 12 limb joints both skeletons detect (hips, knees, ankles, shoulders,
            elbows, wrists): the joints derived from others (pelvis, spine, thorax, neck, head) are left out.
        frames: Frames with at least one joint in both.
        joint_names: The 17 names.
    """

    per_joint_mm: np.ndarray
    mean_mm: float
    direct_mean_mm: float
    frames: int
    joint_names: tuple[str, ...]


def compare_reconstructions(a: np.ndarray, skeleton_a: str, b: np.ndarray, skeleton_b: str, *, units: str) -> Agreement:
    """Distances between two reconstructions of the same frames, mapped to H36M-17 (no alignment, world frame).

    Args:
        a: (t, Ja, 3) one reconstruction (e.g. from OpenPose keypoints), in `units`; NaN where missing.
        skeleton_a: Its skeleton name.
        b: (t, Jb, 3) the other (e.g. from BlazePose keypoints), same frames and units.
        skeleton_b: Its skeleton name.
        units: "m" or "mm".

    Returns:
        An `Agreement` in mm.
    """
    from lift3d.core.skeleton import H36M_17, map_to_h36m

    scale = 1000.0 if units == "m" else 1.0
    pa, ca = (np.asarray(x, np.float64) for x in map_to_h36m(np.asarray(a, np.float64) * scale, None, skeleton_a))
    pb, cb = (np.asarray(x, np.float64) for x in map_to_h36m(np.asarray(b, np.float64) * scale, None, skeleton_b))
    d = np.linalg.norm(pa - pb, axis=-1)  # (t, 17)
    d = np.where((ca > 0) & (cb > 0), d, np.nan)
    seen = np.isfinite(d)
    per_joint = np.where(seen.any(0), np.nansum(d, 0) / np.maximum(seen.sum(0), 1), np.nan)
    direct = [H36M_17.index(n) for n in ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                                         "left_ankle", "left_shoulder", "left_elbow", "left_wrist",
                                         "right_shoulder", "right_elbow", "right_wrist")]  # fmt: skip
    return Agreement(
        per_joint_mm=per_joint, mean_mm=float(np.nanmean(d)), direct_mean_mm=float(np.nanmean(d[:, direct])),
        frames=int(seen.any(-1).sum()), joint_names=tuple(H36M_17.joints),
    )  # fmt: skip

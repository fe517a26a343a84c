"""`lift3d calibrate refine`: refine a rig file on the people of a capture; write the rig and a JSON report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lift3d.calibration.refine import refine_report, refine_rig_from_keypoints
from lift3d.calibration.report import finite_or_none
from lift3d.core.rig import Rig
from lift3d.errors import CalibrationError
from lift3d.io.atomic import write_json
from lift3d.io.keypoints import match_views, read_keypoints
from lift3d.io.rigs import load_rig, rig_to_json_dict, save_rig


def run_refine(
    rig_path: str | os.PathLike,
    keypoint_paths: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    report: str | os.PathLike | None = None,
    format: str | None = "openpose",
    skeleton: str | None = None,
    **options: Any,
) -> tuple[Rig, dict[str, Any]]:
    """Refine a rig file from keypoint files (`lift3d calibrate refine`); write the rig TOML and a JSON report.

    Keypoint views are matched to the rig's cameras by name ("cam01" = "cam_01"), as `lift3d triangulate` does.
    The rig is written (atomically) only on success; on failure the report says why (with the last good rig
    when the optimisation diverged) and `CalibrationError` is raised.

    Args:
        rig_path: Initial rig (TOML, Qualisys .qca.txt, OpenCV YAML).
        keypoint_paths: One folder or file per camera, or one npz (see `read_keypoints`).
        out: Rig TOML to write (the initial rig's units).
        report: JSON report; default `out` with suffix `.json`.
        format: Keypoint format ("openpose", "coco", "dlc", "mediapipe", "npz"; None: guess).
        skeleton: Skeleton of the keypoints (e.g. "body_25b").
        **options: Keyword options of `refine_rig_from_keypoints` (people, min_confidence, threshold_px,
            max_frames, refine_intrinsics, gauge, ...).

    Returns:
        (rig, report): the refined rig and the report's contents.

    Raises:
        CalibrationError: No usable keypoints, a diverged optimisation, or a refined rig whose mean DLT error
            is not lower than the initial rig's (nothing is written then).
        CaptureInputError: A keypoint camera that is not in the rig.
    """
    out = Path(out)
    report_path = Path(report) if report is not None else out.with_suffix(".json")
    rig = load_rig(rig_path)
    kp = read_keypoints(list(keypoint_paths), format=format, skeleton=skeleton)
    kp, rig = match_views(kp, rig)
    data: dict[str, Any] = {
        "kind": "refine",
        "rig": str(rig_path),
        "keypoints": [str(p) for p in keypoint_paths],
        "options": {"format": format, "skeleton": skeleton, **options},
        "notes": list(kp.notes),
    }
    try:
        result = refine_rig_from_keypoints(rig, kp.points, kp.confidence, **options)
    except CalibrationError as err:
        write_json(report_path, finite_or_none({**data, "status": "failed", "error": str(err)}))
        raise CalibrationError(f"{err} (report: {report_path})") from None
    data |= refine_report(result)
    before, after = result.dlt_error_px["initial"]["all"], result.dlt_error_px["refined"]["all"]
    problem = None
    if result.status == "diverged":
        problem = f"the bundle adjustment diverged ({result.reason})"
    elif not after < before:
        problem = f"the refined rig does not lower the mean reprojection error ({before:.2f} -> {after:.2f} px)"
    if problem:
        data |= {"status": "failed", "error": problem, "last_good_rig": rig_to_json_dict(result.rig)}
        write_json(report_path, finite_or_none(data))
        raise CalibrationError(f"{problem}; {out} was not written (report: {report_path})")
    save_rig(result.rig, out)
    data |= {"status": "ok", "output": str(out)}
    write_json(report_path, finite_or_none(data))
    return result.rig, data

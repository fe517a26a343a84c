"""`lift3d calibrate refine`: refine a rig file on the people of a capture; write the rig and a JSON report."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from lift3d.apps.options import check_options, default_of, option
from lift3d.calibration.refine import refine_report, refine_rig_from_keypoints
from lift3d.calibration.report import finite_or_none
from lift3d.core.keypoints import match_views
from lift3d.core.rig import Rig
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import CalibrationError
from lift3d.io.atomic import OutputSet, check_output, write_failure_report, write_json
from lift3d.io.keypoints import DEFAULT_FORMAT, FORMATS, read_keypoints
from lift3d.io.rig_toml import save_rig
from lift3d.io.rigs import load_rig, rig_to_json_dict

__all__ = ["RefineConfig", "run", "run_refine"]


def _lib(name: str) -> Any:
    return default_of(refine_rig_from_keypoints, name)  # defaults given where they take effect


@dataclasses.dataclass(frozen=True)
class RefineConfig:
    """Options of `lift3d calibrate refine`."""

    rig: Path = option(help="initial rig (any rig file)")
    keypoints: tuple[Path, ...] = option(unique=True, help="keypoint folder / file per camera")
    out: Path = option(short="-o", help="refined rig TOML to write")
    report: Path | None = option(None, help="JSON report (default: OUT with .json)")
    format: str = option(DEFAULT_FORMAT, choices=FORMATS, help="keypoint file format")
    skeleton: str | None = option(None, check=get_skeleton, help="detector skeleton, e.g. body_25b")
    people: int = option(_lib("people"), ge=0, help="people used as the target (0: all)")
    min_confidence: float = option(_lib("min_confidence"), ge=0, le=1, help="detections below are ignored")
    threshold_px: float = option(_lib("threshold_px"), gt=0, help="inlier threshold of the robust start (px)")
    max_frames: int = option(_lib("max_frames"), ge=1, help="frames used, spread over the capture")
    refine_intrinsics: Literal["none", "focal", "focal_center", "all"] = option(
        _lib("refine_intrinsics"), help="also adjust intrinsics (one person rarely pins them down)"
    )
    gauge: Literal["similarity", "reference"] = option(
        _lib("gauge"), help="how RIG holds the world frame: a similarity to all cameras, or the first camera fixed"
    )
    max_rounds: int = option(_lib("max_rounds"), ge=1, help="re-association + adjustment rounds")

    def __post_init__(self):
        check_options(self)


def run(config: RefineConfig) -> tuple[Rig, dict[str, Any]]:
    """`lift3d calibrate refine`: refine, write the rig and report, print the camera table and the errors."""
    from lift3d.io.rigs import format_camera_table

    rig, report = run_refine(
        config.rig, config.keypoints, out=config.out, report=config.report, format=config.format,
        skeleton=config.skeleton, people=config.people or None, min_confidence=config.min_confidence,
        threshold_px=config.threshold_px, max_frames=config.max_frames, refine_intrinsics=config.refine_intrinsics,
        gauge=config.gauge, max_rounds=config.max_rounds,
    )  # fmt: skip
    print(format_camera_table(rig))
    err = report["dlt_error_px"]
    print(f"\nmean reprojection error (DLT of all cameras): {err['initial']:.2f} px -> {err['refined']:.2f} px")
    print(f"wrote {config.out} and its report ({config.report or Path(config.out).with_suffix('.json')})")
    return rig, report


def run_refine(
    rig_path: str | os.PathLike,
    keypoint_paths: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    report: str | os.PathLike | None = None,
    format: str | None = RefineConfig.format,
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
    out = check_output(out, (".toml",), hint=" (rigs are written as anipose / Pose2Sim TOML)")
    report_path = check_output(report if report is not None else out.with_suffix(".json"), (".json",), what="report")
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
        raise _failed(report_path, {**data, "error": str(err)}, str(err)) from None
    data |= refine_report(result)
    before, after = result.dlt_error_px["initial"]["all"], result.dlt_error_px["refined"]["all"]
    problem = None
    if result.status == "diverged":
        problem = f"the bundle adjustment diverged ({result.reason})"
    elif not after < before:
        problem = f"the refined rig does not lower the mean reprojection error ({before:.2f} -> {after:.2f} px)"
    if problem:
        data |= {"error": problem, "last_good_rig": rig_to_json_dict(result.rig)}
        raise _failed(report_path, data, f"{problem}; {out} was not written")
    data |= {"status": "ok", "output": str(out)}
    with OutputSet():  # the rig and its report, or neither
        save_rig(result.rig, out)
        write_json(report_path, finite_or_none(data))
    return result.rig, data


def _failed(report_path: Path, data: dict[str, Any], message: str) -> CalibrationError:
    """The error of a failed refinement; its report is written unless that would replace a good run's."""
    if write_failure_report(report_path, finite_or_none({**data, "status": "failed"})):
        return CalibrationError(f"{message} (report: {report_path})")
    return CalibrationError(f"{message} (report not written: {report_path} holds an earlier run's report)")

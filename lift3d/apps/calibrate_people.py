"""`lift3d calibrate people`: a rig from the people of a capture alone (no board, no starting rig).

Reads each camera's keypoints and the intrinsics (a rig file, e.g. from `lift3d calibrate intrinsics`, or the
image size with one focal length estimated: ``--focal-guess``), runs `lift3d.calibration.people_rig`, and writes
the rig TOML and a JSON report (world frame, scale, focal length, pairs, per camera errors and support), both or
neither. On failure no rig is written and the report says why.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.apps.options import check_options, default_of, option
from lift3d.calibration.people_rig import calibrate_from_people, guess_intrinsics, people_report
from lift3d.calibration.report import finite_or_none
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import CalibrationError, ConfigError
from lift3d.io.atomic import OutputSet, check_output, write_failure_report, write_json
from lift3d.io.keypoints import DEFAULT_FORMAT, FORMATS, read_keypoints
from lift3d.io.rig_toml import save_rig
from lift3d.io.rigs import load_rig

__all__ = ["PeopleConfig", "run", "run_people", "parse_distance"]

DEFAULT_FPS = 30.0  # frame rate assumed for the floor's foot speeds when neither the files nor --fps give one


def _lib(name: str) -> Any:
    return default_of(calibrate_from_people, name)


def parse_distance(text: str) -> tuple[str, str, float]:
    """``CAM_A,CAM_B,METRES`` -> (CAM_A, CAM_B, metres); raises ValueError otherwise."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 3 or not parts[0] or not parts[1] or parts[0] == parts[1]:
        raise ValueError(f"expected CAM_A,CAM_B,METRES, got {text!r}")
    metres = float(parts[2])
    if not metres > 0:
        raise ValueError(f"the distance must be positive, got {parts[2]!r}")
    return parts[0], parts[1], metres


@dataclasses.dataclass(frozen=True)
class PeopleConfig:
    """Options of `lift3d calibrate people`."""

    keypoints: tuple[Path, ...] = option(unique=True, help="keypoint folder / file per camera")
    out: Path = option(short="-o", help="rig TOML to write")
    intrinsics: Path | None = option(None, help="rig file with each camera's intrinsics (e.g. calibrate intrinsics)")
    focal_guess: bool = option(False, help="no intrinsics: centre from --image-size, one focal length estimated")
    image_size: tuple[float, float] | None = option(None, comma=True, metavar="W,H", gt=0,
                                                    help="image size (px), with --focal-guess")  # fmt: skip
    focal_px: float | None = option(None, gt=0, help="starting focal length of --focal-guess (default: larger side)")
    height_m: float = option(_lib("height_m"), gt=0, help="the subject's (most complete person's) height: the scale")
    distance: str | None = option(None, check=parse_distance, metavar="CAM_A,CAM_B,METRES",
                                  help="known distance between two camera centres: the scale instead")  # fmt: skip
    report: Path | None = option(None, help="JSON report (default: OUT with .json)")
    format: str = option(DEFAULT_FORMAT, choices=FORMATS, help="keypoint file format")
    skeleton: str | None = option(None, check=get_skeleton, help="detector skeleton, e.g. body_25b")
    fps: float | None = option(None, gt=0, help=f"frame rate (default: the files', else {DEFAULT_FPS:g})")
    people: int = option(_lib("people"), ge=0, help="people used by the bundle adjustment (0: all)")
    min_confidence: float = option(_lib("min_confidence"), ge=0, le=1, help="detections below are ignored")
    threshold_px: float = option(_lib("threshold_px"), gt=0, help="RANSAC threshold of the pairwise poses (px)")
    min_motion: float = option(_lib("min_motion"), ge=0, help="least joint motion, share of the body's image height")
    max_frames: int = option(_lib("max_frames"), ge=1, help="frames used by the bundle adjustment")

    def __post_init__(self):
        check_options(self)


def run(config: PeopleConfig) -> dict[str, Any]:
    """`lift3d calibrate people`: calibrate, write the rig and report, print the camera table and the errors."""
    from lift3d.io.rigs import format_camera_table

    if (config.intrinsics is None) == (not config.focal_guess):
        raise ConfigError("give either --intrinsics FILE or --focal-guess (with --image-size W,H), not both")
    if config.focal_guess and config.image_size is None:
        raise ConfigError("--focal-guess needs --image-size W,H (the keypoint files do not hold it)")
    options = {k: getattr(config, k) for k in ("people", "min_confidence", "threshold_px", "min_motion", "max_frames")}
    rig, data = run_people(
        config.keypoints, out=config.out, report=config.report, intrinsics=config.intrinsics,
        image_size=config.image_size if config.focal_guess else None, focal_px=config.focal_px,
        height_m=config.height_m, distance=config.distance, format=config.format, skeleton=config.skeleton,
        fps=config.fps, **{**options, "people": config.people or None},
    )  # fmt: skip
    print(format_camera_table(rig))
    print()
    for name, cam in data["cameras"].items():
        print(f"{name}: DLT error {cam['dlt_error_px']:.2f} px, {cam['frames']} frames, {cam['joints']} joints, "
              f"pairs {', '.join(cam['pairs_used'])}")  # fmt: skip
    if data["focal"]:
        f = data["focal"]
        print(f"focal length (shared): {f['estimate_px']:.1f} px (std {f['std_px']:.1f} px, statistical only)")
    print(f"scale: {data['scale']['source']} {data['scale']['value_m']:g} m; world: {data['world_note']}")
    print(f"mean reprojection error (DLT of all cameras): {data['dlt_error_px']:.2f} px")
    print(f"wrote {config.out} and its report ({config.report or Path(config.out).with_suffix('.json')})")
    return data


def run_people(
    keypoint_paths: Sequence[str | os.PathLike],
    *,
    out: str | os.PathLike,
    report: str | os.PathLike | None = None,
    intrinsics: str | os.PathLike | None = None,
    image_size: Sequence[float] | None = None,
    focal_px: float | None = None,
    distance: str | None = None,
    format: str | None = PeopleConfig.format,
    skeleton: str | None = None,
    fps: float | None = None,
    **options: Any,
):
    """Calibrate a rig from keypoint files alone; write the rig TOML (metres) and a JSON report.

    Args:
        keypoint_paths: One folder or file per camera, or one npz (see `read_keypoints`).
        out: Rig TOML to write.
        report: JSON report; default `out` with suffix `.json`.
        intrinsics: Rig file holding each camera's intrinsics (views matched by name, as `lift3d triangulate`).
        image_size: (W, H) px: no intrinsics, one shared focal length estimated (`guess_intrinsics`).
        focal_px: Starting focal length with `image_size`.
        distance: "CAM_A,CAM_B,METRES" (camera names as in the written rig): the scale instead of the height.
        format: Keypoint format (None: guess).
        skeleton: Skeleton of the keypoints (e.g. "body_25b").
        fps: Frame rate; default the files' own, else `DEFAULT_FPS`.
        **options: Keyword options of `calibrate_from_people` (height_m, people, min_confidence, ...).

    Returns:
        (rig, report).

    Raises:
        CalibrationError: Input that cannot give a rig (named cameras) or a failed adjustment; nothing written.
        ConfigError: Neither or both of `intrinsics` and `image_size`.
    """
    if (intrinsics is None) == (image_size is None):
        raise ConfigError("give either intrinsics or an image size (focal length estimated), not both")
    out = check_output(out, (".toml",), hint=" (rigs are written as anipose / Pose2Sim TOML)")
    report_path = check_output(report if report is not None else out.with_suffix(".json"), (".json",), what="report")
    kp = read_keypoints(list(keypoint_paths), format=format, skeleton=skeleton)
    if intrinsics is not None:
        rig_in = load_rig(intrinsics).match(kp.views)
        names, cams = list(rig_in.names), rig_in.cameras
        cams = cams.replace(R=np.tile(np.eye(3), (len(names), 1, 1)), t=np.zeros((len(names), 3)))
    else:
        names = [_camera_name(v) for v in kp.views]
        cams = guess_intrinsics(image_size, len(names), focal_px)
    rate = fps or kp.fps or DEFAULT_FPS
    data: dict[str, Any] = {
        "kind": "people",
        "keypoints": [str(p) for p in keypoint_paths],
        "intrinsics": str(intrinsics) if intrinsics is not None else f"image size {list(image_size)}, focal estimated",
        "options": {"format": format, "skeleton": kp.skeleton.name, "fps": rate, "distance": distance, **options},
        "notes": list(kp.notes) + ([] if fps or kp.fps else [f"no frame rate given: {DEFAULT_FPS:g} Hz assumed"]),
    }
    try:
        result = calibrate_from_people(
            names, cams, kp.points, kp.confidence, joints=kp.skeleton.joints, fps=rate,
            estimate_focal=intrinsics is None, distance=parse_distance(distance) if distance else None, **options,
        )  # fmt: skip
    except CalibrationError as err:
        raise _failed(report_path, {**data, "error": str(err)}, f"{err}; {out} was not written") from None
    data |= people_report(result) | {"status": "ok", "output": str(out)}
    with OutputSet():  # the rig and its report, or neither
        save_rig(result.rig, out)
        write_json(report_path, finite_or_none(data))
    return result.rig, data


def _camera_name(view: str) -> str:
    """A camera's name from its keypoint view ("cam01_json" -> "cam01")."""
    return view[: -len("_json")] if view.endswith("_json") else view


def _failed(report_path: Path, data: dict[str, Any], message: str) -> CalibrationError:
    """The error of a failed calibration; its report is written unless that would replace a good run's."""
    if write_failure_report(report_path, finite_or_none({**data, "status": "failed"})):
        return CalibrationError(f"{message} (report: {report_path})")
    return CalibrationError(f"{message} (report not written: {report_path} holds an earlier run's report)")

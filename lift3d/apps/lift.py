"""`lift3d lift`: lift the 2D keypoints of single views to 3D with the residual MLP lifter; write npz / TRC / C3D / CSV.

`run_lift` = read (`lift3d.io.keypoints.read_keypoints`) + `lift3d.predict.lifter.lift_keypoints` + write
(`write_lift_npz`, `lift3d.io.motion.write_motion`); see `lift3d.predict.lifter` for each step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from lift3d.apps.options import check_options, default_of, option
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import LiftInputError
from lift3d.io.atomic import OutputSet, check_output
from lift3d.io.keypoints import DEFAULT_FORMAT, FORMATS, read_keypoints
from lift3d.io.motion import write_motion
from lift3d.io.rigs import load_rig
from lift3d.predict.lifter import format_lift_summary, lift_keypoints, write_lift_npz

__all__ = ["LiftConfig", "run", "run_lift"]

OUTPUT_SUFFIXES = (".npz", ".trc", ".c3d", ".csv")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LiftConfig:
    """Options of `lift3d lift` (and the defaults of `run_lift`)."""

    keypoints: tuple[Path, ...] = option(unique=True, help="keypoint folder(s) or file(s)")
    format: str = option(DEFAULT_FORMAT, choices=FORMATS, help="keypoint file format")
    skeleton: str | None = option(None, check=get_skeleton, help="detector skeleton, e.g. body_25b")
    checkpoint: Path | None = option(None, help="lifter folder (default: the shipped one)")
    rig: Path | None = option(None, help="rig file: intrinsics (and world axes) of the views")
    views: tuple[str, ...] | None = option(
        None, comma=True, unique=True, help="comma-separated views to lift (default all)"
    )
    person: int = option(0, ge=0, help="detection slot written to .trc/.c3d/.csv")
    image_size: tuple[float, float] | None = option(
        None, comma=True, metavar="W,H", gt=0, help="W,H when there is no rig"
    )
    focal_px: float | None = option(None, gt=0, help="focal length in px when there is no rig")
    min_confidence: float = option(
        default_of(lift_keypoints, "min_confidence"), ge=0, le=1, help="joints below are treated as missing"
    )
    fps: float | None = option(None, gt=0, help="frame rate for motion files")
    out: Path = option(short="-o", help="output .npz, .trc, .c3d or .csv")

    def __post_init__(self):
        check_options(self)


def run(config: LiftConfig) -> list[Path]:
    """`lift3d lift`: lift, print the per-view table and the files written."""
    written = run_lift(
        list(config.keypoints), format=config.format, skeleton=config.skeleton, checkpoint=config.checkpoint,
        out=config.out, rig=config.rig, views=config.views, person=config.person, image_size=config.image_size,
        focal_px=config.focal_px, min_confidence=config.min_confidence, fps=config.fps, echo=print,
    )  # fmt: skip
    for path in written:
        print(f"wrote {path}")
    side = Path(config.out).with_suffix(".npz")
    if side != Path(config.out) and side not in written:
        print(f"note: {side} exists and was kept (not named by -o); the full result was not written: "
              f"name it with -o {side}")  # fmt: skip
    return written


def run_lift(
    keypoints_dir: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    format: str | None = LiftConfig.format,
    skeleton: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    out: str | os.PathLike,
    rig: str | os.PathLike | None = None,
    views: Sequence[str] | None = None,
    person: int = LiftConfig.person,
    image_size: tuple[float, float] | None = None,
    focal_px: float | None = None,
    min_confidence: float = LiftConfig.min_confidence,
    fps: float | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """Read keypoints, lift them, write the result (what ``lift3d lift`` runs).

    Args:
        keypoints_dir: Keypoint folder(s) / file(s) (`lift3d.io.keypoints.read_keypoints`).
        format: Keypoint format ("openpose", "coco", "dlc", "mediapipe", "npz"; None guesses).
        skeleton: Detector skeleton, e.g. "body_25b".
        checkpoint: Lifter folder (None: the shipped one).
        out: ``.npz`` (everything) or ``.trc`` / ``.c3d`` / ``.csv`` (one person, via `write_motion`; an
            ``.npz`` with the full result is written next to it, unless a file of that name exists: a file
            that was not named is never replaced).
        rig: Rig file (`lift3d.io.rigs.load_rig`) for exact rays and world axes.
        views: Views to lift (default all).
        person: Detection slot written to the motion file.
        image_size, focal_px, min_confidence: See `lift_keypoints`.
        fps: Frame rate (motion files need one; default the keypoints' or 30).
        echo: Called with `format_lift_summary` of the result (e.g. ``print``); None: silent.

    Returns:
        The files written (all of them, or on an error none).

    Raises:
        LiftInputError: Empty input, unmappable skeleton, bad options. FileNotFoundError: missing paths.
        OutputError: `out` cannot be written (checked before any work).
    """
    out = check_output(out, OUTPUT_SUFFIXES)
    src = [keypoints_dir] if isinstance(keypoints_dir, str | os.PathLike) else list(keypoints_dir)
    for s in src:
        if not Path(s).exists():
            raise FileNotFoundError(f"keypoints {s} not found")
        if Path(s).is_dir() and not any(Path(s).iterdir()):
            raise LiftInputError(f"{s}: empty folder, no keypoint files")
    try:
        kp = read_keypoints(src if len(src) > 1 else src[0], format=format, skeleton=skeleton)
    except KeyError as err:
        raise LiftInputError(f"{keypoints_dir}: {err}") from err
    rig_obj = None
    if rig is not None:
        rig_obj = load_rig(rig)
    result = lift_keypoints(kp, checkpoint=checkpoint, rig=rig_obj, views=views, image_size=image_size,
                            focal_px=focal_px, min_confidence=min_confidence)  # fmt: skip
    if echo is not None:
        echo(format_lift_summary(result))
    if not result.points_3d.size or not (result.points_3d == result.points_3d).any():  # nothing: no empty file
        top, seen = float(kp.confidence.max(initial=0.0)), int((kp.confidence > 0).sum())
        raise LiftInputError(f"{', '.join(map(str, src))}: no pose was lifted ({seen} detected joints, "
                             f"highest confidence {top:.3g}, threshold {min_confidence:g}): nothing to write; check "
                             "the keypoints and --skeleton, or lower --min-confidence")  # fmt: skip
    if out.suffix.lower() == ".npz":
        return [write_lift_npz(out, result, source=str(keypoints_dir))]
    if not 0 <= person < result.points_3d.shape[2]:
        raise LiftInputError(f"person {person} out of range: {result.points_3d.shape[2]} detection slots")
    pts = result.points_3d_world if result.points_3d_world is not None else result.points_3d
    pts = pts[:, :, person]  # (t, v, j, 3) mm
    names = list(result.skeleton.joints)
    if len(result.views) > 1:
        names = [f"{v}_{n}" for v in result.views for n in names]
    t = pts.shape[0]
    written = []
    side = out.with_suffix(".npz")
    with OutputSet():  # both files, or neither
        if not side.exists():
            written.append(write_lift_npz(side, result, source=str(keypoints_dir)))
        written.append(write_motion(out, pts.reshape(t, -1, 3), joint_names=names, fps=fps or result.fps or 30.0,
                                    units="mm", frame_ids=result.frame_ids))  # fmt: skip
    return written

"""File-level calibration: images or videos in; a rig TOML and a JSON report out (`lift3d calibrate`).

- `calibrate_intrinsics`: per camera, detect the board, calibrate (rejecting bad images), write a rig TOML
  with intrinsics only (identity poses) and a report (per image: found / not found / rejected and why, RMS;
  K, dist; coverage grids) plus one coverage map PNG per camera.
- `calibrate_extrinsics`: detect the board in synchronised views of all cameras, take the intrinsics from a
  rig file or calibrate them from the same images, initialise the rig from per-view board poses and a
  spanning tree of the camera graph, bundle-adjust, choose the world frame, write the rig TOML and a report.

Both write atomically and only on success: a failure raises `CalibrationError` with one line naming the
camera, frame or field, leaves any existing rig file untouched, and (when a report path is known) writes the
report with `"status": "failed"` and the reason, so the evidence survives.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lift3d.apps.options import check_options, default_of, option
from lift3d.calibration.boards import BoardDetections, detect_in_source, spec_mismatch_message
from lift3d.calibration.extrinsics import initial_rig, view_poses, world_from_board, world_from_camera
from lift3d.calibration.intrinsics import calibrate_camera, no_board_message, too_few_views_message
from lift3d.calibration.report import extrinsics_entry, finite_or_none, intrinsics_entry, plot_coverage
from lift3d.calibration.solvers.bundle import bundle_adjust
from lift3d.core.rig import Rig
from lift3d.errors import CalibrationError, ConfigError
from lift3d.geometry.camera import Camera, stack_cameras
from lift3d.io.atomic import OutputSet, check_output, write_failure_report, write_json
from lift3d.io.boards import Board, load_board
from lift3d.io.image_sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from lift3d.io.rig_toml import save_rig
from lift3d.io.rigs import load_rig, rig_to_json_dict

__all__ = ["IntrinsicsConfig", "ExtrinsicsConfig", "run", "calibrate_intrinsics", "calibrate_extrinsics",
           "camera_sources", "camera_sources_from_args"]

Source = str | os.PathLike | Sequence[str | os.PathLike]
_CAM_TOKEN = re.compile(r"cam(?:era)?[_-]?\d+", re.IGNORECASE)


def _world_spec(world: str, names: Sequence[str] | None = None) -> None:
    """Refuse a world frame that is not ``camera:NAME`` or ``board:KEY`` (or names no camera of `names`)."""
    kind, sep, ref = world.partition(":")
    if kind not in ("camera", "board") or not sep or not ref:
        raise ConfigError(f"--world {world}: expected camera:NAME or board:KEY")
    if kind == "camera" and names is not None and ref not in names:
        raise ConfigError(f"--world {world}: no camera {ref!r}; cameras: {', '.join(names)}")


@dataclasses.dataclass(frozen=True)
class _BoardConfig:
    """Options shared by `lift3d calibrate intrinsics` and `extrinsics`."""

    cameras: tuple[str, ...] = option(positional=True, unique=True, help="a folder, or NAME=SOURCE per camera")
    board: Path = option(help="board spec TOML (calib/boards/*.toml)")
    out: Path = option(short="-o", help="rig TOML to write")
    report: Path | None = option(None, help="JSON report (default: OUT with .json)")
    square_size_mm: float | None = option(None, gt=0, help="override the spec's square size")
    every: int = option(default_of(detect_in_source, "every"), ge=1, help="use every n-th image / video frame")
    detector: Literal["auto", "classic", "sb"] = option(
        default_of(detect_in_source, "detector"), help="corner detector"
    )
    subpix_window: int | None = option(
        None, metavar="PX", ge=1,
        help="half side of the sub-pixel corner window (default: 0.3 x the corner spacing; OpenCV's sample: 11)",
    )  # fmt: skip
    min_views: int = option(default_of(calibrate_camera, "min_views"), ge=1, help="fewest usable views per camera")
    model: Literal["pinhole", "fisheye"] = option(default_of(calibrate_camera, "model"), help="lens model")
    distortion: Literal["auto", "k1k2", "k1k2p", "full"] = option(
        default_of(calibrate_camera, "distortion"), help="distortion terms"
    )

    def __post_init__(self):
        check_options(self)


@dataclasses.dataclass(frozen=True)
class IntrinsicsConfig(_BoardConfig):
    """Options of `lift3d calibrate intrinsics` (and the defaults of `calibrate_intrinsics`)."""

    reject_k: float = option(
        default_of(calibrate_camera, "reject_k"), gt=0, help="reject views above median + k MAD"
    )
    no_reject: bool = option(False, help="keep every detected view")
    fix_aspect: bool = option(default_of(calibrate_camera, "fix_aspect"), help="keep fx = fy")
    max_rms_px: float = option(
        default_of(calibrate_camera, "max_rms_px"), flag="--max-rms", gt=0,
        help="refuse a camera above this RMS error (px)",
    )


@dataclasses.dataclass(frozen=True)
class ExtrinsicsConfig(_BoardConfig):
    """Options of `lift3d calibrate extrinsics` (and the defaults of `calibrate_extrinsics`)."""

    intrinsics: Path | None = option(None, help="rig TOML with each camera's intrinsics")
    world: str | None = option(None, check=_world_spec, help="world frame: camera:NAME (default first) or board:KEY")
    refine_intrinsics: Literal["none", "focal", "focal_center", "all"] = option(
        "none", help="also adjust intrinsics in the bundle adjustment"
    )
    max_rms_px: float = option(5.0, flag="--max-rms", gt=0, help="refuse a rig above this RMS error (px)")


_I, _E = IntrinsicsConfig, ExtrinsicsConfig  # the defaults of the functions below


def run(config: IntrinsicsConfig | ExtrinsicsConfig) -> tuple[Rig, dict[str, Any]]:
    """`lift3d calibrate intrinsics / extrinsics`: calibrate, write the rig and report, print the camera table."""
    from lift3d.io.rigs import format_camera_table

    common = dict(
        report=config.report, square_size_mm=config.square_size_mm, every=config.every, detector=config.detector,
        subpix_window=config.subpix_window, min_views=config.min_views, model=config.model,
        distortion=config.distortion,
    )  # fmt: skip
    cameras = camera_sources_from_args(config.cameras)
    if isinstance(config, IntrinsicsConfig):
        rig, report = calibrate_intrinsics(
            cameras, config.board, config.out, reject_k=None if config.no_reject else config.reject_k,
            fix_aspect=config.fix_aspect, max_rms_px=config.max_rms_px, **common,
        )  # fmt: skip
    else:
        rig, report = calibrate_extrinsics(
            cameras, config.board, config.out, intrinsics=config.intrinsics, world=config.world,
            refine_intrinsics=config.refine_intrinsics, max_rms_px=config.max_rms_px, **common,
        )  # fmt: skip
    print(format_camera_table(rig))
    print(f"\nwrote {config.out} and its report ({config.report or Path(config.out).with_suffix('.json')})")
    for name, entry in report["cameras"].items():
        if entry.get("coverage_png"):
            print(f"wrote {entry['coverage_png']} (coverage map of {name}, beside the report)")
    return rig, report


def _camera_name(name: str) -> str:
    m = _CAM_TOKEN.search(name)
    return m.group(0) if m else name


def camera_sources(cameras: Mapping[str, Source | BoardDetections] | str | os.PathLike) -> dict[str, Source]:
    """Camera name -> images or video.

    Args:
        cameras: A mapping name -> folder / glob pattern / list of images / video (or the camera's
            `BoardDetections`, detected already); or one folder holding one
            subfolder of images per camera, or one video per camera. Names from a folder are the subfolder or
            video names, shortened to their "camNN" token when each has one (`int_cam01_img` -> "cam01").

    Returns:
        The mapping, in the given (or sorted) order.

    Raises:
        CalibrationError: A folder without camera subfolders or videos.
    """
    if isinstance(cameras, Mapping):
        if not cameras:
            raise CalibrationError("no cameras given")
        return {str(k): v for k, v in cameras.items()}
    root = Path(cameras)
    if not root.is_dir():
        raise FileNotFoundError(2, "no such folder of cameras", str(root))
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    entries = subdirs or sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not entries:
        images = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = " (it holds images: pass it as one camera, NAME=FOLDER)" if images else ""
        raise CalibrationError(f"{root}: no camera subfolders or videos{hint}")
    names = [p.stem if p.is_file() else p.name for p in entries]
    short = [_camera_name(n) for n in names]
    if len(set(short)) == len(short):
        names = short
    return dict(zip(names, entries, strict=True))


def camera_sources_from_args(args: Sequence[str]) -> dict[str, Source] | Path:
    """Camera sources from command-line words: one folder (of camera subfolders or videos), or NAME=SOURCE
    words (SOURCE: an image folder, a quoted glob pattern such as "left*.jpg", or a video).

    Args:
        args: The words, e.g. ["calib/"] or ["left=data/left*.jpg", "right=data/right*.jpg"].

    Returns:
        A folder for `camera_sources`, or the name -> source mapping.

    Raises:
        CalibrationError: No words, a word without "=" among several, an empty name or a repeated name.
    """
    if not args:
        raise CalibrationError("no cameras given: pass a folder of camera subfolders or NAME=SOURCE words")
    if len(args) == 1 and "=" not in args[0]:
        return Path(args[0])
    out: dict[str, Source] = {}
    for word in args:
        name, eq, src = word.partition("=")
        if not eq or not name or not src:
            raise CalibrationError(f"camera {word!r}: expected NAME=SOURCE (e.g. cam1=videos/cam1.mp4)")
        if name in out:
            raise CalibrationError(f"camera {name!r} is given twice")
        out[name] = src
    return out


def _board(board: Board | str | os.PathLike, square_size_mm: float | None) -> Board:
    b = board if isinstance(board, Board) else load_board(board)
    if square_size_mm is not None:
        b = dataclasses.replace(b, square_size_mm=square_size_mm)
    return b


def _detect_all(
    sources: Mapping[str, Source | BoardDetections],
    board: Board,
    every: int,
    detector: str,
    window: int | None,
) -> list[BoardDetections]:
    out = []
    for name, src in sources.items():
        if isinstance(src, BoardDetections):  # detected already (e.g. to try several options)
            if src.board.inner_corners != board.inner_corners or src.board.kind != board.kind:
                raise CalibrationError(f"camera {name!r}: its detections are of another board ({src.board})")
            out.append(dataclasses.replace(src, camera=name, board=board))
        else:
            out.append(
                detect_in_source(
                    src, board, camera=name, every=every, detector=detector, subpix_window=window
                )
            )
    return out


def _fail(report: Path | None, data: dict[str, Any], message: str) -> CalibrationError:
    """Write the report with status "failed" now (if a path is known, and unless that would replace the report
    of an earlier good run: a failed rerun leaves every earlier output as it was) and build the error to raise."""
    if report is not None:
        if write_failure_report(report, finite_or_none({**data, "status": "failed", "error": message})):
            message += f" (report: {report})"
        else:
            message += f" (report not written: {report} holds an earlier run's report)"
    return CalibrationError(message)


def _outputs(output: str | os.PathLike, report: str | os.PathLike | None) -> tuple[Path, Path]:
    """The rig and report paths, checked before any work (`check_output`)."""
    output = check_output(output, (".toml",), hint=" (rigs are written as anipose / Pose2Sim TOML)")
    return output, check_output(report if report is not None else output.with_suffix(".json"), (".json",),
                                what="report")  # fmt: skip


def calibrate_intrinsics(
    cameras: Mapping[str, Source | BoardDetections] | str | os.PathLike,
    board: Board | str | os.PathLike,
    output: str | os.PathLike,
    *,
    report: str | os.PathLike | None = None,
    coverage_png: bool = True,
    square_size_mm: float | None = None,
    every: int = _I.every,
    detector: str = _I.detector,
    subpix_window: int | None = None,
    model: str = _I.model,
    distortion: str = _I.distortion,
    fix_aspect: bool = _I.fix_aspect,
    fix_principal_point: bool = False,
    reject_k: float | None = _I.reject_k,
    min_views: int = _I.min_views,
    max_rms_px: float = _I.max_rms_px,
) -> tuple[Rig, dict[str, Any]]:
    """Calibrate the intrinsics of each camera from board images or videos; write a rig TOML and a report.

    Args:
        cameras: Camera sources (see `camera_sources`).
        board: The board, or its spec TOML (`calib/boards/*.toml`).
        output: Rig TOML to write (anipose / Pose2Sim layout, metres; identity extrinsics).
        report: JSON report; default `output` with suffix `.json`.
        coverage_png: Also write `<report stem>_coverage_<camera>.png` beside the report (needs matplotlib).
        square_size_mm: Override the spec's square size, millimetres.
        every: Use every n-th image or video frame.
        detector: Checkerboard detector, "auto", "classic" or "sb" (see `detect_board`).
        subpix_window: Half side of the corner refinement window, px (None: from the corner spacing).
        model: "pinhole" or "fisheye".
        distortion: Pinhole distortion model: "auto", "k1k2", "k1k2p", "full" (see `calibrate_camera`).
        fix_aspect: Keep fx = fy.
        fix_principal_point: Keep the principal point at the image centre.
        reject_k: Reject images whose RMS exceeds median + k * MAD; None keeps all.
        min_views: Fewest usable images per camera.
        max_rms_px: Refuse a camera whose RMS reprojection error exceeds this (px).

    Returns:
        (rig, report): the rig written and the report's contents.

    Raises:
        CalibrationError: Bad board spec (e.g. square size in metres), no board found in a camera's images
            (naming them and the pattern tried, suggesting the right pattern), too few usable images, boards
            that do not look like the spec, an implausible fit (RMS above `max_rms_px`, focal length).
        FileNotFoundError: A missing folder, video or spec.
    """
    board = _board(board, square_size_mm)
    output, report_path = _outputs(output, report)
    sources = camera_sources(cameras)
    options = {
        "every": every,
        "detector": detector,
        "subpix_window": subpix_window,
        "model": model,
        "distortion": distortion,
        "fix_aspect": fix_aspect,
        "fix_principal_point": fix_principal_point,
        "reject_k": reject_k,
        "min_views": min_views,
        "max_rms_px": max_rms_px,
    }
    data: dict[str, Any] = {"kind": "intrinsics", "board": board.to_dict(), "options": options, "cameras": {}}
    results, errors = [], []
    for det in _detect_all(sources, board, every, detector, subpix_window):
        try:
            res = calibrate_camera(
                det,
                model=model,
                distortion=distortion,
                fix_aspect=fix_aspect,
                fix_principal_point=fix_principal_point,
                reject_k=reject_k,
                min_views=min_views,
                max_rms_px=max_rms_px,
            )
        except CalibrationError as err:
            errors.append(str(err))
            data["cameras"][det.camera] = {"source": det.source, "status": "failed", "error": str(err)}
            continue
        data["cameras"][det.camera] = intrinsics_entry(res, det)
        results.append((res, det))
    if errors:
        raise _fail(report_path, data, "; ".join(errors))
    rig = Rig.from_cameras(
        [r.name for r, _ in results],
        [r.camera for r, _ in results],
        units="m",
        metadata={"calibration": "intrinsics", "board": board.name, "rms_px": [r.rms_px for r, _ in results]},
    )
    with OutputSet():  # the rig, its report and the coverage maps: all of them, or none
        if coverage_png:
            try:
                for res, det in results:
                    png = report_path.with_name(f"{report_path.stem}_coverage_{res.name}.png")
                    data["cameras"][res.name]["coverage_png"] = str(plot_coverage(res, det, png))
            except ImportError:
                data["coverage_png"] = "skipped: matplotlib is not installed"
        save_rig(rig, output)
        data |= {"status": "ok", "output": str(output)}
        write_json(report_path, data)
    return rig, data


def _frame_order(keys: set[str]) -> list[str]:
    return sorted(keys, key=lambda k: (0, int(k), "") if k.isdigit() else (1, 0, k))


def calibrate_extrinsics(
    cameras: Mapping[str, Source | BoardDetections] | str | os.PathLike,
    board: Board | str | os.PathLike,
    output: str | os.PathLike,
    *,
    intrinsics: str | os.PathLike | Rig | None = None,
    report: str | os.PathLike | None = None,
    square_size_mm: float | None = None,
    every: int = _E.every,
    detector: str = _E.detector,
    subpix_window: int | None = None,
    world: str | None = None,
    refine_intrinsics: str = _E.refine_intrinsics,
    loss: str = "soft_l1",
    loss_scale_px: float = 1.0,
    method: str = "schur",
    max_rms_px: float = _E.max_rms_px,
    min_views: int = _E.min_views,
    model: str = _E.model,
    distortion: str = _E.distortion,
) -> tuple[Rig, dict[str, Any]]:
    """Calibrate a whole rig from synchronised board views; write a rig TOML and a report.

    Frames match across cameras by key: the last number in the image name (`left01.jpg` and `right01.jpg`), or
    the frame index of synchronised videos (see `frame_key`).

    Args:
        cameras: Camera sources (see `camera_sources`), at least two.
        board: The board, or its spec TOML. ChArUco boards or checkerboards with columns + rows odd (a
            symmetric checkerboard cannot be numbered alike by all cameras).
        output: Rig TOML to write (metres).
        intrinsics: A rig file (or `Rig`) with every camera's intrinsics (e.g. from `calibrate_intrinsics`);
            None calibrates them from the same images.
        report: JSON report; default `output` with suffix `.json`.
        square_size_mm: Override the spec's square size, millimetres (sets the rig's scale).
        every: Use every n-th image or video frame.
        detector: Checkerboard detector (see `detect_board`).
        subpix_window: Half side of the corner refinement window, px (None: from the corner spacing).
        world: "camera:NAME" (that camera at the origin; default: the first camera) or "board:KEY" (the board
            in frame KEY defines the world: origin at its first inner corner, z out of its printed face).
        refine_intrinsics: Also refine intrinsics in the bundle adjustment: "none", "focal", "focal_center",
            "all" (see `free_mask`).
        loss: Robust loss of the bundle adjustment ("soft_l1", "huber", "linear").
        loss_scale_px: Scale of the robust loss, pixels.
        method: Bundle-adjustment solver, "schur" or "scipy".
        max_rms_px: Fail if the final RMS reprojection error exceeds this (pixels).
        min_views: Fewest usable views per camera.
        model: Camera model when calibrating intrinsics here ("pinhole" or "fisheye").
        distortion: Distortion model when calibrating intrinsics here.

    Returns:
        (rig, report): the rig written and the report's contents.

    Raises:
        CalibrationError: A bad or symmetric board, too few views in a camera, cameras that share no board
            views (naming the groups), intrinsics that do not fit the images, a diverged or poor bundle
            adjustment (the rig file is then not written; the report keeps the last good rig).
        RigFileError: An intrinsics file that is malformed or lacks a camera.
    """
    board = _board(board, square_size_mm)
    _check_numbered(board)
    output, report_path = _outputs(output, report)
    sources = camera_sources(cameras)
    if len(sources) < 2:
        raise CalibrationError(f"extrinsics need at least two cameras, got {list(sources)}")
    if world is not None:  # before the detection: which boards are seen is known only after it
        _world_spec(world, list(sources))
    options = {
        "every": every,
        "detector": detector,
        "subpix_window": subpix_window,
        "world": world,
        "refine_intrinsics": refine_intrinsics,
        "loss": loss,
        "loss_scale_px": loss_scale_px,
        "method": method,
        "max_rms_px": max_rms_px,
        "min_views": min_views,
        "intrinsics": str(intrinsics) if isinstance(intrinsics, (str, os.PathLike)) else intrinsics and "Rig",
    }
    data: dict[str, Any] = {"kind": "extrinsics", "board": board.to_dict(), "options": options, "cameras": {}}
    dets = _detect_all(sources, board, every, detector, subpix_window)
    names = [d.camera for d in dets]
    for d in dets:
        data["cameras"][d.camera] = _detections_entry(d)
    fail = functools.partial(_fail, report_path, data)
    cameras_in = _rig_intrinsics(dets, intrinsics, fail, data, model=model, distortion=distortion, min_views=min_views)
    keys, corners = _aligned_corners(dets, board)
    objp = board.object_points()
    R_view, t_view, view_rms = view_poses(cameras_in, corners, objp)
    try:
        cams0, board_R, board_t, info = initial_rig(cameras_in, R_view, t_view, view_rms, names)
    except CalibrationError as err:
        raise fail(str(err)) from None
    use = np.isfinite(R_view[..., 0, 0]).sum(0) >= (1 if refine_intrinsics != "none" else 2)
    frames = [k for k, u in zip(keys, use, strict=True) if u]
    free_dist = (True, True, True, True, False) if cams0.model == "fisheye" else (True, True, False, False, False)
    ba = bundle_adjust(cams0, board_R[use], board_t[use], objp, corners[:, use], refine_intrinsics=refine_intrinsics,
                       free_distortion=free_dist, loss=loss, loss_scale_px=loss_scale_px, method=method)  # fmt: skip
    world = world or f"camera:{names[0]}"
    rig = Rig(
        names=tuple(names),
        cameras=_in_world(ba, world, names, frames, fail),
        units="m",
        metadata={"calibration": "extrinsics", "board": board.name, "world": world, "error": ba.rms_px},
    )
    entry = extrinsics_entry(rig, ba, frames, info["shared"], info["tree"], info["pairs"])
    for n, cam_entry in entry.pop("cameras").items():
        data["cameras"][n] |= cam_entry
    data |= entry | {"world": world}
    _check_bundle(ba, rig, output, max_rms_px, fail, data)
    data |= {"status": "ok", "output": str(output)}
    with OutputSet():  # the rig and its report, or neither
        save_rig(rig, output)
        write_json(report_path, finite_or_none(data))
    return rig, data


def _check_numbered(board: Board) -> None:
    """Extrinsics need corners that every camera numbers alike: no symmetric checkerboard."""
    if board.symmetric:
        raise CalibrationError(
            f"board {board.name!r}: a {board.inner_corners[0]} x {board.inner_corners[1]} checkerboard looks "
            "the same turned by 180 degrees, so cameras may number its corners differently; use a "
            "checkerboard with columns + rows odd (e.g. 9 x 6) or a ChArUco board"
        )


def _detections_entry(d: BoardDetections) -> dict[str, Any]:
    """The report's first entry for a camera: where the board was found."""
    return {
        "source": d.source,
        "image_size": list(d.image_size),
        "frames": len(d.keys),
        "views_found": int(d.found.sum()),
        "not_found": [n for n, s in zip(d.names, d.status, strict=True) if s != "found" and s != "partial"],
    }


def _rig_intrinsics(dets, intrinsics, fail, data, *, model: str, distortion: str, min_views: int) -> Camera:
    """Each camera's intrinsics, from the given rig or calibrated from the same views; stacked.

    Raises:
        CalibrationError: (written to the report) image sizes that do not fit the intrinsics, too few views,
            cameras of different models.
    """
    cams = []
    if intrinsics is not None:
        rig_in = intrinsics if isinstance(intrinsics, Rig) else load_rig(intrinsics)
        rig_in = rig_in.to_units("m")
        for d in dets:
            cam = rig_in[rig_in.index(d.camera)]
            size = tuple(int(round(x)) for x in np.asarray(cam.image_size))
            if size != tuple(d.image_size):
                where = rig_in.metadata.get("_source", "the intrinsics rig")
                raise fail(f"camera {d.camera!r}: {where} holds intrinsics for {size[0]}x{size[1]} px images, but "
                           f"{d.source} has {d.image_size[0]}x{d.image_size[1]} px")  # fmt: skip
            cams.append(Camera.create(cam.K, dist=cam.dist, image_size=cam.image_size, model=cam.model))
            data["cameras"][d.camera]["intrinsics"] = {"from": str(rig_in.metadata.get("_source", "rig"))}
    for d in dets:
        if d.found.sum() == 0:
            raise fail(no_board_message(d))
        if d.found.sum() < min_views:
            raise fail(too_few_views_message(d, min_views))
        spec_error = spec_mismatch_message(d)
        if spec_error:
            raise fail(spec_error)
    if intrinsics is None:
        for d in dets:
            res = calibrate_camera(d, model=model, distortion=distortion, min_views=min_views)
            cams.append(res.camera)
            data["cameras"][d.camera]["intrinsics"] = {"from": "calibrated", **intrinsics_entry(res, d)}
    models = {c.model for c in cams}
    if len(models) > 1:
        raise fail(f"cameras mix models {sorted(models)}; one rig holds one model")
    return stack_cameras(cams)


def _aligned_corners(dets, board: Board) -> tuple[list[str], np.ndarray]:
    """Views aligned by frame key: the keys and (cameras, keys, corners, 2) px, NaN where not found."""
    keys = _frame_order(set().union(*(d.keys for d in dets)))
    index = {k: i for i, k in enumerate(keys)}
    corners = np.full((len(dets), len(keys), board.num_corners, 2), np.nan)
    for c, d in enumerate(dets):
        ok = d.found & ~np.array([bool(m) for m in d.mismatch], dtype=bool) if d.mismatch else d.found
        corners[c, [index[k] for k, o in zip(d.keys, ok, strict=True) if o]] = d.corners[ok]
    return keys, corners


def _in_world(ba, world: str, names: list[str], frames: list[str], fail) -> Camera:
    """The adjusted cameras in the chosen world frame ("camera:NAME" or "board:KEY")."""
    cams1, bR, bt = ba.cameras, ba.board_R, ba.board_t
    kind, _, ref = world.partition(":")
    if kind == "camera" and ref in names:
        return world_from_camera(cams1, bR, bt, names.index(ref))[0]
    if kind == "board" and ref in frames:
        return world_from_board(cams1, bR, bt, frames.index(ref))[0]
    choices = f"camera:NAME with NAME in {names}, or board:KEY with a frame KEY every camera pair used"
    raise fail(f"world {world!r}: expected {choices} (e.g. board:{frames[0]})")


def _check_bundle(ba, rig: Rig, output: Path, max_rms_px: float, fail, data) -> None:
    """Refuse a diverged or poor bundle adjustment (the report keeps the rig as the last good one)."""
    if ba.status == "diverged":
        data["last_good_rig"] = rig_to_json_dict(rig)
        raise fail(f"bundle adjustment diverged: {ba.reason}; {output} was not written")
    if not ba.rms_px <= max_rms_px:
        data["last_good_rig"] = rig_to_json_dict(rig)
        raise fail(
            f"bundle adjustment ended at RMS {ba.rms_px:.2f} px (> {max_rms_px:g} px; per camera "
            + ", ".join(f"{n} {e:.2f}" for n, e in zip(rig.names, ba.camera_rms_px, strict=True))
            + "): check that frames are synchronised, the board spec and the intrinsics; "
            + f"{output} was not written"
        )

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
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.calibration.boards import BoardDetections, detect_in_source
from lift3d.calibration.extrinsics import initial_rig, view_poses, world_from_board, world_from_camera
from lift3d.calibration.intrinsics import calibrate_camera, no_board_message, too_few_views_message
from lift3d.calibration.report import extrinsics_entry, finite_or_none, intrinsics_entry, plot_coverage
from lift3d.calibration.solvers.bundle import bundle_adjust
from lift3d.core.rig import Rig
from lift3d.errors import CalibrationError
from lift3d.geometry.camera import Camera, stack_cameras
from lift3d.io.atomic import write_json
from lift3d.io.boards import Board, load_board
from lift3d.io.image_sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from lift3d.io.rigs import load_rig, rig_to_json_dict, save_rig

__all__ = ["calibrate_intrinsics", "calibrate_extrinsics", "camera_sources", "camera_sources_from_args"]

Source = str | os.PathLike | Sequence[str | os.PathLike]
_CAM_TOKEN = re.compile(r"cam(?:era)?[_-]?\d+", re.IGNORECASE)


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
    """Write the report with status "failed" (if a path is known) and build the error to raise."""
    if report is not None:
        write_json(report, finite_or_none({**data, "status": "failed", "error": message}))
        message += f" (report: {report})"
    return CalibrationError(message)


def calibrate_intrinsics(
    cameras: Mapping[str, Source | BoardDetections] | str | os.PathLike,
    board: Board | str | os.PathLike,
    output: str | os.PathLike,
    *,
    report: str | os.PathLike | None = None,
    coverage_png: bool = True,
    square_size_mm: float | None = None,
    every: int = 1,
    detector: str = "auto",
    subpix_window: int | None = None,
    model: str = "pinhole",
    distortion: str = "auto",
    fix_aspect: bool = False,
    fix_principal_point: bool = False,
    reject_k: float | None = 3.0,
    min_views: int = 4,
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

    Returns:
        (rig, report): the rig written and the report's contents.

    Raises:
        CalibrationError: Bad board spec (e.g. square size in metres), no board found in a camera's images
            (naming them and the pattern tried, suggesting the right pattern), too few usable images.
        FileNotFoundError: A missing folder, video or spec.
    """
    board = _board(board, square_size_mm)
    output = Path(output)
    report_path = Path(report) if report is not None else output.with_suffix(".json")
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
    every: int = 1,
    detector: str = "auto",
    subpix_window: int | None = None,
    world: str | None = None,
    refine_intrinsics: str = "none",
    loss: str = "soft_l1",
    loss_scale_px: float = 1.0,
    method: str = "schur",
    max_rms_px: float = 5.0,
    min_views: int = 4,
    model: str = "pinhole",
    distortion: str = "auto",
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
    if board.symmetric:
        raise CalibrationError(
            f"board {board.name!r}: a {board.inner_corners[0]} x {board.inner_corners[1]} checkerboard looks "
            "the same turned by 180 degrees, so cameras may number its corners differently; use a "
            "checkerboard with columns + rows odd (e.g. 9 x 6) or a ChArUco board"
        )
    output = Path(output)
    report_path = Path(report) if report is not None else output.with_suffix(".json")
    sources = camera_sources(cameras)
    if len(sources) < 2:
        raise CalibrationError(f"extrinsics need at least two cameras, got {list(sources)}")
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
        data["cameras"][d.camera] = {
            "source": d.source,
            "image_size": list(d.image_size),
            "frames": len(d.keys),
            "views_found": int(d.found.sum()),
            "not_found": [
                n for n, s in zip(d.names, d.status, strict=True) if s != "found" and s != "partial"
            ],
        }

    # intrinsics
    cams = []
    if intrinsics is not None:
        rig_in = intrinsics if isinstance(intrinsics, Rig) else load_rig(intrinsics)
        rig_in = rig_in.to_units("m")
        for d in dets:
            cam = rig_in[rig_in.index(d.camera)]
            size = tuple(int(round(x)) for x in np.asarray(cam.image_size))
            if size != tuple(d.image_size):
                where = rig_in.metadata.get("_source", "the intrinsics rig")
                raise _fail(
                    report_path,
                    data,
                    f"camera {d.camera!r}: {where} holds intrinsics for {size[0]}x{size[1]} px images, but "
                    f"{d.source} has {d.image_size[0]}x{d.image_size[1]} px",
                )
            cams.append(Camera.create(cam.K, dist=cam.dist, image_size=cam.image_size, model=cam.model))
            data["cameras"][d.camera]["intrinsics"] = {"from": str(rig_in.metadata.get("_source", "rig"))}
    for d in dets:
        if d.found.sum() == 0:
            raise _fail(report_path, data, no_board_message(d))
        if d.found.sum() < min_views:
            raise _fail(report_path, data, too_few_views_message(d, min_views))
    if intrinsics is None:
        for d in dets:
            res = calibrate_camera(d, model=model, distortion=distortion, min_views=min_views)
            cams.append(res.camera)
            data["cameras"][d.camera]["intrinsics"] = {"from": "calibrated", **intrinsics_entry(res, d)}
    models = {c.model for c in cams}
    if len(models) > 1:
        raise _fail(report_path, data, f"cameras mix models {sorted(models)}; one rig holds one model")
    cameras_in = stack_cameras(cams)

    # views aligned by frame key
    keys = _frame_order(set().union(*(d.keys for d in dets)))
    index = {k: i for i, k in enumerate(keys)}
    corners = np.full((len(dets), len(keys), board.num_corners, 2), np.nan)
    for c, d in enumerate(dets):
        ok = d.found
        corners[c, [index[k] for k, o in zip(d.keys, ok, strict=True) if o]] = d.corners[ok]
    objp = board.object_points()
    R_view, t_view, view_rms = view_poses(cameras_in, corners, objp)
    try:
        cams0, board_R, board_t, info = initial_rig(cameras_in, R_view, t_view, view_rms, names)
    except CalibrationError as err:
        raise _fail(report_path, data, str(err)) from None
    seen = np.isfinite(R_view[..., 0, 0])
    use = seen.sum(0) >= (1 if refine_intrinsics != "none" else 2)
    frames = [k for k, u in zip(keys, use, strict=True) if u]
    free_dist = (
        (True, True, True, True, False) if cams0.model == "fisheye" else (True, True, False, False, False)
    )
    ba = bundle_adjust(
        cams0,
        board_R[use],
        board_t[use],
        objp,
        corners[:, use],
        refine_intrinsics=refine_intrinsics,
        free_distortion=free_dist,
        loss=loss,
        loss_scale_px=loss_scale_px,
        method=method,
    )
    cams1, bR, bt = ba.cameras, ba.board_R, ba.board_t
    world = world or f"camera:{names[0]}"
    kind, _, ref = world.partition(":")
    if kind == "camera" and ref in names:
        cams1, bR, bt = world_from_camera(cams1, bR, bt, names.index(ref))
    elif kind == "board" and ref in frames:
        cams1, bR, bt = world_from_board(cams1, bR, bt, frames.index(ref))
    else:
        choices = f"camera:NAME with NAME in {names}, or board:KEY with a frame KEY every camera pair used"
        raise _fail(report_path, data, f"world {world!r}: expected {choices} (e.g. board:{frames[0]})")
    rig = Rig(
        names=tuple(names),
        cameras=cams1,
        units="m",
        metadata={"calibration": "extrinsics", "board": board.name, "world": world, "error": ba.rms_px},
    )
    entry = extrinsics_entry(rig, ba, frames, info["shared"], info["tree"], info["pairs"])
    for n, cam_entry in entry.pop("cameras").items():
        data["cameras"][n] |= cam_entry
    data |= entry | {"world": world}
    if ba.status == "diverged":
        data["last_good_rig"] = rig_to_json_dict(rig)
        raise _fail(report_path, data, f"bundle adjustment diverged: {ba.reason}; {output} was not written")
    if not ba.rms_px <= max_rms_px:
        data["last_good_rig"] = rig_to_json_dict(rig)
        raise _fail(
            report_path,
            data,
            f"bundle adjustment ended at RMS {ba.rms_px:.2f} px (> {max_rms_px:g} px; per camera "
            + ", ".join(f"{n} {e:.2f}" for n, e in zip(names, ba.camera_rms_px, strict=True))
            + "): check that frames are synchronised, the board spec and the intrinsics; "
            + f"{output} was not written",
        )
    save_rig(rig, output)
    data |= {"status": "ok", "output": str(output)}
    write_json(report_path, finite_or_none(data))
    return rig, data

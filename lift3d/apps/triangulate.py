"""Triangulate a multi-camera capture: keypoint files + a rig -> filtered 3D files and a summary.

keypoint files -> `lift3d.io.keypoints` readers (t, v, p, j, 2) -> views matched to the rig -> person
association and tracking (`lift3d.geometry.association`) -> robust triangulation per person in fixed-size
chunks (`lift3d.geometry.triangulation.triangulate_sequence`) -> joints that break the body masked
(`lift3d.geometry.outliers`) -> gap filling and a temporal filter (`lift3d.geometry.temporal`) -> bones still
off moved back within the tolerance by a few cm, or masked -> TRC / C3D / CSV / npz writers
(`lift3d.io.motion`), plus a per-joint summary. Every step is a library call on arrays; this module only
wires them and reports.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from lift3d.apps.options import check_options, default_of, option
from lift3d.apps.sync import apply_offsets
from lift3d.apps.triangulate_model import triangulate_with_model
from lift3d.apps.triangulation_result import (
    AFTER_FILTER_CODE,
    REJECTION_REASONS,
    TriangulationResult,
    format_cameras,
    format_rejections,
    format_summary,
)
from lift3d.core.checks import CameraUsage, check_keypoints, nothing_found_message
from lift3d.core.keypoints import match_views
from lift3d.core.rig import Rig
from lift3d.core.skeleton import SKELETONS, Skeleton, get_skeleton
from lift3d.errors import CaptureInputError, ConfigError, InputWarning
from lift3d.geometry import outliers as rules
from lift3d.geometry.association import (
    MIN_CONFIDENCE,
    Association,
    add_mirrored_views,
    associate,
    select_tracks,
    track,
    views_of_one_person,
)
from lift3d.geometry.temporal import MAX_GAP_FRAMES, butterworth, fill_gaps, filter_trajectories, parse_filter_spec
from lift3d.geometry.triangulation import choose_backend, triangulate_sequence
from lift3d.geometry.triangulation.pose2sim import associate_pose2sim
from lift3d.geometry.triangulation.pose2sim import rig_metres_per_unit as _metres
from lift3d.geometry.triangulation.robust import INLIER_THRESHOLD_PX
from lift3d.io.atomic import OutputSet, check_output
from lift3d.io.keypoints import DEFAULT_FORMAT, FORMATS, read_keypoints
from lift3d.io.motion import write_motion
from lift3d.io.rigs import load_rig

__all__ = [
    "CaptureInputError", "TriangulateConfig", "TriangulationResult", "run", "triangulate_capture",
    "triangulate_arrays", "format_summary", "format_rejections", "format_cameras", "REJECTION_REASONS",
]

_BLOCK = 2048  # frames per block: besides one block, only arrays of the output's size are held
OUTPUT_SUFFIXES = (".trc", ".c3d", ".csv", ".npz", ".bvh")  # what `write_motion` writes
@dataclasses.dataclass(frozen=True)
class TriangulateConfig:
    """Options of `lift3d triangulate` (and the defaults of `triangulate_capture` / `triangulate_arrays`)."""

    rig: Path = option(help="rig file: TOML, Qualisys .qca.txt or OpenCV YAML")
    keypoints: tuple[Path, ...] = option(unique=True, help="one folder or file per camera")
    format: str = option(DEFAULT_FORMAT, choices=FORMATS, help="keypoint file format")
    skeleton: str | None = option(
        None, check=get_skeleton, help="keypoint skeleton, e.g. body_25b, body_25, coco, halpe_26"
    )
    people: int = option(1, ge=1, help="people to keep, most complete tracks first")
    method: Literal["ransac", "dlt", "pose2sim"] = option(
        "ransac", help="ransac: robust best subset (default); dlt: all views; pose2sim: Pose2Sim's triangulation "
        "(its numbers with --no-refine --keep-outliers --filter none; raw_points_3d)"
    )
    threshold_px: float = option(INLIER_THRESHOLD_PX, gt=0, help="inlier / reprojection threshold in px")
    min_confidence: float = option(MIN_CONFIDENCE, ge=0, le=1, help="ignore detections below this confidence")
    refine: bool = option(True, flag="--no-refine", help="skip the nonlinear refinement of each point")
    filter: str = option(
        "butterworth:6", check=parse_filter_spec, help="none, butterworth:CUTOFF_HZ[:ORDER], one-euro:MIN_CUTOFF[:BETA]"
    )
    max_gap: int = option(MAX_GAP_FRAMES, ge=0, help="longest gap (frames) filled by interpolation")
    outliers: bool = option(
        True, flag="--keep-outliers", help="keep joints that break the body (else masked before gap filling)"
    )
    bone_tolerance: float = option(rules.BONE_TOLERANCE, gt=0, help="largest relative change of a bone from its median")
    swaps: bool = option(
        True, flag="--keep-swaps", help="keep detectors' left/right confusions (else each view's are undone where "
        "the other views agree; not with --method pose2sim, which is Pose2Sim's handle_LR_swap = false)",
    )  # fmt: skip
    fps: float | None = option(None, gt=0, help="frame rate (needed by filters when files lack it)")
    offsets: Path | None = option(None, help="offsets TOML of `lift3d sync`: shift each camera by its rounded offset")
    y_up: bool = option(False, help="write Y-up axes (OpenSim) instead of the rig's Z-up")
    model: Path | None = option(
        None, metavar="WORKDIR", help="a trained algebraic model (lift3d train algebraic) run on --videos instead: "
        "the keypoints only place its crops; writes its H36M-17 joints, unfiltered",
    )  # fmt: skip
    videos: tuple[Path, ...] = option((), unique=True, help="with --model: one video per --keypoints camera, in order")
    out: tuple[Path, ...] = option(
        (), short="-o", repeat=True,
        help="output file (.trc .c3d .csv .npz .bvh; BVH: a fitted skeleton in the rig's units, add --y-up "
        "for Blender); repeat for several",
    )  # fmt: skip

    def __post_init__(self):
        check_options(self)


_D = TriangulateConfig  # the defaults of the functions below


def run(config: TriangulateConfig) -> TriangulationResult:
    """`lift3d triangulate`: triangulate, write the files, print the notes, a summary per person and the paths."""
    if config.model is not None or config.videos:
        if config.model is None:
            raise ConfigError("--videos goes with --model (a trained algebraic model); without it, no videos")
        return triangulate_with_model(config)
    result = triangulate_capture(
        config.rig, config.keypoints, out=config.out, format=config.format, skeleton=config.skeleton,
        people=config.people, method=config.method, refine=config.refine, threshold_px=config.threshold_px,
        min_confidence=config.min_confidence, filter=config.filter, max_gap=config.max_gap, fps=config.fps,
        y_up=config.y_up, outliers=config.outliers, bone_tolerance=config.bone_tolerance, offsets=config.offsets,
        swaps=config.swaps,
    )  # fmt: skip
    for note in result.notes:
        print(f"note: {note}")
    print("\n" + format_cameras(result))
    for person in range(result.points_3d.shape[1]):
        print(f"\nperson {person + 1}: {len(result.frame_ids)} frames, {len(result.views)} cameras, {config.method}")
        print(format_summary(result, person))
        if result.rejected is not None:
            print(format_rejections(result, person))
    for path in result.outputs:
        print(f"wrote {path}")
    return result


def triangulate_capture(
    rig: str | os.PathLike | Rig,
    keypoint_paths: Sequence[str | os.PathLike],
    *,
    out: Sequence[str | os.PathLike] = (),
    format: str | None = _D.format,
    skeleton: str | None = None,
    people: int = _D.people,
    method: str = _D.method,
    refine: bool = _D.refine,
    threshold_px: float = _D.threshold_px,
    min_confidence: float = _D.min_confidence,
    filter: str = _D.filter,
    max_gap: int = _D.max_gap,
    fps: float | None = None,
    y_up: bool = _D.y_up,
    outliers: bool = _D.outliers,
    bone_tolerance: float = _D.bone_tolerance,
    on_error: str = "skip",
    progress: bool = True,
    offsets: str | os.PathLike | None = None,
    swaps: bool = _D.swaps,
) -> TriangulationResult:
    """Triangulate the people of a capture and write the 3D files.

    Args:
        rig: Rig file (TOML, Qualisys, OpenCV) or a `Rig`.
        keypoint_paths: One folder (OpenPose) or file per camera, or an npz of all cameras.
        out: Files to write (.trc, .c3d, .csv, .npz, .bvh); with several people, `_p1`, `_p2`, ... are added to
            the file names.
        format: Keypoint format ("openpose", "coco", "dlc", "mediapipe", "npz"; None: guess).
        skeleton: Skeleton of the keypoints (e.g. "body_25b"); needed for 25-joint OpenPose files.
        people: How many people to keep (the most complete tracks).
        method: "ransac" (robust, default), "dlt" or "pose2sim" (Pose2Sim's camera-dropping rule).
        refine: Polish each point on the distorted reprojection error (robust loss).
        threshold_px: Inlier threshold of "ransac" / reprojection threshold of "pose2sim", px.
        min_confidence: Observations below this detector confidence are ignored.
        filter: "none", "butterworth:CUTOFF[:ORDER]" or "one-euro:MIN_CUTOFF[:BETA]".
        max_gap: Longest gap (frames) filled by interpolation.
        fps: Frame rate; default the keypoints' own (required for filtering when they have none).
        y_up: Write TRC / C3D with Y up (OpenSim) instead of the rig's Z up.
        outliers: Reject joints that break the body before gap filling (`lift3d.geometry.outliers`: two-view
            points off by more than `threshold_px` or far from their track, joints that break a bone by more
            than its noise), and bring the filtered output within `bone_tolerance` (`rules.fit_bones`: moves of
            a few cm along the bones, else masked).
        bone_tolerance: Largest relative deviation of a bone from its median length.
        on_error: "skip" marks frames of unreadable files missing (noted); "raise" stops.
        progress: Show progress bars.
        offsets: Offsets TOML of `lift3d sync`: each camera's frames shifted by its rounded offset.
        swaps: Undo left/right confusions view by view before triangulating (`repair_left_right_swaps`: a view's
            lateral joints are exchanged where that makes the views agree much better); off for "pose2sim".

    Returns:
        The result, with the paths written.
    """
    try:  # reject a bad spec before reading anything
        filter_name, _ = parse_filter_spec(filter)
    except ValueError as err:
        raise CaptureInputError(str(err)) from None
    out = [check_output(p, OUTPUT_SUFFIXES) for p in out]  # and outputs that cannot be written
    rig = rig if isinstance(rig, Rig) else load_rig(rig)
    reader_options = {"on_error": on_error} if format == "openpose" else {}
    skeleton = get_skeleton(skeleton) if skeleton else None
    kp = read_keypoints(list(keypoint_paths), format=format, skeleton=skeleton, **reader_options)
    if offsets is not None:  # the offsets file is `lift3d sync`'s
        kp = apply_offsets(kp, offsets)
    kp, rig = match_views(kp, rig)
    checked = [*rig.check(), *check_keypoints(kp, rig)]  # refuses input that cannot give a right answer
    fps = fps or kp.fps
    if fps is None and filter_name != "none":
        raise CaptureInputError("the keypoints carry no frame rate: pass fps (--fps) to filter, or --filter none")
    return triangulate_arrays(
        rig, kp.points, kp.confidence, joint_names=tuple(kp.skeleton.joints), fps=fps, frame_ids=kp.frame_ids,
        out=out, people=people, method=method, refine=refine, threshold_px=threshold_px,
        min_confidence=min_confidence, filter=filter, max_gap=max_gap, y_up=y_up, progress=progress,
        notes=(*kp.notes, *checked), skeleton=kp.skeleton, outliers=outliers, bone_tolerance=bone_tolerance,
        swaps=swaps,
    )  # fmt: skip


def _block(points_2d, confidence, start: int, stop: int, min_confidence: float):
    """Frames [start, stop) read from the (possibly memory-mapped) arrays; confidences below the threshold -> 0."""
    uv = np.asarray(points_2d[start:stop])
    if not np.issubdtype(uv.dtype, np.floating):
        uv = uv.astype(np.float32)
    conf = np.asarray(confidence[start:stop])
    return uv, np.where(conf >= min_confidence, conf, 0.0).astype(uv.dtype)


def triangulate_arrays(
    rig: Rig,
    points_2d: np.ndarray,
    confidence: np.ndarray,
    *,
    joint_names: Sequence[str],
    fps: float | None = None,
    frame_ids: np.ndarray | None = None,
    out: Sequence[str | os.PathLike] = (),
    people: int = _D.people,
    method: str = _D.method,
    refine: bool = _D.refine,
    threshold_px: float = _D.threshold_px,
    min_confidence: float = _D.min_confidence,
    filter: str = _D.filter,
    max_gap: int = _D.max_gap,
    y_up: bool = _D.y_up,
    progress: bool = True,
    notes: Sequence[str] = (),
    block_frames: int = _BLOCK,
    skeleton: Skeleton | None = None,
    outliers: bool = _D.outliers,
    bone_tolerance: float = _D.bone_tolerance,
    swaps: bool = _D.swaps,
) -> TriangulationResult:
    """Triangulate the people of a capture given as arrays, in fixed-size blocks of frames (flat memory).

    The arrays are read `block_frames` frames at a time, so they may be `np.memmap`s (`np.load(...,
    mmap_mode="r")`) of captures larger than memory: besides one block, only arrays of the output's size are
    held (per frame and person slot: the association's 3D points, views and assignment; then the 3D result).
    Pass 1 associates the detections of each block (`associate`), then identities are tracked over the whole
    capture and the `people` most complete tracks kept (with one detection per view and one person, the views
    whose detection fits the robust pose: `views_of_one_person`, no tuple search, nothing to track); pass 2
    gathers each kept person's detections block by block and triangulates them (`triangulate_sequence` on the
    fixed-rig kernels where they apply); gap filling, filtering and the writers follow.

    Args:
        rig: The rig, cameras in the order of the arrays' views.
        points_2d: (t, v, p, j, 2) detections, distorted px, NaN where missing.
        confidence: (t, v, p, j) detector confidences, 0 where missing.
        joint_names: j joint names (the skeleton's order).
        fps: Frame rate, Hz (required unless `filter` is "none").
        frame_ids: (t,) frame numbers; default 0, 1, ...
        out, people, method, refine, threshold_px, min_confidence, filter, max_gap, y_up, progress, outliers,
            bone_tolerance, swaps: As in `triangulate_capture`.
        notes: Reading notes carried into the result.
        block_frames: Frames per block.
        skeleton: The joints' skeleton (its bones, for outlier rejection); None: the registered skeleton with
            these `joint_names`, if any (else no bone rule).

    Returns:
        The result, with the paths written.
    """
    filter_name = _check_arrays(rig, points_2d, confidence, joint_names, fps, filter)
    out = [check_output(p, OUTPUT_SUFFIXES) for p in out]
    if out and not (fps and fps > 0):  # every motion file records its frame rate
        raise CaptureInputError(f"no frame rate for {out[0]}: the keypoints carry none; pass fps (--fps)")
    t = points_2d.shape[0]
    frame_ids = np.arange(t) if frame_ids is None else np.asarray(frame_ids)
    blocks = _Blocks(points_2d, confidence, min_confidence, block_frames)
    names = tuple(joint_names)
    skeleton = skeleton or next((s for s in SKELETONS.values() if s.joints == names), None)
    flip, swap_note = _flip(skeleton, swaps and method != "pose2sim")
    opts = {"threshold_px": threshold_px} if method == "ransac" else {}  # decided once, on the whole capture
    backend = choose_backend(rig.cameras, method, int(np.prod(points_2d.shape[:4])), flip, **opts)
    if method == "pose2sim" and people == 1:  # Pose2Sim's own single-person association (on the neck)
        opts = {"metres_per_unit": _metres(rig), "likelihood_threshold": min_confidence}
        assignment = np.concatenate([associate_pose2sim(rig.cameras, *blocks(s), tuple(joint_names), **opts)[:, None]
                                     for s in blocks.starts])
    else:
        assignment = _people(rig, blocks, min_confidence=min_confidence, max_gap=max_gap, people=people,
                             progress=progress, flip=flip, backend=backend)  # fmt: skip
    usage = CameraUsage(rig.names)
    raw, err, nv = _triangulate_people(rig, blocks, assignment, method=method, refine=refine,
                                       threshold_px=threshold_px, min_confidence=min_confidence,
                                       progress=progress, usage=usage, flip=flip, backend=backend)  # fmt: skip
    if not np.isfinite(raw).any():  # nothing to write: an empty file must not look like a result
        raise CaptureInputError(nothing_found_message(confidence, min_confidence, people))
    notes = (*notes, *swap_note, *usage.notes(threshold_px), *_missing_people(raw, people))
    kept, rejected, moved = raw, None, None
    if outliers:  # 3. masked before anything spreads them over time
        kept, rejected = _reject(raw, err, nv, skeleton, units=rig.units, fps=fps, threshold_px=threshold_px,
                                 bone_tolerance=bone_tolerance)  # fmt: skip
    filled_points, filled = fill_gaps(kept, max_gap=max_gap)  # 4. over time
    smooth = filter_trajectories(filled_points, filter, fps=fps) if filter_name != "none" else filled_points
    smooth = np.asarray(smooth)
    del filled_points
    if outliers and skeleton is not None:  # 5. what the filling and filter left broken
        smooth, moved = _fit_bones(smooth, filled, rejected, skeleton, units=rig.units, bone_tolerance=bone_tolerance,
                                   max_gap=max_gap)  # fmt: skip
    if outliers:  # the files and the summary describe the points kept
        err, nv = np.where(rejected > 0, np.nan, err), np.where(rejected > 0, 0, nv)
    written = _write(out, smooth, err, nv, joint_names=names, fps=fps, units=rig.units, y_up=y_up,
                     frame_ids=frame_ids)  # fmt: skip
    return TriangulationResult(
        points_3d=smooth,
        raw_points_3d=raw,
        error_px=err,
        num_views=nv,
        filled=filled,
        joint_names=names,
        views=rig.names,
        frame_ids=frame_ids,
        fps=float(fps or 0.0),
        units=rig.units,
        outputs=tuple(written),
        notes=tuple(notes),
        rejected=rejected,
        cameras=tuple(usage.table()),
        moved=moved,
    )


def _reject(raw, err, nv, skeleton, *, units: str, fps, threshold_px: float, bone_tolerance: float):
    """(t, P, j, 3) points with those that break the body NaN, (t, P, j) int8 reasons (`rules.reject_outliers`)."""
    m = 1.0 if units == "m" else 1000.0  # world units per metre
    return rules.reject_outliers(raw, skeleton, error_px=err, num_views=nv, max_error_px=threshold_px,
                                 window=rules.temporal_window(fps), max_distance=rules.TEMPORAL_MAX_DISTANCE_M * m,
                                 tolerance=bone_tolerance, max_length=rules.MAX_BONE_LENGTH_M * m)  # fmt: skip


def _fit_bones(points, filled, rejected, skeleton, *, units: str, bone_tolerance: float, max_gap: int):
    """Output samples that still break a bone (after filling and filtering) moved back by a few cm, or NaN
    (`rules.fit_bones`); short runs of these NaN filled from their neighbours when that fits the bones.
    `filled` and `rejected` are updated in place (`rejected` to `AFTER_FILTER_CODE`, filled or not).

    Returns:
        (points, moved): the fitted points and the (t, P, j) samples moved.
    """
    m = 1.0 if units == "m" else 1000.0
    options = {"tolerance": bone_tolerance, "max_move": rules.MAX_ADJUST_M * m,
               "max_length": rules.MAX_BONE_LENGTH_M * m}  # fmt: skip
    fit = rules.fit_bones(points, skeleton, **options)
    masked, moved = np.asarray(fit.masked), np.asarray(fit.moved)
    refilled, was_filled = fill_gaps(np.asarray(fit.points), max_gap=max_gap)
    again = rules.fit_bones(refilled, skeleton, **options)  # what the filling broke is masked after all
    filled[masked] = False
    filled |= was_filled & ~again.masked
    rejected[(masked | again.masked) & (rejected == 0)] = AFTER_FILTER_CODE  # a filled outlier keeps its first reason
    return np.asarray(again.points), (moved | again.moved) & ~again.masked


def _check_filter(filter: str, fps: float | None) -> str:
    """The filter's name, once the spec is valid at this frame rate (a Butterworth cut-off below fps / 2)."""
    try:
        name, params = parse_filter_spec(filter)
    except ValueError as err:
        raise CaptureInputError(str(err)) from None
    if name == "none":
        return name
    if fps is None:
        raise CaptureInputError("no frame rate: pass fps (--fps) to filter, or --filter none")
    if not (isinstance(fps, int | float | np.number) and np.isfinite(fps) and fps > 0):
        raise ConfigError(f"--fps must be a finite number > 0, got {fps}")
    cutoff = params.get("cutoff_hz", default_of(butterworth, "cutoff_hz"))
    if name == "butterworth" and not cutoff < fps / 2:
        raise ConfigError(f"--filter {filter}: the cut-off {cutoff:g} Hz must be below the Nyquist frequency "
                          f"{fps / 2:g} Hz (half of {fps:g} fps)")  # fmt: skip
    return name


def _check_arrays(rig: Rig, points_2d, confidence, joint_names, fps, filter: str) -> str:
    """Reject arrays and options that do not fit together; the filter's name."""
    filter_name = _check_filter(filter, fps)
    if points_2d.ndim != 5 or points_2d.shape[-1] != 2:
        raise CaptureInputError(f"points_2d must have shape (t, v, p, j, 2), got {points_2d.shape}")
    t, v, p, j = points_2d.shape[:4]
    if confidence.shape != (t, v, p, j):
        raise CaptureInputError(f"confidence must have shape {(t, v, p, j)}, got {confidence.shape}")
    if len(rig.names) != v or len(joint_names) != j:
        raise CaptureInputError(f"{v} views and {j} joints in the arrays, but {len(rig.names)} rig cameras "
                                f"and {len(joint_names)} joint names")  # fmt: skip
    return filter_name


@dataclasses.dataclass(frozen=True)
class _Blocks:
    """The (possibly memory-mapped) detections, served `size` frames at a time."""

    points_2d: np.ndarray
    confidence: np.ndarray
    min_confidence: float
    size: int

    @property
    def starts(self) -> range:
        return range(0, self.points_2d.shape[0], self.size)

    def __call__(self, start: int):
        return _block(self.points_2d, self.confidence, start, start + self.size, self.min_confidence)


def _people(rig: Rig, blocks: _Blocks, *, min_confidence: float, max_gap: int, people: int, progress: bool,
            flip: tuple[int, ...] | None = None, backend: str = "auto"):  # fmt: skip
    """Pass 1: associate per block keeping only per-slot results, then link identities over the capture; with
    `flip`, views where the detector mirrored a person are given back to that person (`add_mirrored_views`).

    Returns:
        (t, P, v) detection slot of each kept person in each view, -1 where none.
    """
    if blocks.points_2d.shape[2] == 1 and people == 1:  # one detection per view: no tuples to search
        return _one_person(rig, blocks, min_confidence=min_confidence, flip=flip, progress=progress,
                           backend=backend)  # fmt: skip
    t = blocks.points_2d.shape[0]
    scale = 1.0 if rig.units == "m" else 1000.0
    names = ("assignment", "points_3d", "error_px", "num_views")
    fill = {"assignment": -1, "points_3d": np.nan, "error_px": np.nan, "num_views": 0}
    parts = []
    for s in tqdm(blocks.starts, desc="associating", unit="block", disable=not progress):
        part = associate(rig.cameras, *blocks(s), min_confidence=min_confidence,
                         backend="numpy" if backend == "numpy" else "auto")  # fmt: skip
        used = np.flatnonzero((part.num_views > 0).any(0))
        keep = int(used[-1]) + 1 if used.size else 0  # slots never filled in the block are not kept
        parts.append({name: getattr(part, name)[:, :keep] for name in names})
    slots = max(1, max(part["assignment"].shape[1] for part in parts))
    cat = {}
    for name in names:  # one array of the output's size per field, blocks with fewer slots padded empty
        first = parts[0][name]
        cat[name] = np.full((t, slots, *first.shape[2:]), fill[name], first.dtype)
        for s, part in zip(blocks.starts, parts, strict=True):
            a = part[name]
            cat[name][s : s + len(a), : a.shape[1]] = a
    del parts
    num_views = np.maximum(cat["num_views"], 0)
    ids = track(cat["points_3d"], max_distance=0.5 * scale, max_gap=max_gap)
    empty = np.zeros((t, slots, 0))  # the detections are gathered again in pass 2, block by block
    assoc = Association(assignment=cat["assignment"], points_2d=empty, confidence=empty,
                        points_3d=cat["points_3d"], error_px=cat["error_px"], num_views=num_views)  # fmt: skip
    kept = select_tracks(assoc, ids, people=people)
    if flip is None:
        return kept.assignment  # (t, P, v)
    chosen = kept.assignment.copy()
    for s in blocks.starts:
        rows = slice(s, s + blocks.size)
        chosen[rows] = add_mirrored_views(rig.cameras, *blocks(s), chosen[rows], kept.points_3d[rows], flip,
                                          min_confidence=min_confidence)  # fmt: skip
    return chosen


def _one_person(rig: Rig, blocks: _Blocks, *, min_confidence: float, flip, progress: bool,
                backend: str = "auto") -> np.ndarray:  # fmt: skip
    """Pass 1 for one detection per view: the views whose detection fits the robust pose (`views_of_one_person`).

    Returns:
        (t, 1, v) detection slot (0) of the person in each view, -1 where the view does not show them.
    """
    parts = []
    for s in tqdm(blocks.starts, desc="associating", unit="block", disable=not progress):
        uv, conf = (a[:, :, 0] for a in blocks(s))
        pose = triangulate_sequence(rig.cameras, uv, conf, method="ransac", flip_perm=flip, backend=backend)
        views = views_of_one_person(rig.cameras, uv, conf, pose.points_3d, flip_perm=flip,
                                    min_confidence=min_confidence)  # fmt: skip
        parts.append(np.where(views, 0, -1).astype(np.int32)[:, None])
    return np.concatenate(parts)


def _flip(skeleton: Skeleton | None, swaps: bool) -> tuple[tuple[int, ...] | None, tuple[str, ...]]:
    """The left/right permutation for swap repair (None: off), and the note saying why it is off, if it is."""
    if not swaps:
        return None, ()
    flip = None if skeleton is None else tuple(int(i) for i in skeleton.flip_permutation())
    if flip is None or flip == tuple(range(len(flip))):
        name = "these joints" if skeleton is None else f"skeleton {skeleton.name!r}"
        return None, (f"left/right swap repair off: {name} has no left/right joint pairs",)
    return flip, ()


def _triangulate_people(rig: Rig, blocks: _Blocks, assignment: np.ndarray, *, method: str, refine: bool,
                        threshold_px: float, min_confidence: float, progress: bool,
                        usage: CameraUsage | None = None, flip: tuple[int, ...] | None = None,
                        backend: str = "auto"):  # fmt: skip
    """Pass 2: triangulate each kept person, block by block, into arrays of the output's size.

    Returns:
        (raw, error_px, num_views): (t, P, j, 3), (t, P, j), (t, P, j).
    """
    t, v, _, j = blocks.points_2d.shape[:4]
    P = assignment.shape[1]
    opts = {"threshold_px": threshold_px} if method == "ransac" else {}
    if method == "pose2sim":
        opts = {"reprojection_threshold_px": threshold_px, "likelihood_threshold": min_confidence,
                "metres_per_unit": _metres(rig)}
    raw = err = nv = None
    views = np.arange(v)[None, None, :]
    for s in tqdm(blocks.starts, desc="triangulating", unit="block", disable=not progress):
        uv, conf = blocks(s)
        slot = assignment[s : s + blocks.size]
        has, rows, pick = slot >= 0, np.arange(len(slot))[:, None, None], np.maximum(slot, 0)
        uv_p = np.where(has[..., None, None], uv[rows, views, pick], np.nan)  # (b, P, v, j, 2)
        conf_p = np.where(has[..., None], conf[rows, views, pick], 0.0)
        n = len(slot) * P
        res = triangulate_sequence(rig.cameras, uv_p.reshape(n, v, j, 2), conf_p.reshape(n, v, j), method=method,
                                   refine=refine, flip_perm=flip, backend=backend, **opts)  # fmt: skip
        if raw is None:
            raw = np.full((t, P, j, 3), np.nan, res.points_3d.dtype)
            err = np.full((t, P, j), np.nan, res.mean_error_px.dtype)
            nv = np.zeros((t, P, j), res.num_views.dtype)
        raw[s : s + len(slot)] = res.points_3d.reshape(-1, P, j, 3)
        err[s : s + len(slot)] = res.mean_error_px.reshape(-1, P, j)
        nv[s : s + len(slot)] = res.num_views.reshape(-1, P, j)
        if usage is not None:  # per camera: detections offered, used, reprojection error
            usage.add(rig.cameras, (conf > 0).any((2, 3)), res.points_3d, uv_p.reshape(n, v, j, 2),
                      conf_p.reshape(n, v, j), res.views_used)  # fmt: skip
    return raw, err, nv


def _missing_people(raw: np.ndarray, people: int) -> list[str]:
    """A warning (given and returned) when fewer people than asked for have any 3D point."""
    found = int(np.isfinite(raw).any((0, 2, 3)).sum())
    if found == raw.shape[1]:
        return []
    note = (f"only {found} of the {people} people asked for (--people {people}) have any 3D point; no file is "
            "written for the others")  # fmt: skip
    warnings.warn(note, InputWarning, stacklevel=3)
    return [note]


def _write(out, points, err, nv, *, joint_names, fps, units, y_up, frame_ids) -> list[Path]:
    """Write each output file, one per person (`_p1`, `_p2`, ... when there are several; none for a person
    without any point): all of them, or (on any error or Ctrl-C) none, every earlier file left as it was."""
    P = points.shape[1]
    written = []
    with OutputSet():
        for target in map(Path, out):
            for k in range(P):
                if not np.isfinite(points[:, k]).any():
                    continue
                path = target if P == 1 else target.with_name(f"{target.stem}_p{k + 1}{target.suffix}")
                written.append(
                    write_motion(
                        path,
                        points[:, k],
                        joint_names=joint_names,
                        fps=fps or 0.0,
                        units=units,
                        error=err[:, k],
                        ncams=nv[:, k],
                        y_up=y_up,
                        frame_ids=frame_ids,
                    )
                )
    return written

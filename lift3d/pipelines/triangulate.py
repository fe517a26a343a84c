"""Triangulate a multi-camera capture: keypoint files + a rig -> filtered 3D files and a summary.

keypoint files -> `lift3d.data.keypoints` readers (t, v, p, j, 2) -> views matched to the rig -> person
association and tracking (`lift3d.geometry.association`) -> robust triangulation per person in fixed-size
chunks (`lift3d.geometry.triangulate.triangulate_sequence`) -> gap filling and a temporal filter
(`lift3d.temporal`) -> TRC / C3D / CSV / npz writers (`lift3d.data.motion`), plus a per-joint summary.
Every step is a library call on arrays; this module only wires them and reports.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lift3d.data.keypoints import Keypoints2D, read_keypoints
from lift3d.data.motion import write_motion
from lift3d.data.rig import Rig
from lift3d.data.rig_io import load_rig
from lift3d.geometry.association import associate, select_tracks, track
from lift3d.geometry.triangulate import triangulate_sequence
from lift3d.skeleton import get_skeleton
from lift3d.temporal import fill_gaps, filter_trajectories, parse_filter_spec

__all__ = ["CaptureInputError", "TriangulationResult", "triangulate_capture", "match_views", "format_summary"]

_BLOCK = 2048  # frames per progress step; memory stays flat whatever the capture length


class CaptureInputError(ValueError):
    """The capture's files do not fit together (cameras, frame rate); the message says what and where."""


@dataclasses.dataclass(frozen=True, eq=False)
class TriangulationResult:
    """3D joints of the people of a capture and how they were obtained.

    Attributes:
        points_3d: (t, P, j, 3) world units of the rig (after gap filling and filtering); NaN = missing.
        raw_points_3d: (t, P, j, 3) before gap filling and filtering.
        error_px: (t, P, j) mean reprojection error over the views used, px (NaN = not triangulated).
        num_views: (t, P, j) views used.
        filled: (t, P, j) samples filled by gap filling.
        joint_names: j names.
        views: v camera names (rig order).
        frame_ids: (t,) frame numbers.
        fps: Frame rate, Hz.
        units: World units ("m" or "mm").
        outputs: Files written.
        notes: Warnings from reading (missing frames, skipped files).
    """

    points_3d: np.ndarray
    raw_points_3d: np.ndarray
    error_px: np.ndarray
    num_views: np.ndarray
    filled: np.ndarray
    joint_names: tuple[str, ...]
    views: tuple[str, ...]
    frame_ids: np.ndarray
    fps: float
    units: str
    outputs: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_views(keypoints: Keypoints2D, rig: Rig) -> tuple[Keypoints2D, Rig]:
    """Pair keypoint views with rig cameras by name ("cam01" matches "cam_01", "Cam-01").

    Args:
        keypoints: Keypoints with view names (e.g. from the folder names).
        rig: The rig.

    Returns:
        Keypoints and rig restricted to the shared cameras, in the rig's order.

    Raises:
        ValueError: A keypoint camera that is not in the rig (naming both lists), or fewer than two cameras.
    """
    by_key = {_normalise(n): n for n in rig.names}
    unknown = [v for v in keypoints.views if _normalise(v) not in by_key]
    if unknown:
        where = keypoints.source[keypoints.views.index(unknown[0])] if keypoints.source else "keypoints"
        raise CaptureInputError(
            f"keypoint camera {unknown[0]!r} ({where}) is not in the rig (rig cameras: {list(rig.names)})"
        )
    pairs = [(by_key[_normalise(v)], v) for v in keypoints.views]
    pairs.sort(key=lambda p: rig.names.index(p[0]))
    if len(pairs) < 2:
        raise CaptureInputError(f"triangulation needs at least two cameras, got {[v for _, v in pairs]}")
    return keypoints.select_views([v for _, v in pairs]), rig.subset([r for r, _ in pairs])


def triangulate_capture(
    rig: str | os.PathLike | Rig,
    keypoint_paths: Sequence[str | os.PathLike],
    *,
    out: Sequence[str | os.PathLike] = (),
    format: str | None = "openpose",
    skeleton: str | None = None,
    people: int = 1,
    method: str = "ransac",
    refine: bool = True,
    threshold_px: float = 20.0,
    min_confidence: float = 0.3,
    filter: str = "butterworth:6",
    max_gap: int = 10,
    fps: float | None = None,
    y_up: bool = False,
    on_error: str = "skip",
    progress: bool = True,
) -> TriangulationResult:
    """Triangulate the people of a capture and write the 3D files.

    Args:
        rig: Rig file (TOML, Qualisys, OpenCV) or a `Rig`.
        keypoint_paths: One folder (OpenPose) or file per camera, or an npz of all cameras.
        out: Files to write (.trc, .c3d, .csv, .npz); with several people, `_p1`, `_p2`, ... are added to
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
        on_error: "skip" marks frames of unreadable files missing (noted); "raise" stops.
        progress: Show progress bars.

    Returns:
        The result, with the paths written.
    """
    try:  # reject a bad spec before reading anything
        filter_name, _ = parse_filter_spec(filter)
    except ValueError as err:
        raise CaptureInputError(str(err)) from None
    rig = rig if isinstance(rig, Rig) else load_rig(rig)
    reader_options = {"on_error": on_error} if format == "openpose" else {}
    skeleton = get_skeleton(skeleton) if skeleton else None
    kp = read_keypoints(list(keypoint_paths), format=format, skeleton=skeleton, **reader_options)
    kp, rig = match_views(kp, rig)
    fps = fps or kp.fps
    if fps is None and filter_name != "none":
        raise CaptureInputError("the keypoints carry no frame rate: pass fps (--fps) to filter, or --filter none")
    cameras = rig.cameras
    conf = np.where(kp.confidence >= min_confidence, kp.confidence, 0.0)
    t, v, _, j = conf.shape
    scale = 1.0 if rig.units == "m" else 1000.0

    # 1. people: associate per block (flat memory), then link identities over the whole capture
    blocks = range(0, t, _BLOCK)
    parts = [
        associate(cameras, kp.points[s : s + _BLOCK], conf[s : s + _BLOCK], min_confidence=min_confidence)
        for s in tqdm(blocks, desc="associating", unit="block", disable=not progress)
    ]
    width = max(p.num_people for p in parts)

    def cat(field):
        """Concatenate the blocks' person slots, padding blocks that found fewer people."""
        out = []
        for part in parts:
            a = getattr(part, field)
            if a.shape[1] < width:
                fill = -1 if a.dtype.kind == "i" else np.nan
                a = np.concatenate(
                    [a, np.full((a.shape[0], width - a.shape[1], *a.shape[2:]), fill, a.dtype)], 1
                )
            out.append(a)
        return np.concatenate(out)

    assoc = parts[0]._replace(**{f: cat(f) for f in ("assignment", "points_2d", "points_3d", "error_px")})
    assoc = assoc._replace(
        confidence=np.nan_to_num(cat("confidence"), nan=0.0), num_views=np.maximum(cat("num_views"), 0)
    )
    ids = track(assoc.points_3d, max_distance=0.5 * scale, max_gap=max_gap)
    assoc = select_tracks(assoc, ids, people=people)

    # 2. triangulation of each person, chunked
    P = assoc.num_people
    uv = assoc.points_2d.reshape(t * P, v, j, 2)
    cf = assoc.confidence.reshape(t * P, v, j)
    opts = {"threshold_px": threshold_px} if method == "ransac" else {}
    if method == "pose2sim":
        opts = {"reprojection_threshold_px": threshold_px, "likelihood_threshold": min_confidence}
    results = [
        triangulate_sequence(
            cameras, uv[s : s + _BLOCK], cf[s : s + _BLOCK], method=method, refine=refine, **opts
        )
        for s in tqdm(range(0, t * P, _BLOCK), desc="triangulating", unit="block", disable=not progress)
    ]
    raw = np.concatenate([r.points_3d for r in results]).reshape(t, P, j, 3)
    err = np.concatenate([r.mean_error_px for r in results]).reshape(t, P, j)
    nv = np.concatenate([r.num_views for r in results]).reshape(t, P, j)

    # 3. over time
    filled_points, filled = fill_gaps(raw, max_gap=max_gap)
    smooth = filter_trajectories(filled_points, filter, fps=fps) if filter_name != "none" else filled_points
    smooth = np.asarray(smooth)

    names = tuple(kp.skeleton.joints)
    written = []
    for target in out:
        target = Path(target)
        for p in range(P):
            path = target if P == 1 else target.with_name(f"{target.stem}_p{p + 1}{target.suffix}")
            written.append(
                write_motion(
                    path,
                    smooth[:, p],
                    joint_names=names,
                    fps=fps or 0.0,
                    units=rig.units,
                    error=err[:, p],
                    ncams=nv[:, p],
                    y_up=y_up,
                    frame_ids=kp.frame_ids,
                )
            )
    return TriangulationResult(
        points_3d=smooth,
        raw_points_3d=raw,
        error_px=err,
        num_views=nv,
        filled=filled,
        joint_names=names,
        views=rig.names,
        frame_ids=kp.frame_ids,
        fps=float(fps or 0.0),
        units=rig.units,
        outputs=tuple(written),
        notes=kp.notes,
    )


def format_summary(result: TriangulationResult, person: int = 0) -> str:
    """The closing table: per joint mean reprojection error, mean cameras used, frames missing / filled.

    Args:
        result: From `triangulate_capture`.
        person: Which person slot.

    Returns:
        A plain-text table.
    """
    err, nv = result.error_px[:, person], result.num_views[:, person]
    missing = ~np.isfinite(result.points_3d[:, person]).all(-1)
    filled = result.filled[:, person]
    lines = [f"{'joint':<16}{'error (px)':>11}{'cameras':>9}{'missing':>9}{'filled':>8}"]
    for k, name in enumerate(result.joint_names):
        e = err[:, k][np.isfinite(err[:, k])]
        mean_e = f"{e.mean():.1f}" if len(e) else "-"
        used = nv[:, k][nv[:, k] > 0]
        mean_v = f"{used.mean():.2f}" if len(used) else "-"
        lines.append(
            f"{name:<16}{mean_e:>11}{mean_v:>9}{int(missing[:, k].sum()):>9}{int(filled[:, k].sum()):>8}"
        )
    all_e = err[np.isfinite(err)]
    mean_e = f"{all_e.mean():.1f}" if len(all_e) else "-"
    mean_v = f"{nv[nv > 0].mean():.2f}" if (nv > 0).any() else "-"
    lines.append(f"{'all':<16}{mean_e:>11}{mean_v:>9}{int(missing.sum()):>9}{int(filled.sum()):>8}")
    return "\n".join(lines)

"""`lift3d view`: look at 3D joint files (TRC, C3D, CSV, npz) with their rig, interactively or headless.

`run_view` reads one or more results (e.g. triangulated and lifted, or one file per person), aligns them on
their frame numbers, finds their bones from the joint names, and then either renders a PNG of one frame, an
MP4 of all frames, or opens an interactive Open3D window with playback when a display exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lift3d.apps.options import check_options, option
from lift3d.core.motion import Motion, yup_to_zup
from lift3d.core.rig import Rig
from lift3d.core.skeleton import SKELETONS, Skeleton, get_skeleton
from lift3d.errors import ViewInputError
from lift3d.io.motion import read_motion
from lift3d.io.npz import load_npz
from lift3d.io.rigs import load_rig

__all__ = ["ViewConfig", "ViewInputError", "canonical_joint_name", "load_tracks", "run", "run_view"]
__all__ += ["skeleton_for_names"]


PathLike = str | os.PathLike[str]

_SPECIAL = {"hip": "mid_hip", "midhip": "mid_hip", "head": "head_top", "headtop": "head_top"}


@dataclasses.dataclass(frozen=True)
class ViewConfig:
    """Options of `lift3d view` (and the defaults of `run_view`)."""

    results: tuple[Path, ...] = option(positional=True, help="3D joint files (.trc, .c3d, .csv, .npz)")
    rig: Path | None = option(None, help="rig file: camera frusta with names, world up axis")
    png: Path | None = option(None, help="render one frame to this PNG (headless)")
    frame: int | None = option(
        None, help="frame number as stored in the file (TRC Frame#); default the first with joints"
    )
    video: Path | None = option(None, help="render every frame to this .mp4 / .avi (headless)")
    camera: str | None = option(None, help="view from this rig camera (default: a 3/4 view of the scene)")
    skeleton: str | None = option(
        None, check=get_skeleton, help="skeleton for the bones (default: from the joint names)"
    )
    size: tuple[int, int] = option((960, 720), comma=True, metavar="SIZE", ge=1, le=16384, help="render size W,H in px")
    fps: float | None = option(None, gt=0, help="video frame rate (default: the file's)")
    trajectories: tuple[str, ...] | None = option(
        None, comma=True, help="comma-separated joints whose paths are drawn, or 'all'"
    )

    def __post_init__(self):
        check_options(self)


def run(config: ViewConfig) -> dict:
    """`lift3d view`: render or show, then print the notes (stderr) and the files written."""
    trajectories = config.trajectories
    if trajectories == ("all",):
        trajectories = "all"
    with warnings.catch_warnings():  # the notes come back in the result and are printed once, below
        warnings.simplefilter("ignore", UserWarning)
        result = run_view(
            config.results, rig=config.rig, png=config.png, frame=config.frame, video=config.video,
            skeleton=config.skeleton, camera=config.camera, image_size=config.size, fps=config.fps,
            trajectories=trajectories,
        )  # fmt: skip
    for note in result.get("notes", ()):
        print(f"note: {note}", file=sys.stderr)
    for key in ("png", "video"):
        if result.get(key):
            print(f"wrote {result[key]}")
    return result


def canonical_joint_name(name: str) -> str:
    """lift3d's spelling of a joint name from other tools: "RKnee" -> "right_knee", "LBigToe" ->
    "left_big_toe", "Hip" -> "mid_hip", "r_ankle" / "right ankle" -> "right_ankle"; lift3d names are unchanged."""
    s = name.strip()
    m = re.fullmatch(r"([RL])([A-Z].*)", s)
    if m:
        s = ("right_" if m.group(1) == "R" else "left_") + m.group(2)
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", s).lower()
    s = re.sub(r"[^a-z0-9]+", "_", s).strip("_")
    s = re.sub(r"^(r|l)_", lambda m: "right_" if m.group(1) == "r" else "left_", s)
    return _SPECIAL.get(s.replace("_", ""), s)


def skeleton_for_names(joint_names: Sequence[str], skeleton: str | Skeleton | None = None) -> Skeleton | None:
    """Bones and left/right pairs for joints known only by name (as in a TRC or C3D file).

    Args:
        joint_names: The file's j joint names (any spelling `canonical_joint_name` understands).
        skeleton: A skeleton (or its name) whose bones to use; None picks the registered skeleton sharing the
            most joint names.

    Returns:
        A `Skeleton` over exactly these j joints, in this order, with the bones and pairs whose joints are all
        present; None when fewer than 2 names match any skeleton (draw joints only).

    Raises:
        KeyError: An unknown skeleton name.
    """
    candidates = [get_skeleton(skeleton)] if skeleton is not None else list(SKELETONS.values())
    best, best_names, best_hits = None, None, 1
    for sk in candidates:  # a name matches as written, else in lift3d's spelling
        names = [n if n in sk.joints else canonical_joint_name(n) for n in joint_names]
        hits = len(set(names) & set(sk.joints))
        if hits > best_hits:
            best, best_names, best_hits = sk, names, hits
    if best is None:
        return None
    names = best_names
    if tuple(names) == best.joints:
        return best
    pos = {n: i for i, n in enumerate(names)}

    def keep(pairs):
        return tuple(
            (pos[best.joints[a]], pos[best.joints[b]])
            for a, b in pairs
            if best.joints[a] in pos and best.joints[b] in pos
        )

    joints = tuple(n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names))
    return Skeleton(f"{best.name}_subset", joints, keep(best.edges), keep(best.left_right))


def _fraction_in_view(rig: Rig, points: np.ndarray) -> float:
    """Share of (frame, joint, camera) triples in front of the camera and inside its image."""
    R, t = np.asarray(rig.cameras.R, float), np.asarray(rig.cameras.t, float)
    K, size = np.asarray(rig.cameras.K, float), np.asarray(rig.cameras.image_size, float)
    X = points.reshape(-1, 3)
    X = X[np.isfinite(X).all(-1)][:: max(1, len(X) // 2000)]
    if not len(X):
        return 0.0
    xc = np.einsum("vij,nj->vni", R, X) + t[:, None]
    uv = np.einsum("vij,vnj->vni", K, xc / np.where(np.abs(xc[..., 2:]) > 1e-9, xc[..., 2:], 1e-9))[..., :2]
    inside = (xc[..., 2] > 0) & (uv >= 0).all(-1) & (uv <= size[:, None]).all(-1)
    return float(inside.mean())


def _guess_up(points: np.ndarray, skeleton: Skeleton | None) -> np.ndarray:
    """Up axis from the body (mean head joints minus mean feet joints), Z without head or feet."""
    if skeleton is not None:
        head = [i for i, n in enumerate(skeleton.joints) if any(k in n for k in ("head", "nose", "eye", "ear"))]
        feet = [i for i, n in enumerate(skeleton.joints) if any(k in n for k in ("ankle", "heel", "toe", "foot"))]
        if head and feet:
            with warnings.catch_warnings():  # all-NaN joints: no vote
                warnings.simplefilter("ignore", RuntimeWarning)
                d = np.nanmean(points[:, head], axis=(0, 1)) - np.nanmean(points[:, feet], axis=(0, 1))
            if np.isfinite(d).all():
                k = int(np.argmax(np.abs(d)))
                return np.eye(3)[k] * np.sign(d[k])
    return np.array([0.0, 0.0, 1.0])


def _read_result(path: PathLike) -> Motion:
    """A motion file, or the ``.npz`` of `lift3d lift` (its first view's first detection, world axes)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        z = load_npz(path, ViewInputError)
        if "points_3d" in z and "root-relative" in str(z.get("frame", "")):
            key = "points_3d_world" if "points_3d_world" in z else "points_3d"
            try:
                pts = np.asarray(z[key], np.float64)[:, 0, 0]  # (t, j, 3) mm: view 0, detection slot 0
                fps = float(z["fps"]) if "fps" in z and np.isfinite(z["fps"]) else 30.0
                ids = np.asarray(z["frame_ids"], np.int64)
                names = tuple(str(n) for n in z["joint_names"])
                motion = Motion(points=pts, joint_names=names, fps=fps, units="mm", frame_ids=ids, time=ids / fps,
                                y_up=False, source=f"{path} [{z['views'][0]}, root-relative]")  # fmt: skip
            except (KeyError, IndexError, TypeError, ValueError) as err:
                raise ViewInputError(f"{path}: not a `lift3d lift` result: {' '.join(str(err).split())}") from None
            return motion
    return read_motion(path)


def _pelvis(m: Motion) -> np.ndarray:
    """(t, 3) mid-hips (or the first joint) of a motion, in metres."""
    names = [canonical_joint_name(n) for n in m.joint_names]
    hips = [names.index(h) for h in ("left_hip", "right_hip") if h in names]
    pts = m.points[:, hips].mean(1) if len(hips) == 2 else m.points[:, 0]
    return pts / (1000.0 if m.units == "mm" else 1.0)


def _anchor_root_relative(motions: list[Motion]) -> list[str]:
    """Place root-relative results (lifts) at the pelvis of the first absolute result, in place."""
    notes = []
    anchor = next((m for m in motions if "root-relative" not in (m.source or "")), None)
    for i, m in enumerate(motions):
        if "root-relative" not in (m.source or ""):
            continue
        scale = 1000.0 if m.units == "mm" else 1.0
        if anchor is None:
            notes.append(f"{m.source}: root-relative, drawn with its pelvis at the origin")
            continue
        pelvis = np.full((len(m.frame_ids), 3), np.nan)
        idx = np.searchsorted(anchor.frame_ids, m.frame_ids).clip(0, len(anchor.frame_ids) - 1)
        ok = anchor.frame_ids[idx] == m.frame_ids
        pelvis[ok] = _pelvis(anchor)[idx[ok]]
        motions[i] = dataclasses.replace(m, points=m.points + pelvis[:, None] * scale)
        notes.append(f"{m.source}: root-relative, drawn at the pelvis of {anchor.source}")
    return notes


def load_tracks(
    paths: Sequence[PathLike | Motion],
    *,
    rig: Rig | None = None,
    skeleton: str | Skeleton | None = None,
    y_up: bool | None = None,
) -> tuple[list, np.ndarray, float, np.ndarray | None, list[str]]:
    """Read motion files into scene tracks aligned on their frame numbers, in the rig's axes.

    Args:
        paths: Motion files (or `Motion`s).
        rig: The rig, to choose axes when a file does not record them (the reading that puts more joints in the
            cameras' images wins).
        skeleton: Bones to use (None: from the joint names).
        y_up: Files are Y-up (Pose2Sim / OpenSim TRC) and are turned to Z-up; None: as each file records,
            else guessed (with a rig, see above).

    Returns:
        (tracks, frame_ids (t,), fps, up (3,) or None when the rig decides, notes).
    """
    from lift3d.viz.scene import Track

    motions = [p if isinstance(p, Motion) else _read_result(p) for p in paths]
    if not motions:
        raise ViewInputError("view: no motion file given")
    notes = _anchor_root_relative(motions)
    frame_ids = np.unique(np.concatenate([m.frame_ids for m in motions]))
    tracks, up = [], None
    for m in motions:
        src = m.source or "motion"
        sk = skeleton_for_names(m.joint_names, skeleton)
        if sk is None:
            notes.append(f"{src}: joint names match no known skeleton; drawing joints only (pass a skeleton)")
        pts = np.full((len(frame_ids), len(m.joint_names), 3), np.nan)
        pts[np.searchsorted(frame_ids, m.frame_ids)] = m.points
        flip = y_up if y_up is not None else m.y_up
        if flip is None and rig is not None:
            flip = _fraction_in_view(rig.to_units(m.units), yup_to_zup(pts)) > _fraction_in_view(
                rig.to_units(m.units), pts
            )
            if flip:
                notes.append(f"{src}: read as Y-up (it fits the rig's cameras that way)")
        if flip:
            pts = yup_to_zup(pts)
        elif flip is None and up is None:
            up = _guess_up(pts, sk)
        tracks.append(Track(pts, sk, name=Path(src).stem if m.source else f"result {len(tracks) + 1}", units=m.units))
    return tracks, frame_ids, float(motions[0].fps), up, notes


def run_view(
    paths: PathLike | Motion | Sequence[PathLike | Motion],
    *,
    rig: PathLike | Rig | None = None,
    png: PathLike | None = None,
    frame: int | None = None,
    video: PathLike | None = None,
    skeleton: str | Skeleton | None = None,
    camera: str | None = None,
    image_size: Sequence[int] = ViewConfig.size,
    fps: float | None = None,
    y_up: bool | None = None,
    trajectories: Sequence[str] | str | None = None,
    labels: bool = True,
) -> dict:
    """Show 3D joint files: a PNG of one frame, an MP4 of all frames, or an interactive window.

    Without `png` or `video` an interactive window opens (space plays / pauses, arrows step) when a display
    exists (DISPLAY or WAYLAND_DISPLAY); otherwise an error says to ask for a PNG or a video.

    Args:
        paths: One or more `.trc`, `.c3d`, `.csv` or `.npz` files (overlaid with distinct colours).
        rig: Rig file or `Rig`: draws camera frusta with names; its axes decide up.
        png: Render frame `frame` headless to this PNG.
        frame: Frame number as stored in the files (TRC ``Frame#``); default the first frame with joints.
        video: Render every frame headless to this `.mp4` (or `.avi`).
        skeleton: Skeleton name for the bones (default: found from the joint names).
        camera: View from this rig camera instead of the 3/4 view.
        image_size: (width, height) of renders, px.
        fps: Video frame rate; default the files' rate.
        y_up: The files are Y-up (see `load_tracks`); None decides per file.
        trajectories: Joint names whose paths are drawn, or "all".
        labels: Camera names, legend and frame caption on renders.

    Returns:
        Dict: "png" / "video" paths written, "frames", "notes" and "seconds".

    Raises:
        RendererUnavailable: Interactive mode without a display, or no rendering context.
        MotionFileError, RigFileError: Unreadable inputs (naming the file).
        ViewInputError: (a ValueError) A frame number the files do not have, or no file.
    """
    from lift3d.errors import RendererUnavailable
    from lift3d.io.atomic import OutputSet, check_output
    from lift3d.viz.overlay import VIDEO_SUFFIXES
    from lift3d.viz.player import has_display, show
    from lift3d.viz.render import render_png, render_video
    from lift3d.viz.scene import build_scene

    start = time.perf_counter()
    if png is not None:  # outputs that cannot be written are refused before any work
        png = check_output(png, (".png",), what="--png")
    if video is not None:
        video = check_output(video, VIDEO_SUFFIXES, what="--video")
    if isinstance(paths, (str, os.PathLike, Motion)):
        paths = [paths]
    rig_obj = load_rig(rig) if isinstance(rig, (str, os.PathLike)) else rig
    tracks, frame_ids, file_fps, up, notes = load_tracks(paths, rig=rig_obj, skeleton=skeleton, y_up=y_up)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    scene = build_scene(tracks, rig_obj, up=up, trajectories=trajectories, labels=png is None and video is None)
    fps = float(fps or file_fps)
    if frame is None:
        has = np.zeros(len(frame_ids), bool)
        for tr in scene.tracks:
            has |= np.isfinite(tr).all(-1).any(axis=(1, 2))
        index = int(np.argmax(has))
    else:
        hits = np.flatnonzero(frame_ids == int(frame))
        if not len(hits):
            raise ViewInputError(
                f"view: frame {frame} is not in {', '.join(str(p) for p in paths)} "
                f"(frames {frame_ids[0]}..{frame_ids[-1]})"
            )
        index = int(hits[0])
    out: dict = {"frames": len(frame_ids), "notes": notes}
    with OutputSet():  # the PNG and the video: both, or neither
        if png is not None:
            out["png"] = str(render_png(scene, png, frame=index, camera=camera, image_size=image_size, labels=labels,
                                        frame_ids=frame_ids, fps=fps))  # fmt: skip
        if video is not None:
            out["video"] = str(render_video(scene, video, camera=camera, fps=fps, image_size=image_size, labels=labels,
                                            frame_ids=frame_ids))  # fmt: skip
    if png is None and video is None:
        if not has_display():
            raise RendererUnavailable(
                "view: no display (DISPLAY / WAYLAND_DISPLAY unset); render headless with --png FILE [--frame N] "
                "or --video FILE.mp4"
            )
        show(scene, camera=camera, fps=fps, frame=index)
    out["seconds"] = time.perf_counter() - start
    return out

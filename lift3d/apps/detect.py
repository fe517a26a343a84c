"""`lift3d detect`: 2D keypoints of the people in each camera's video (or image folder) -> OpenPose JSON + npz.

Each input is one camera: a video (``cam01.mp4`` -> camera ``cam01``), a folder of images (the folder's name),
or a session folder holding ``videos/`` (or a folder of videos), one camera per video. Every `every`-th frame goes
through the detector (`lift3d.predict.detectors.make_detector`: ``blazepose``, a ``.onnx`` model or
``package.module:factory``). Output folder `out`::

    cam01_json/cam01_000000000000_keypoints.json   OpenPose / Pose2Sim JSON, one file per frame (--format json|both)
    keypoints.npz                                  all cameras on the union of their frames (--format npz|both)
    overlay/cam01.mp4                              the skeleton drawn on each detected frame (--overlay)
    cameras/cam01.npz, cameras/cam01.json          this camera's keypoints and settings: written last, they
                                                   mark it complete; --resume (the default) skips it next time

Frame numbers are the video's (0-based; with ``--every 2``: 0, 2, 4, ...); the npz carries the video's fps. Each
camera's files are committed together when the camera is finished (the JSON folder is built aside and renamed):
after an error or Ctrl-C the finished cameras stay, the camera being worked on is not marked complete, and the
next run resumes with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lift3d.apps.options import check_options, option
from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import DetectorError, InputWarning, Lift3DError, VideoError
from lift3d.io.atomic import OutputSet, atomic_write, check_output
from lift3d.io.image_sources import IMAGE_EXTENSIONS
from lift3d.io.keypoints_npz import read_keypoints_npz, write_keypoints_npz
from lift3d.io.keypoints_openpose import write_openpose
from lift3d.io.videos import FrameSource, is_video, open_frames
from lift3d.predict.detectors import FrameDetections, PoseDetector, make_detector

__all__ = ["DetectConfig", "DetectResult", "CameraResult", "run", "camera_inputs", "merge_cameras"]

_SETTINGS = ("source", "source_bytes", "source_mtime_ns", "detector", "skeleton_option", "every", "max_frames",
             "min_score", "fps")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class DetectConfig:
    """Options of `lift3d detect`."""

    inputs: tuple[Path, ...] = option(
        positional=True, unique=True, metavar="INPUT",
        help="one video or image folder per camera, or a session folder holding videos/",
    )  # fmt: skip
    out: Path = option(Path("pose"), short="-o", help="output folder (CAM_json/, keypoints.npz, overlay/, cameras/)")
    detector: str = option(
        "blazepose",
        help="'blazepose' (MediaPipe's 33 keypoints; lift3d fetch blazepose), a .onnx top-down pose model "
        "(RTMPose-style, COCO-17), or package.module:factory (your own PoseDetector)",
    )  # fmt: skip
    skeleton: str | None = option(
        None, check=get_skeleton, help="joints of a .onnx model's outputs, e.g. coco, halpe_26 (default coco)"
    )
    people: int = option(
        1, ge=1, help="most people per image: blazepose tracks 1 as MediaPipe's Pose does; more runs its person "
        "detector on every frame (slower)",
    )  # fmt: skip
    format: Literal["json", "npz", "both"] = option("both", help="OpenPose JSON folders, one npz, or both")
    overlay: bool = option(False, help="also write OUT/overlay/CAM.mp4, the skeleton drawn on each detected frame")
    every: int = option(1, ge=1, help="detect every n-th frame (frame numbers stay the video's)")
    max_frames: int | None = option(None, ge=1, help="detect at most this many frames per camera")
    min_score: float | None = option(
        None, ge=0, le=1, help="drop people scoring below this (default: the detector's own threshold)"
    )
    fps: float | None = option(None, gt=0, help="frame rate of image folders (videos carry their own)")
    threads: int | None = option(None, ge=1, help="threads of the detector's runtime (default: its own choice)")
    resume: bool = option(True, flag="--no-resume", help="detect again cameras already complete in OUT")

    def __post_init__(self):
        check_options(self)


@dataclasses.dataclass(frozen=True)
class CameraResult:
    """One camera of `lift3d detect`.

    Attributes:
        camera: Camera name.
        source: Its video or image folder.
        frames: Frames detected on.
        detected_frames: Frames with at least one person.
        fps_processing: Frames per second of this run's detection; None if skipped (complete earlier).
        path: The camera's JSON folder (``--format json|both``), else its keypoints in ``OUT/cameras``.
        skipped: Complete from an earlier run (``--resume``).
    """

    camera: str
    source: Path
    frames: int
    detected_frames: int
    fps_processing: float | None
    path: Path
    skipped: bool = False


@dataclasses.dataclass(frozen=True)
class DetectResult:
    """What `lift3d detect` did: one `CameraResult` per camera, and the npz of all cameras (None if not written)."""

    cameras: tuple[CameraResult, ...]
    npz: Path | None
    out: Path


def run(config: DetectConfig) -> DetectResult:
    """`lift3d detect`: detect each camera (or skip it when complete), write its files, then the npz.

    Args:
        config: The options.

    Returns:
        Per camera: frames, frames with a person, frames/s of this run (None when resumed) and where its
        keypoints are; the npz of all cameras (None with ``--format json``); the output folder.

    Raises:
        VideoError: An input that is not a readable video or image folder, or a video truncated before its
            advertised frame count (naming the file and the frame); the cameras finished before it stay.
        DetectorError: A detector that cannot be built or run (unknown name, not a model, runtime missing).
        OutputError: The output folder cannot be written.
    """
    out = check_output(config.out, folder=True)
    cameras = camera_inputs(config.inputs)
    sources = {name: open_frames(path, fps=config.fps) for name, path in cameras}  # all inputs checked first
    detector: PoseDetector | None = None
    results: list[CameraResult] = []
    width = max([len(n) for n in sources] + [6])
    print(_summary_line(None, width))  # a line per camera as it finishes: the table survives an error
    views: list[Keypoints2D] = []
    for name, source in sources.items():
        settings = _settings(config, source)
        done = _completed(out, name, settings, config) if config.resume else None
        if done is not None:
            results.append(_skipped_result(out, name, source, done, config))
            views.append(done)
            print(_summary_line(results[-1], width))
            continue
        detector = detector or _make_detector(config)
        try:
            keypoints, result = _detect_camera(detector, source, name, out, config, settings)
        except KeyboardInterrupt:
            kept = ", ".join(r.camera for r in results) or "none"
            print(f"lift3d detect: stopped in camera {name}; finished cameras kept ({kept}); run again to resume",
                  file=sys.stderr)  # fmt: skip
            raise
        results.append(result)
        views.append(keypoints)
        print(_summary_line(result, width))
        if result.detected_frames == 0:
            warnings.warn(f"camera {name} ({source.path}): no person detected in any of its {result.frames} frames; "
                          "check the video and the detector (--detector, --min-score)", InputWarning, stacklevel=2)
    npz = None
    if config.format in ("npz", "both"):
        merged = merge_cameras(views)
        with OutputSet():
            npz = write_keypoints_npz(out / "keypoints.npz", merged)
    if npz is not None:
        print(f"wrote {npz} ({len(views)} camera{'s' if len(views) != 1 else ''}, skeleton {views[0].skeleton.name})")
    return DetectResult(tuple(results), npz, out)


def camera_inputs(inputs: tuple[Path, ...] | list[Path]) -> list[tuple[str, Path]]:
    """(camera name, video or image folder) of each input; a session folder gives one camera per video.

    Args:
        inputs: Videos, image folders, or folders of videos (``SESSION/videos/`` is looked into).

    Returns:
        The cameras in the order given (videos of a folder by name).

    Raises:
        VideoError: No such path, a folder with neither images nor videos, or two inputs with one camera name.
    """
    cameras: list[tuple[str, Path]] = []
    for path in map(Path, inputs):
        if path.is_dir() and (path / "videos").is_dir():
            path = path / "videos"
        files = sorted(path.iterdir()) if path.is_dir() else []
        if path.is_dir() and not any(f.suffix.lower() in IMAGE_EXTENSIONS for f in files):
            videos = [f for f in files if is_video(f) and f.is_file()]
            if not videos:
                raise VideoError(f"{path}: no images or videos in this folder")
            cameras += [(v.stem, v) for v in videos]
        elif path.is_dir() or path.is_file():
            cameras.append((path.stem if path.is_file() else path.name, path))
        else:
            raise VideoError(f"{path}: no such video file or image folder")
    seen: dict[str, Path] = {}
    for name, path in cameras:
        if name in seen:
            raise VideoError(f"{path}: camera name {name!r} is also {seen[name]}'s; give each camera its own name")
        seen[name] = path
    return cameras


def _make_detector(config: DetectConfig) -> PoseDetector:
    options: dict[str, Any] = {}
    if config.min_score is not None:
        options["min_score"] = config.min_score
    if config.threads is not None:
        options["threads"] = config.threads
    if config.people > 1:
        options["max_people"] = config.people
    if config.skeleton is not None:
        if config.detector.lower() == "blazepose":
            raise DetectorError("--skeleton names the joints of a .onnx model; blazepose gives its own 33 keypoints")
        options["skeleton"] = config.skeleton
    try:
        return make_detector(config.detector, **options)
    except TypeError as err:
        raise DetectorError(f"detector {config.detector!r} does not take the options {sorted(options)}: "
                            f"{err}") from None  # fmt: skip


def _settings(config: DetectConfig, source: FrameSource) -> dict[str, Any]:
    """What makes an earlier run's camera reusable: the same input file(s) and the same detection options."""
    stat = source.path.stat()
    size = stat.st_size if source.kind == "video" else len(source.files)
    mtime = stat.st_mtime_ns if source.kind == "video" else max(f.stat().st_mtime_ns for f in source.files)
    return {"source": str(source.path.resolve()), "source_bytes": int(size), "source_mtime_ns": int(mtime),
            "detector": config.detector, "skeleton_option": config.skeleton, "every": config.every,
            "max_frames": config.max_frames, "min_score": config.min_score, "fps": source.fps,
            "people": config.people}  # fmt: skip


def _marker_paths(out: Path, name: str) -> tuple[Path, Path]:
    return out / "cameras" / f"{name}.json", out / "cameras" / f"{name}.npz"


def _completed(out: Path, name: str, settings: dict, config: DetectConfig) -> Keypoints2D | None:
    """The camera's keypoints from an earlier run if it is complete with these settings, else None."""
    marker, npz = _marker_paths(out, name)
    try:
        with open(marker, encoding="utf-8") as f:
            earlier = json.load(f)
        keypoints = read_keypoints_npz(npz)
    except (OSError, ValueError, Lift3DError):
        return None
    if not isinstance(earlier, dict) or any(earlier.get(k) != settings[k] for k in _SETTINGS):
        return None
    if config.format in ("json", "both") and not (out / f"{name}_json").is_dir():
        return None
    if config.overlay and not (out / "overlay" / f"{name}.mp4").is_file():
        return None
    return keypoints


def _skipped_result(out: Path, name: str, source: FrameSource, kp: Keypoints2D, config: DetectConfig):
    detected = int(np.any(kp.confidence > 0, axis=(1, 2, 3)).sum())
    path = out / f"{name}_json" if config.format in ("json", "both") else _marker_paths(out, name)[1]
    return CameraResult(name, source.path, kp.num_frames, detected, None, path, skipped=True)


def _detect_camera(
    detector: PoseDetector, source: FrameSource, name: str, out: Path, config: DetectConfig, settings: dict
) -> tuple[Keypoints2D, CameraResult]:
    """Detect one camera and commit its files together (JSON folder, overlay, cameras/NAME.npz + .json)."""
    detector.reset()
    marker, npz = _marker_paths(out, name)
    with OutputSet():
        start = time.perf_counter()
        frame_ids, found = _detect_frames(detector, source, name, out, config)
        elapsed = time.perf_counter() - start
        keypoints = camera_keypoints(name, source, detector, frame_ids, found)
        if config.format in ("json", "both"):
            write_openpose(out, keypoints)
        write_keypoints_npz(npz, keypoints)
        detected = int(sum(len(f.score) > 0 for f in found))
        with atomic_write(marker) as f:  # last: the camera is complete when this file is there
            json.dump({"camera": name, **settings, "detector_name": detector.name,
                       "skeleton": detector.skeleton.name, "frames": len(found), "detected_frames": detected},
                      f, indent=1)  # fmt: skip
    path = out / f"{name}_json" if config.format in ("json", "both") else npz
    rate = len(found) / elapsed if elapsed > 0 else math.inf
    return keypoints, CameraResult(name, source.path, len(found), detected, rate, path)


def _detect_frames(
    detector: PoseDetector, source: FrameSource, name: str, out: Path, config: DetectConfig
) -> tuple[list[int], list[FrameDetections]]:
    """Run the detector on the camera's frames (with a progress bar), drawing the overlay if asked."""
    from tqdm.auto import tqdm

    from lift3d.viz.colors import PALETTE
    from lift3d.viz.overlay import draw_skeleton, video_writer

    expected = -(-source.num_frames // config.every) if source.num_frames else None
    if expected is not None and config.max_frames is not None:
        expected = min(expected, config.max_frames)
    frame_ids: list[int] = []
    found: list[FrameDetections] = []
    j = detector.skeleton.num_joints
    rate = (source.fps or 30.0) / config.every
    with contextlib.ExitStack() as stack, tqdm(total=expected, desc=name, unit="frame", disable=None,
                                                 leave=False) as bar:  # fmt: skip
        writer = None  # opened on the first frame, when its size is known
        for index, image in source.frames(every=config.every, max_frames=config.max_frames):
            detections = detector.detect(image)
            if detections.points.shape[1] != j:
                raise DetectorError(f"detector {detector.name}: {detections.points.shape[1]} joints in frame "
                                    f"{index} of {source.path}, its skeleton {detector.skeleton.name!r} has {j}")
            if config.min_score is not None:
                keep = detections.score >= config.min_score
                detections = FrameDetections(detections.points[keep], detections.confidence[keep],
                                             detections.score[keep])  # fmt: skip
            frame_ids.append(index)
            found.append(detections)
            if config.overlay:
                if writer is None:
                    size = (image.shape[1], image.shape[0])
                    writer = stack.enter_context(video_writer(out / "overlay" / f"{name}.mp4", rate, size))
                for p in range(len(detections.score)):
                    draw_skeleton(image, detections.points[p], detector.skeleton,
                                  confidence=detections.confidence[p], color=PALETTE[p % len(PALETTE)])  # fmt: skip
                writer.write(image)
            bar.update(1)
    return frame_ids, found


def camera_keypoints(
    name: str, source: FrameSource, detector: PoseDetector, frame_ids: list[int], found: list[FrameDetections]
) -> Keypoints2D:
    """One camera's detections as `Keypoints2D` (t frames, 1 view, p = the most people in a frame, at least 1).

    Raises:
        VideoError: No frame was read.
    """
    if not found:
        raise VideoError(f"{source.path}: no frame read")
    j = detector.skeleton.num_joints
    p = max([len(f.score) for f in found] + [1])
    points = np.full((len(found), 1, p, j, 2), np.nan, np.float32)
    conf = np.zeros((len(found), 1, p, j), np.float32)
    for row, f in enumerate(found):
        n = len(f.score)
        points[row, 0, :n], conf[row, 0, :n] = f.points, f.confidence
    valid = np.isfinite(points).all(-1) & (conf > 0)
    points[~valid], conf[~valid] = np.nan, 0.0
    return Keypoints2D(points, np.clip(conf, 0.0, 1.0), (name,), detector.skeleton, np.asarray(frame_ids),
                       fps=source.fps, source=(str(source.path),))  # fmt: skip


def merge_cameras(views: list[Keypoints2D]) -> Keypoints2D:
    """All cameras on the union of their frame numbers (missing frames NaN, confidence 0), people padded.

    Cameras of different lengths or frame rates are kept with an `InputWarning` naming them (`lift3d sync` finds
    their time offsets); the result records the first camera's frame rate.

    Args:
        views: One single-view `Keypoints2D` per camera, one skeleton.

    Returns:
        (t, v, p, j, 2) keypoints.

    Raises:
        DetectorError: Cameras detected with different skeletons (different detectors in one folder).
    """
    skeletons = {kp.skeleton.name for kp in views}
    if len(skeletons) > 1:
        raise DetectorError(f"cameras were detected with different skeletons ({', '.join(sorted(skeletons))}); "
                            "use one detector for all of them (--no-resume detects every camera again)")  # fmt: skip
    frames = np.unique(np.concatenate([kp.frame_ids for kp in views]))
    lengths = {kp.views[0]: kp.num_frames for kp in views}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{n} {t}" for n, t in lengths.items())
        warnings.warn(f"cameras have different numbers of frames ({listed}); keypoints.npz pads them to the union "
                      f"of frame numbers ({len(frames)}) with missing frames", InputWarning, stacklevel=2)  # fmt: skip
    rates = {kp.views[0]: kp.fps for kp in views}
    if len({r for r in rates.values()}) > 1:
        listed = ", ".join(f"{n} {'unknown' if r is None else f'{r:g}'} fps" for n, r in rates.items())
        warnings.warn(f"cameras have different frame rates ({listed}); keypoints.npz records the first; "
                      "`lift3d sync` measures their offsets", InputWarning, stacklevel=2)  # fmt: skip
    p = max(kp.num_people for kp in views)
    j = views[0].skeleton.num_joints
    points = np.full((len(frames), len(views), p, j, 2), np.nan, np.float32)
    conf = np.zeros((len(frames), len(views), p, j), np.float32)
    for i, kp in enumerate(views):
        rows = np.searchsorted(frames, kp.frame_ids)
        points[rows, i, : kp.num_people], conf[rows, i, : kp.num_people] = kp.points[:, 0], kp.confidence[:, 0]
    return Keypoints2D(points, conf, tuple(kp.views[0] for kp in views), views[0].skeleton, frames,
                       fps=views[0].fps, source=tuple(kp.source[0] for kp in views))  # fmt: skip


def format_summary(results: list[CameraResult]) -> str:
    """One line per camera: frames, frames with a person, frames per second, where the keypoints are."""
    width = max([len(r.camera) for r in results] + [6])
    return "\n".join([_summary_line(None, width)] + [_summary_line(r, width) for r in results])


def _summary_line(r: CameraResult | None, width: int) -> str:
    """The table's header (None) or a camera's row."""
    if r is None:
        return f"{'camera':<{width}} {'frames':>7} {'people found':>12} {'frames/s':>9}  keypoints"
    found = f"{100 * r.detected_frames / r.frames:.1f} %" if r.frames else "-"
    speed = "resumed" if r.skipped else f"{r.fps_processing:.1f}"
    return f"{r.camera:<{width}} {r.frames:>7} {found:>12} {speed:>9}  {r.path}"


"""`lift3d sync`: time offsets between cameras from the motion of their 2D keypoints -> offsets TOML + a table.

Each camera's keypoints are read on their own (`lift3d.io.keypoints.read_keypoints`, so each keeps its frame
rate); the main person's speed over the most reliable joints is cross-correlated with the reference camera's
(`lift3d.geometry.sync`). The TOML has one table per camera::

    [cam02]
    offset_frames = 7.02   # its frame f + 7.02 shows the reference's frame f
    offset_s = 0.117
    peak = 0.83            # normalised correlation at the peak
    confident = true

`lift3d triangulate --offsets offsets.toml` drops each camera's rounded offset (`read_offsets`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from pathlib import Path

import numpy as np

from lift3d.apps.options import check_options, option
from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import SyncError
from lift3d.geometry import sync
from lift3d.io.atomic import OutputSet, atomic_write, check_output
from lift3d.io.keypoints import DEFAULT_FORMAT, FORMATS, read_keypoints

__all__ = ["SyncConfig", "run", "sync_cameras", "format_table", "offsets_toml", "read_offsets", "apply_offsets"]


@dataclasses.dataclass(frozen=True)
class SyncConfig:
    """Options of `lift3d sync`."""

    keypoints: tuple[Path, ...] = option(unique=True, help="one folder or file per camera")
    format: str = option(DEFAULT_FORMAT, choices=FORMATS, help="keypoint file format")
    skeleton: str | None = option(
        None, check=get_skeleton, help="keypoint skeleton, e.g. body_25b, body_25, coco, halpe_26"
    )
    fps: float | None = option(None, gt=0, help="frame rate of cameras whose files carry none")
    reference: str | None = option(None, help="reference camera (offset 0); default the first")
    max_lag_s: float | None = option(None, gt=0, help="largest offset searched, s (default a third of the capture)")
    cutoff_hz: float = option(sync.CUTOFF_HZ, gt=0, help="low-pass cut-off of the keypoint speed, Hz")
    min_confidence: float = option(sync.MIN_CONFIDENCE, ge=0, le=1, help="ignore detections below this confidence")
    out: Path | None = option(None, short="-o", help="offsets TOML to write")

    def __post_init__(self):
        check_options(self)


def run(config: SyncConfig) -> dict[str, sync.SyncResult]:
    """`lift3d sync`: measure the offsets, print the table, write the TOML."""
    out = check_output(config.out, (".toml",)) if config.out is not None else None
    results, _rates = sync_cameras(
        config.keypoints, format=config.format, skeleton=config.skeleton, fps=config.fps,
        reference=config.reference, max_lag_s=config.max_lag_s, cutoff_hz=config.cutoff_hz,
        min_confidence=config.min_confidence,
    )  # fmt: skip
    print(format_table(results))
    doubtful = [name for name, r in results.items() if not r.confident]
    if doubtful:
        print(f"\nnote: check {', '.join(doubtful)}: a weak (< {sync.WEAK_PEAK}) or ambiguous correlation peak; "
              "a clear movement (a raised arm, a jump) in every view helps")  # fmt: skip
    if out is not None:
        with OutputSet(), atomic_write(out) as f:
            f.write(offsets_toml(results))
        print(f"wrote {out}")
    return results


def sync_cameras(
    keypoint_paths: tuple[str | os.PathLike, ...] | list[str | os.PathLike],
    *,
    format: str | None = DEFAULT_FORMAT,
    skeleton: str | None = None,
    fps: float | None = None,
    reference: str | None = None,
    max_lag_s: float | None = None,
    cutoff_hz: float = sync.CUTOFF_HZ,
    min_confidence: float = sync.MIN_CONFIDENCE,
) -> tuple[dict[str, sync.SyncResult], dict[str, float]]:
    """Offsets of every camera relative to the reference, from keypoint files.

    Args:
        keypoint_paths: One folder (OpenPose) or file per camera.
        format, skeleton: As in `read_keypoints`.
        fps: Frame rate of cameras whose files carry none.
        reference: Reference camera name; None: the first.
        max_lag_s: Largest |offset| searched, s; None: a third of the shortest capture.
        cutoff_hz: Low-pass cut-off of the speed signal, Hz.
        min_confidence: Detections below this are ignored.

    Returns:
        ({camera: result}, {camera: fps}), cameras in the given order. Offsets are between frame numbers
        (frame 0 of every camera at time 0 before synchronising): the camera's frame number f + offset shows
        the reference's frame number f, as `lift3d triangulate --offsets` (which aligns files by frame number)
        applies them.
    """
    if len(keypoint_paths) < 2:
        raise SyncError(f"synchronising needs 2 or more cameras, got {len(keypoint_paths)}: pass a folder or "
                        "file per camera to --keypoints")  # fmt: skip
    views = [read_keypoints([p], format=format, skeleton=skeleton) for p in keypoint_paths]
    names = [kp.views[0] if kp.views[0] not in [k.views[0] for k in views[:i]] else str(keypoint_paths[i])
             for i, kp in enumerate(views)]  # fmt: skip
    rates = {}
    for name, kp in zip(names, views, strict=True):
        if kp.num_people == 0 or not np.any(kp.confidence > 0):
            raise SyncError(f"camera {name}: no person detected in any frame; nothing moves to synchronise on")
        rate = kp.fps or fps
        if not rate:
            raise SyncError(f"camera {name}: its keypoints carry no frame rate; pass --fps")
        rates[name] = float(rate)
    if reference is not None and reference not in names:
        raise SyncError(f"--reference {reference}: no such camera (cameras: {', '.join(names)})")
    ref = names.index(reference) if reference is not None else 0
    mean_conf = np.stack([np.nan_to_num(kp.confidence[:, 0]).max(axis=1).mean(axis=0) for kp in views])
    joints = sync.reliable_joints(mean_conf.mean(axis=0))
    signals = []
    for name, kp in zip(names, views, strict=True):
        points, conf = sync.main_person(*_dense(kp))
        try:
            values, mask = sync.motion_signal(points, conf, rates[name], joints=joints,
                                              min_confidence=min_confidence, cutoff_hz=cutoff_hz)  # fmt: skip
        except SyncError as err:
            raise SyncError(f"camera {name}: {err}") from None
        signals.append((values, mask, rates[name]))
    results = sync.synchronize(signals, reference=ref, max_lag_s=max_lag_s)
    starts = [kp.frame_ids[0] / rates[name] for name, kp in zip(names, views, strict=True)]  # s
    for i, (name, r) in enumerate(zip(names, results, strict=True)):  # offsets between frame numbers
        offset_s = r.offset_s + starts[i] - starts[ref]
        results[i] = dataclasses.replace(r, offset_s=offset_s, offset_frames=offset_s * rates[name])
    return dict(zip(names, results, strict=True)), rates


def _dense(kp: Keypoints2D) -> tuple[np.ndarray, np.ndarray]:
    """One camera's (t, p, j, 2) points and (t, p, j) confidences on every frame number from its first to its
    last (frames without a file missing), so that array rows step by one frame."""
    rows = kp.frame_ids - kp.frame_ids[0]
    points = np.full((rows[-1] + 1, *kp.points.shape[2:]), np.nan)
    conf = np.zeros((rows[-1] + 1, *kp.confidence.shape[2:]))
    points[rows], conf[rows] = kp.points[:, 0], kp.confidence[:, 0]
    return points, conf


def format_table(results: dict[str, sync.SyncResult]) -> str:
    """One row per camera: offset (frames, s), correlation peak and a flag."""
    rows = [f"{'camera':<12} {'offset (frames)':>15} {'offset (s)':>10} {'peak':>6}  flag"]
    for name, r in results.items():
        flag = "ok" if r.confident else " ".join(w for w, on in (("weak", r.weak), ("ambiguous", r.ambiguous)) if on)
        rows.append(f"{name:<12} {r.offset_frames:>15.2f} {r.offset_s:>10.4f} {r.peak:>6.3f}  {flag}")
    return "\n".join(rows)


def offsets_toml(results: dict[str, sync.SyncResult]) -> str:
    """The offsets TOML text (module docstring)."""
    lines = ["# lift3d sync: camera frame f + offset_frames shows the reference camera's frame f", ""]
    for name, r in results.items():
        lines += [f'["{name}"]', f"offset_frames = {r.offset_frames:.4f}", f"offset_s = {r.offset_s:.6f}",
                  f"peak = {r.peak:.4f}", f"confident = {'true' if r.confident else 'false'}", ""]  # fmt: skip
    return "\n".join(lines)


def read_offsets(path: str | os.PathLike) -> dict[str, float]:
    """{camera: offset_frames} from an offsets TOML written by `lift3d sync`.

    Raises:
        SyncError: The file cannot be read or a camera lacks a finite ``offset_frames``.
    """
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SyncError(f"{path}: cannot read the offsets: {err}") from None
    offsets = {}
    for name, table in doc.items():
        value = table.get("offset_frames") if isinstance(table, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise SyncError(f"{path}: camera {name}: offset_frames must be a finite number, got {value!r}")
        offsets[str(name)] = float(value)
    return offsets


def apply_offsets(kp: Keypoints2D, path: str | os.PathLike) -> Keypoints2D:
    """Keypoints with each camera's frames shifted by its rounded offset from an offsets TOML (`read_offsets`):
    frame f of a camera becomes its frame f + round(offset); frames it lacks are missing (NaN, confidence 0).

    Raises:
        SyncError: A camera of the keypoints has no offset in the file.
    """
    offsets = read_offsets(path)
    missing = [name for name in kp.views if name not in offsets]
    if missing:
        raise SyncError(f"{path}: no offset for camera {missing[0]} (the file has {', '.join(offsets) or 'none'})")
    points, conf = kp.points.copy(), kp.confidence.copy()
    for v, name in enumerate(kp.views):
        shift = int(round(offsets[name]))
        points[:, v] = sync.shift_frames(kp.points[:, v], shift, np.nan)
        conf[:, v] = sync.shift_frames(kp.confidence[:, v], shift, 0.0)
    return dataclasses.replace(kp, points=points, confidence=conf)

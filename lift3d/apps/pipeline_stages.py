"""The stages of `lift3d run` on one trial, and the manifest that lets a rerun skip the stages already done.

A trial is a folder with ``videos/CAM.mp4`` (one video per camera; the file name is the camera's name) and a
rig: ``--rig FILE``, or the rig file in a ``calibration/`` folder of the trial or of a folder above it
(Pose2Sim's batch layout: ``calibration/`` at the session's top, trials below). The stages write into the
output folder (default ``TRIAL/lift3d``)::

    pose/CAM_json/ pose/keypoints.npz       1. detect        (`lift3d.apps.detect`; resumes per camera)
    sync/offsets.toml                        2. sync          (`lift3d.apps.sync`, checked on the rig; --no-sync)
    3d/TRIAL.trc .c3d .csv .npz .bvh         3. triangulate   (`lift3d.apps.triangulate`, with the offsets)
    report.html                              4. report        (the stages, the sync found, the 3D summary)
    stages.json                              the manifest

The manifest, written atomically after every change::

    {"version": 1, "stages": {"detect": {
        "state": "done",                       # or "started": begun, never finished (an error, Ctrl-C)
        "fingerprint": "9f3c...",              # sha256 of the three entries below and the previous stage's
        "inputs": [["videos/cam01.mp4", 1048576, 1733482000123456789], ...],  # path, bytes, mtime (ns)
        "config": {"detector": "blazepose"},   # the options that change the stage's result
        "outputs": [["pose/keypoints.npz", 53211], ...],                       # path, bytes
        "seconds": 41.2, "finished": "2026-12-06T11:00:00Z",
        "data": {...}}}}                       # what the report shows (sync offsets, 3D summary)

A folder input is one entry, ``[path, files, bytes, newest mtime]``. A stage is skipped when it is "done" with
the same fingerprint and all of its outputs are there with their sizes; once a stage runs, every later stage
runs too. A stage that stops (an error, Ctrl-C) stays "started", so the rerun runs it again; detect then
resumes (cameras already finished are kept) when its fingerprint is the one it started with. While a run works in
an output folder it holds ``.lift3d-run.lock`` there (host and process id): a second run on it is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.apps.sync import offsets_toml, sync_cameras
from lift3d.apps.triangulate import format_cameras, format_summary, triangulate_capture
from lift3d.errors import Lift3DError, Lift3DWarning, PipelineError, SyncError
from lift3d.geometry.sync import SyncResult
from lift3d.io.atomic import OutputSet, atomic_write, check_output, write_json
from lift3d.io.image_sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from lift3d.io.keypoints_npz import read_keypoints_npz
from lift3d.io.rigs import load_rig
from lift3d.viz.report_html import Section, write_html_report

__all__ = [
    "STAGES", "MANIFEST", "StageRun", "TrialResult", "run_trial", "find_videos", "find_rig", "detect_videos",
    "format_stage_table",
]  # fmt: skip

STAGES = ("detect", "sync", "triangulate", "report")
MANIFEST = "stages.json"
_VERSION = 1
_MOTION_SUFFIXES = (".trc", ".c3d", ".csv", ".npz", ".bvh")
_RIG_PATTERNS = ("*.toml", "*.qca.txt", "*.yml", "*.yaml", "*.xml")
_RIG_LEVELS = 4  # folders above the trial searched for calibration/


@dataclasses.dataclass(frozen=True)
class StageRun:
    """One stage of one run.

    Attributes:
        name: "detect", "sync", "triangulate" or "report".
        status: "ran"; "skipped" (done before, inputs unchanged); "off" (sync with --no-sync).
        seconds: Wall time in this run, s (about 0 when skipped).
        last_seconds: Wall time of the run that produced its outputs (this one or an earlier), s.
        outputs: Its files and folders.
    """

    name: str
    status: str
    seconds: float
    last_seconds: float = 0.0
    outputs: tuple[Path, ...] = ()


@dataclasses.dataclass(frozen=True)
class TrialResult:
    """What `run_trial` did.

    Attributes:
        trial: The trial folder.
        out: Its output folder.
        stages: One `StageRun` per stage, in order.
        seconds: Wall time of the whole trial in this run, s.
    """

    trial: Path
    out: Path
    stages: tuple[StageRun, ...]
    seconds: float

    @property
    def stage_seconds(self) -> dict[str, float]:
        """{stage: wall time in this run, s}."""
        return {s.name: s.seconds for s in self.stages}

    @property
    def ran(self) -> tuple[str, ...]:
        """The stages that ran in this run."""
        return tuple(s.name for s in self.stages if s.status == "ran")


# --- finding the inputs -------------------------------------------------------------------------------------


def find_videos(trial: Path) -> tuple[Path, ...]:
    """The videos of a trial, ``TRIAL/videos/*`` sorted by name (2 or more).

    Raises:
        PipelineError: No videos/ folder, or fewer than 2 videos in it.
    """
    folder = Path(trial) / "videos"
    if not folder.is_dir():
        raise PipelineError(f"{trial}: no videos/ folder (one video per camera: videos/cam01.mp4, ...)")
    videos = tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS))
    if len(videos) < 2:
        raise PipelineError(f"{folder}: {len(videos)} video(s); triangulating needs 2 or more cameras "
                            f"({', '.join(VIDEO_EXTENSIONS)})")  # fmt: skip
    return videos


def find_rig(trial: Path, rig: Path | None = None) -> Path:
    """The rig file of a trial: `rig` if given, else the first readable rig file in the nearest ``calibration/``
    of the trial or of one of the folders above it (TOML first, then Qualisys, then OpenCV YAML / XML).

    Raises:
        PipelineError: No calibration/ folder, or one without a readable rig file (board images or videos
            alone: calibrating is not part of `lift3d run` yet).
    """
    if rig is not None:
        return Path(rig)
    folder = Path(trial).resolve()
    for _ in range(_RIG_LEVELS + 1):
        calibration = folder / "calibration"
        if calibration.is_dir():
            return _rig_in(calibration)
        if folder.parent == folder:
            break
        folder = folder.parent
    raise PipelineError(f"{trial}: no calibration/ folder in it or the {_RIG_LEVELS} folders above; "
                        "pass the rig with --rig FILE")  # fmt: skip


def _rig_in(calibration: Path) -> Path:
    """The first rig file of a calibration folder that reads."""
    seen: list[Path] = []
    for pattern in _RIG_PATTERNS:
        seen += [p for p in sorted(calibration.glob(pattern)) if p.is_file() and p not in seen]
    for path in seen:
        try:
            load_rig(path)
        except (Lift3DError, OSError, ValueError):
            continue
        return path
    media = [p for p in calibration.rglob("*") if p.suffix.lower() in (*IMAGE_EXTENSIONS, *VIDEO_EXTENSIONS)]
    if media:
        raise PipelineError(
            f"{calibration}: board images or videos but no rig file; calibrating is not part of `lift3d run` yet: "
            "run `lift3d calibrate intrinsics` and `lift3d calibrate extrinsics` on them, then pass --rig RIG.toml"
        )
    raise PipelineError(f"{calibration}: no rig file lift3d can read (TOML, Qualisys .qca.txt, OpenCV YAML / "
                        "XML); pass --rig FILE")  # fmt: skip


# --- the manifest -------------------------------------------------------------------------------------------


def _shown(path: Path, base: Path) -> str:
    """`path` relative to `base` when inside it, else absolute."""
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return path.as_posix()


def _state(paths, base: Path) -> list[list]:
    """[path, bytes, mtime ns] per file; [path, files, bytes, newest mtime ns] per folder; [path] if missing."""
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            stats = [f.stat() for f in sorted(path.rglob("*")) if f.is_file()]
            out.append([_shown(path, base), len(stats), sum(s.st_size for s in stats),
                        max((s.st_mtime_ns for s in stats), default=0)])  # fmt: skip
        elif path.is_file():
            st = path.stat()
            out.append([_shown(path, base), st.st_size, st.st_mtime_ns])
        else:
            out.append([_shown(path, base)])
    return out


def _fingerprint(stage: str, inputs: list, config: dict, previous: str) -> str:
    text = json.dumps([stage, inputs, config, previous], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _Manifest:
    """``stages.json`` of one output folder (module doc), saved atomically on every change."""

    def __init__(self, path: Path):
        self.path = path
        self.stages: dict[str, dict] = {}
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None  # none yet, or unreadable: every stage runs
        if isinstance(doc, dict) and doc.get("version") == _VERSION and isinstance(doc.get("stages"), dict):
            self.stages = {k: v for k, v in doc["stages"].items() if isinstance(v, dict)}

    def done(self, stage: str, fingerprint: str) -> bool:
        """Done before with this fingerprint, and every output still there with its size."""
        entry = self.stages.get(stage, {})
        if entry.get("state") != "done" or entry.get("fingerprint") != fingerprint:
            return False
        try:  # relative to the output folder (an absolute path stays absolute)
            outputs = [(self.path.parent / str(item[0]), int(item[1])) for item in entry.get("outputs", [])]
        except (TypeError, IndexError, ValueError):  # a damaged manifest: run the stage again
            return False
        return all(path.exists() and _size(path) == size for path, size in outputs)

    def start(self, stage: str, fingerprint: str) -> bool:
        """Mark a stage started; whether it had started (or finished) with this fingerprint before."""
        again = self.stages.get(stage, {}).get("fingerprint") == fingerprint
        self.stages[stage] = {"state": "started", "fingerprint": fingerprint}
        self.save()
        return again

    def finish(self, stage: str, entry: dict) -> None:
        finished = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.stages[stage] = {**self.stages.get(stage, {}), **entry, "state": "done", "finished": finished}
        self.save()

    def drop(self, stage: str) -> None:
        if self.stages.pop(stage, None) is not None:
            self.save()

    def save(self) -> None:
        write_json(self.path, {"version": _VERSION, "stages": self.stages})


# --- the stages ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Trial:
    """What the stages of one trial share."""

    trial: Path
    out: Path
    videos: tuple[Path, ...]
    rig: Path
    config: Any  # lift3d.apps.pipeline.RunConfig
    progress: bool
    threads: int | None
    manifest: _Manifest
    log: Callable[[str], None] | None = None
    runs: list[StageRun] = dataclasses.field(default_factory=list)

    @property
    def pose(self) -> Path:
        return self.out / "pose"

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(v.stem for v in self.videos)

    @property
    def pose_folders(self) -> list[Path]:
        return [self.pose / f"{cam}_json" for cam in self.cameras]

    @property
    def offsets(self) -> Path:
        return self.out / "sync" / "offsets.toml"

    def motion_files(self) -> list[Path]:
        return [self.out / "3d" / f"{self.trial.name}{suffix}" for suffix in _MOTION_SUFFIXES]

    def pose_info(self) -> tuple[str, float | None]:
        """The detections' skeleton name and frame rate (from pose/keypoints.npz; --fps wins)."""
        kp = read_keypoints_npz(self.pose / "keypoints.npz")
        fps = self.config.fps or kp.fps
        return kp.skeleton.name, (float(fps) if fps and fps == fps else None)


def detect_videos(videos: tuple[Path, ...], out: Path, *, detector: str, resume: bool, threads: int | None,
                  people: int = 1) -> None:  # fmt: skip
    """Detect the people of each video into ``OUT/CAM_json/`` + ``OUT/keypoints.npz`` (`lift3d.apps.detect`;
    `threads`: of the detector's runtime, None its own choice; `people`: most people per image)."""
    from lift3d.apps import detect  # imported when the stage runs: a rerun that skips it never loads a detector

    detect.run(detect.DetectConfig(inputs=tuple(videos), out=out, detector=detector, format="both", overlay=False,
                                   resume=resume, threads=threads, people=people))  # fmt: skip


def _detect(t: _Trial, resume: bool) -> tuple[list[Path], dict]:
    detect_videos(t.videos, t.pose, detector=t.config.detector, resume=resume, threads=t.threads,
                  people=t.config.people)  # fmt: skip
    missing = [p for p in [*t.pose_folders, t.pose / "keypoints.npz"] if not p.exists()]
    if missing:
        raise PipelineError(f"detect wrote no {missing[0]}")
    skeleton, fps = t.pose_info()
    return [*t.pose_folders, t.pose / "keypoints.npz"], {"skeleton": skeleton, "fps": fps}


def _sync(t: _Trial, resume: bool) -> tuple[list[Path], dict]:
    """Offsets from the keypoints (`sync_cameras`). A camera keeps its measured offset only when the correlation
    peak is confident and the rig agrees (`_check_offsets`); else 0, and the note says why."""
    skeleton, fps = t.pose_info()
    try:
        found, _ = sync_cameras(t.pose_folders, format="openpose", skeleton=skeleton, fps=fps)
        notes = []
    except SyncError as err:  # too short, nobody moving: unsynchronised cameras are kept as they are
        found, notes = {}, [f"no offsets measured ({err}); all kept at 0"]
    nan = float("nan")
    measured = {cam: found.get(cam) or SyncResult(0.0, 0.0, nan, nan, True, False, None, None) for cam in t.cameras}
    doubtful = [cam for cam, r in measured.items() if not r.confident and cam in found]
    if doubtful:
        notes.append(f"not confident for {', '.join(doubtful)}: offset 0 kept")
    trusted = {cam: r.offset_frames if r.confident else 0.0 for cam, r in measured.items()}
    shares = _check_offsets(t, trusted, skeleton, fps)
    refused = [cam for cam, (kept, dropped) in shares.items() if not kept >= dropped]
    if refused:
        notes.append("offset refused by the rig for " + ", ".join(
            f"{cam} ({trusted[cam]:+.1f} frames: {shares[cam][0]:.0%} of its detections used with it, "
            f"{shares[cam][1]:.0%} without)" for cam in refused) + "; offset 0 kept")  # fmt: skip
    used = {cam: r if r.confident and cam not in refused else dataclasses.replace(r, offset_frames=0.0, offset_s=0.0)
            for cam, r in measured.items()}  # fmt: skip
    with OutputSet(), atomic_write(t.offsets) as f:
        f.write(offsets_toml(used))
    rows = {cam: {"offset_frames": r.offset_frames, "offset_s": r.offset_s, "peak": _finite(r.peak),
                  "measured_frames": found[cam].offset_frames if cam in found else None, "confident": r.confident,
                  "used_share": list(shares[cam]) if cam in shares else None}
            for cam, r in used.items()}  # fmt: skip
    return [t.offsets], {"cameras": rows, "note": "; ".join(notes)}


def _check_offsets(t: _Trial, offsets: dict[str, float], skeleton: str, fps: float | None) -> dict[str, tuple]:
    """For each camera whose offset shifts it by a frame or more: the share of its detections a quick
    triangulation (no refinement, no filter) uses with the offsets and without them. A confident correlation
    peak can still be wrong (similar motions a few frames apart); a right offset never makes a camera's
    detections fit the others' less."""
    shifted = [cam for cam, frames in offsets.items() if round(frames) != 0]
    if not shifted:
        return {}
    rig = load_rig(t.rig)
    names = dict(zip(t.cameras, rig.match(list(t.cameras)).names, strict=True))
    shares = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", Lift3DWarning)  # the check's own notes are not the user's
        path = Path(tmp) / "offsets.toml"
        path.write_text("".join(f'["{cam}"]\noffset_frames = {float(frames)!r}\n' for cam, frames in offsets.items()))
        for candidate in (path, None):
            result = triangulate_capture(rig, t.pose_folders, format="openpose", skeleton=skeleton, fps=fps,
                                         filter="none", refine=False, outliers=False, people=t.config.people,
                                         method=t.config.method, offsets=candidate, progress=False)  # fmt: skip
            shares.append({row["name"]: float(np.nan_to_num(row["used_fraction"])) for row in result.cameras})
    return {cam: (shares[0].get(names[cam], 0.0), shares[1].get(names[cam], 0.0)) for cam in shifted}


def _triangulate(t: _Trial, resume: bool) -> tuple[list[Path], dict]:
    skeleton, fps = t.pose_info()
    c = t.config
    result = triangulate_capture(
        t.rig, t.pose_folders, out=t.motion_files(), format="openpose", skeleton=skeleton, people=c.people,
        method=c.method, filter=c.filter, fps=fps, y_up=c.y_up, offsets=t.offsets if c.sync else None,
        progress=t.progress,
    )  # fmt: skip
    err = result.error_px[result.error_px == result.error_px]
    data = {"frames": len(result.frame_ids), "cameras": list(result.views), "people": result.points_3d.shape[1],
            "mean_error_px": float(err.mean()) if err.size else None, "notes": list(result.notes),
            "summary": [format_summary(result, k) for k in range(result.points_3d.shape[1])],
            "camera_table": format_cameras(result)}  # fmt: skip
    return list(result.outputs), data


def _report(t: _Trial, resume: bool) -> tuple[list[Path], dict]:
    stages = t.manifest.stages
    rows = [(s.name, s.status, f"{s.seconds:.1f}", f"{stages.get(s.name, {}).get('seconds', 0.0):.1f}",
             stages.get(s.name, {}).get("finished", "-")) for s in t.runs]  # fmt: skip
    sections = [Section("Stages", tables=[("", ("stage", "this run", "s (this run)", "s (when it ran)",
                                               "finished"), rows)])]  # fmt: skip
    sync = stages.get("sync", {}).get("data")
    if t.config.sync and sync:
        table = [(cam, f"{r['offset_frames']:.2f}", f"{r['offset_s']:.4f}", _num(r["peak"], 3),
                  _num(r["measured_frames"], 2), "yes" if r["confident"] else "no", _shares(r.get("used_share")))
                 for cam, r in sync["cameras"].items()]  # fmt: skip
        header = ("camera", "offset used (frames)", "offset (s)", "peak", "measured (frames)", "confident",
                  "detections used with / without")  # fmt: skip
        sections.append(Section("Synchronisation", paragraphs=[sync["note"]] if sync["note"] else [],
                                tables=[("", header, table)]))  # fmt: skip
    else:
        sections.append(Section("Synchronisation", paragraphs=["off (--no-sync): the cameras are taken as "
                                                               "hardware-synchronised"]))  # fmt: skip
    tri = stages.get("triangulate", {}).get("data", {})
    lines = [f"{tri.get('frames')} frames, {len(tri.get('cameras', []))} cameras, mean reprojection error "
             f"{_num(tri.get('mean_error_px'), 1)} px"]  # fmt: skip
    sections.append(Section("Triangulation", paragraphs=lines + [f"note: {n}" for n in tri.get("notes", [])],
                            preformatted=[tri.get("camera_table", ""), *tri.get("summary", [])]))  # fmt: skip
    files = [(o[0], o[1]) for s in STAGES[:3] for o in stages.get(s, {}).get("outputs", [])]
    sections.append(Section("Files", tables=[("", ("path", "bytes"), files)]))
    path = t.out / "report.html"
    with OutputSet():
        write_html_report(path, f"lift3d run: {t.trial.name}", sections, intro=f"trial {t.trial}, rig {t.rig}")
    return [path], {}


def _shares(pair) -> str:
    return "-" if not pair else f"{pair[0]:.0%} / {pair[1]:.0%}"


def _finite(x: float) -> float | None:
    return float(x) if x == x else None


def _num(x, digits: int) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def _inputs(t: _Trial, stage: str) -> tuple[list, dict]:
    """What a stage reads (files and folders) and its options that change the result."""
    c = t.config
    if stage == "detect":
        return _state(t.videos, t.trial), {"detector": str(c.detector), "people": c.people}
    if stage == "sync":  # the rig checks the offsets
        return _state([*t.pose_folders, t.rig], t.out), {"fps": c.fps, "people": c.people, "method": c.method}
    if stage == "triangulate":
        files = [*t.pose_folders, t.rig, *([t.offsets] if c.sync else [])]
        options = ("people", "method", "filter", "fps", "y_up", "sync")
        return _state(files, t.out), {k: getattr(c, k) for k in options}
    return [], {}


_RUN: dict[str, Callable[[_Trial, bool], tuple[list[Path], dict]]] = {
    "detect": _detect, "sync": _sync, "triangulate": _triangulate, "report": _report,
}  # fmt: skip


def _stage(t: _Trial, stage: str, previous: str, dirty: bool) -> tuple[str, bool]:
    """Run (or skip) one stage; (its fingerprint, whether it ran)."""
    inputs, options = _inputs(t, stage)
    fingerprint = _fingerprint(stage, inputs, options, previous)
    entry = t.manifest.stages.get(stage, {})
    if not dirty and t.manifest.done(stage, fingerprint):
        outputs = tuple(t.out / o[0] for o in entry.get("outputs", []))
        t.runs.append(StageRun(stage, "skipped", 0.0, float(entry.get("seconds", 0.0)), outputs))
        return fingerprint, False
    resume = t.manifest.start(stage, fingerprint) and not t.config.force  # --force: detect from scratch too
    start = time.perf_counter()
    outputs, data = _RUN[stage](t, resume)
    seconds = time.perf_counter() - start
    t.runs.append(StageRun(stage, "ran", seconds, seconds, tuple(outputs)))
    if t.log:
        t.log(_said(stage, data, outputs))
    t.manifest.finish(stage, {"fingerprint": fingerprint, "inputs": inputs, "config": options, "seconds": seconds,
                              "outputs": [[_shown(p, t.out), _size(p)] for p in outputs],
                              "data": data})  # fmt: skip
    return fingerprint, True


def _said(stage: str, data: dict, outputs: list[Path]) -> str:
    """One line on what a stage found."""
    if stage == "detect":
        return f"detect: skeleton {data['skeleton']}, {_num(data['fps'], 2)} fps"
    if stage == "sync":
        offsets = ", ".join(f"{cam} {round(r['offset_frames'], 2) + 0.0:+.2f}" for cam, r in data["cameras"].items())
        return f"sync: offsets used (frames) {offsets}" + (f"; {data['note']}" if data["note"] else "")
    if stage == "triangulate":
        notes = "".join(f"\nnote: {n}" for n in data["notes"])
        people = f"{data['people']} {'person' if data['people'] == 1 else 'people'}"
        return (f"triangulate: {data['frames']} frames, {people}, mean reprojection error "
                f"{_num(data['mean_error_px'], 1)} px; wrote {', '.join(p.name for p in outputs)}{notes}")  # fmt: skip
    return f"{stage}: wrote {', '.join(map(str, outputs))}"


def _size(path: Path) -> int:
    """A file's size; for a folder, the size of its files together."""
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_trial(trial: str | os.PathLike, config: Any, *, out: str | os.PathLike | None = None,
              progress: bool = True, threads: int | None = None,
              log: Callable[[str], None] | None = print) -> TrialResult:  # fmt: skip
    """Run the stages of one trial (module doc), skipping those done before with the same inputs.

    Args:
        trial: The trial folder (videos/ inside).
        config: A `lift3d.apps.pipeline.RunConfig` (its detector, sync, triangulation and force options).
        out: Output folder; default ``TRIAL/lift3d``.
        progress: Show progress bars.
        threads: Threads of the detector's runtime (None: its own choice; 1 in a batch's worker processes).
        log: Called with each line to print (the stage table at the end); None: silent.

    Returns:
        The stages' statuses and wall times.

    Raises:
        PipelineError: No videos or no rig found; any error of a stage (that stage is left "started").
    """
    start = time.perf_counter()
    trial = Path(trial)
    out = check_output(Path(out) if out is not None else trial / "lift3d", folder=True)
    videos, rig = find_videos(trial), find_rig(trial, config.rig)
    with _lock(out):
        t = _Trial(trial, out, videos, rig, config, progress, threads, _Manifest(out / MANIFEST), log)
        if log:
            log(f"trial {trial}: {len(t.videos)} cameras ({', '.join(t.cameras)}), rig {t.rig}, output {out}")
        previous, dirty = "", bool(config.force)
        for stage in STAGES:
            if stage == "sync" and not config.sync:
                t.manifest.drop("sync")
                t.runs.append(StageRun("sync", "off", 0.0))
                continue
            previous, ran = _stage(t, stage, previous, dirty)
            dirty = dirty or ran
    result = TrialResult(trial, out, tuple(t.runs), time.perf_counter() - start)
    if log:
        log(format_stage_table(result))
    return result


@contextlib.contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold OUT/.lift3d-run.lock (host and process id) while the stages run: two runs must not share a
    manifest. A lock left by a process of this host that is gone (killed) is taken over."""
    path = out / ".lift3d-run.lock"
    out.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            holder = path.read_text(errors="replace").split() if path.exists() else []
            if not (len(holder) == 2 and holder[0] == socket.gethostname() and not _alive(holder[1])):
                raise PipelineError(f"{out}: another lift3d run is working here ({' '.join(holder) or '?'}); wait "
                                    f"for it, or delete {path} if none is") from None  # fmt: skip
            path.unlink(missing_ok=True)
    else:
        raise PipelineError(f"{out}: another lift3d run took {path}")
    with os.fdopen(fd, "w") as f:
        f.write(f"{socket.gethostname()} {os.getpid()}\n")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def format_stage_table(result: TrialResult) -> str:
    """One row per stage: status, wall time in this run and when it last ran; the total."""
    lines = [f"{'stage':<12} {'status':<8} {'s (this run)':>12} {'s (when it ran)':>15}"]
    for s in result.stages:
        lines.append(f"{s.name:<12} {s.status:<8} {s.seconds:>12.1f} {s.last_seconds:>15.1f}")
    lines.append(f"{'total':<12} {'':<8} {result.seconds:>12.1f}")
    return "\n".join(lines)

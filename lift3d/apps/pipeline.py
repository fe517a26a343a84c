"""`lift3d run`: one command from a session folder to filtered 3D: detect -> sync -> triangulate -> report.

FOLDER is one trial (a folder with ``videos/CAM.mp4``, one video per camera) or a session holding trials at
any depth (Pose2Sim's session / participant / trial layout: every folder with a ``videos/`` folder is a trial).
Each trial's rig is ``--rig`` or the rig file of the nearest ``calibration/`` folder, in the trial or above it.
The stages, their outputs (``TRIAL/lift3d/`` by default) and the manifest ``stages.json`` that makes a rerun skip
what is done (and resume an interrupted detection) are described in `lift3d.apps.pipeline_stages`; batches
(``--jobs``, ``--scheduler``) in `lift3d.apps.pipeline_batch`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Literal

from lift3d.apps.options import check_options, option
from lift3d.apps.pipeline_batch import TrialOutcome, format_batch_table, run_batch
from lift3d.apps.pipeline_stages import TrialResult, run_trial
from lift3d.apps.triangulate import TriangulateConfig
from lift3d.errors import PipelineError
from lift3d.geometry.temporal import parse_filter_spec

__all__ = ["RunConfig", "RunResult", "run", "find_trials", "trial_result"]

_T = TriangulateConfig  # the triangulation defaults, written once there
_SKIP = ("lift3d", "calibration", "videos", "pose", "__pycache__")  # never trials, never searched below


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Options of `lift3d run`."""

    folder: Path = option(
        positional=True, metavar="FOLDER",
        help="a trial (videos/CAM.mp4 + calibration/) or a session holding trials at any depth",
    )  # fmt: skip
    rig: Path | None = option(None, help="rig file for every trial (default: the rig file in calibration/ of the "
                              "trial or of a folder above it)")  # fmt: skip
    out: Path | None = option(None, short="-o", help="output folder (default TRIAL/lift3d; for a session, one "
                              "subfolder per trial, by its path in FOLDER)")  # fmt: skip
    detector: str = option("blazepose", help="2D detector: blazepose, a .onnx pose model, or package.module:factory")
    sync: bool = option(True, flag="--no-sync", help="skip the sync stage: the cameras are hardware-synchronised")
    people: int = option(_T.people, ge=1, help="people to detect per image and keep in 3D, most complete tracks first")
    method: Literal["ransac", "dlt", "pose2sim"] = option(_T.method, help="triangulation method (see triangulate)")
    filter: str = option(_T.filter, check=parse_filter_spec,
                         help="none, butterworth:CUTOFF_HZ[:ORDER], one-euro:MIN_CUTOFF[:BETA]")  # fmt: skip
    fps: float | None = option(None, gt=0, help="frame rate, when the videos carry a wrong one")
    y_up: bool = option(False, help="write Y-up axes (OpenSim) instead of the rig's Z-up")
    force: bool = option(False, help="run every stage again, even those stages.json says are done")
    jobs: int = option(1, ge=1, help="trials run at once, in local single-threaded processes (not with --scheduler)")
    scheduler: str | None = option(None, help="address of a Dask scheduler (tcp://HOST:8786) whose workers run the "
                                   "trials; pip install 'lift3d[cluster]'")  # fmt: skip

    def __post_init__(self):
        check_options(self)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What `lift3d run` did.

    Attributes:
        trials: One outcome per trial, in order (`TrialOutcome.result.stage_seconds`: each stage's wall time).
    """

    trials: tuple[TrialOutcome, ...]

    @property
    def failed(self) -> tuple[TrialOutcome, ...]:
        return tuple(o for o in self.trials if o.status != "done")


def run(config: RunConfig) -> RunResult:
    """`lift3d run`: every trial of FOLDER through the stages; a table per trial, or per batch.

    Raises:
        PipelineError: No trial in FOLDER; with one trial, what stopped it; with several, after the summary, the
            count of failed trials (the others have their outputs).
    """
    trials = find_trials(config.folder)
    outs = [_out(config, trial) for trial in trials]
    if len(trials) == 1 and config.scheduler is None:
        result = run_trial(trials[0], config, out=outs[0])
        return RunResult((TrialOutcome(trials[0], "done", "", result, result.seconds),))
    where = f", on {config.scheduler}" if config.scheduler else f", {config.jobs} at once" * (config.jobs > 1)
    print(f"{len(trials)} trials in {config.folder}{where}")
    outcomes = run_batch(trials, config, outs=outs, jobs=config.jobs, scheduler=config.scheduler)
    print("\n" + format_batch_table(outcomes, config.folder))
    result = RunResult(tuple(outcomes))
    if result.failed:
        first = result.failed[0]
        raise PipelineError(f"{len(result.failed)} of {len(outcomes)} trials failed; first {first.trial}: "
                            f"{first.error}")  # fmt: skip
    return result


def _out(config: RunConfig, trial: Path) -> Path | None:
    """A trial's output folder: None (TRIAL/lift3d), --out for a single trial, --out/<path in FOLDER> else."""
    if config.out is None:
        return None
    relative = Path(os.path.relpath(trial, config.folder))
    return config.out if relative == Path(".") else config.out / relative


def find_trials(folder: str | os.PathLike) -> list[Path]:
    """The trials of `folder`: itself if it holds ``videos/``, else every folder below it that does (sorted;
    output, calibration, pose and hidden folders are not searched).

    Raises:
        PipelineError: `folder` is not a folder, or holds no trial.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PipelineError(f"{folder}: not a folder; give a trial (videos/ inside) or a session of trials")
    if (folder / "videos").is_dir():
        return [folder]
    trials = []
    for root, dirs, _ in os.walk(folder):
        if "videos" in dirs:
            trials.append(Path(root))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP)
    if not trials:
        raise PipelineError(f"{folder}: no trial in it or below (a trial is a folder with videos/CAM.mp4, one "
                            "video per camera)")  # fmt: skip
    return sorted(trials)


def trial_result(result: RunResult) -> TrialResult:
    """The single trial's result of a run (for scripts and benchmarks)."""
    if len(result.trials) != 1 or result.trials[0].result is None:
        raise PipelineError(f"{len(result.trials)} trials, {len(result.failed)} failed: no single trial result")
    return result.trials[0].result

"""What lift3d's trainers share: config files, the run folder, resume, and the bookkeeping of the step loop.

Conventions of every trainer (`lift3d.train.lifter_trainer`, `lift3d.train.lt_trainer`):

- ``train_and_evaluate(config, workdir)``; configs are Python files with ``get_config(variant=None)``
  returning the trainer's frozen dataclass (``load_config("experiments/lifter_synthetic.py:smoke")`` picks a
  variant; `load_config_file`).
- ``WORKDIR/config.json``: the config of the run; resuming with a different one is an error naming the
  fields that differ (`RESUMABLE_FIELDS` may change between resumes).
- ``WORKDIR/metrics.jsonl``: one JSON object a line, ``{"step", "epoch", "split": "train" | "test", ...}``;
  training lines add ``lr`` and ``steps_per_s``.
- ``WORKDIR/checkpoints/``: orbax checkpoints of the whole training state (`lift3d.train.checkpoint`); a run
  restarted with the same workdir resumes from the newest one and, because data order and random draws are
  functions of the step (and the stored data position), ends exactly where the uninterrupted run would have.
- Data parallelism over all devices (`lift3d.train.sharding`), a tqdm progress bar.

`TrainRun` holds the run folder's side of this (config check, metrics log, checkpoints, progress bar); the
trainers keep their data, steps and evaluation.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lift3d.errors import CheckpointError
from lift3d.io.atomic import atomic_write, write_json
from lift3d.train import sharding
from lift3d.train.checkpoint import TrainCheckpoints

__all__ = ["load_config_file", "config_json", "check_same_config", "RESUMABLE_FIELDS", "TrainRun"]

C = TypeVar("C")

RESUMABLE_FIELDS = frozenset({"progress", "log_every", "max_steps", "num_devices"})
"""Config fields a resumed run may change (they do not change the numbers the run produces)."""


def load_config_file(spec: str | os.PathLike, kind: type[C]) -> C:
    """A config from ``path/to/config.py`` or ``path/to/config.py:variant`` (its ``get_config(variant)``).

    Args:
        spec: The file, optionally with ``:variant`` (a path that exists as given is taken whole).
        kind: The config class the trainer expects.

    Returns:
        ``get_config(variant or None)`` of the file.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it has no ``get_config``.
        TypeError: If ``get_config`` returns something else than a `kind` (a config of another trainer).
    """
    text = os.fspath(spec)
    path, _, variant = text.partition(":") if not Path(text).exists() else (text, "", "")
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file {path} not found")
    module_spec = importlib.util.spec_from_file_location(f"_lift3d_config_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path}: a config file must define get_config(variant=None)")
    config = module.get_config(variant or None)
    if not isinstance(config, kind):
        raise TypeError(f"{text}: get_config returned a {type(config).__name__}, this trainer takes a {kind.__name__}")
    return config


def config_json(config: Any) -> dict:
    """A dataclass config as plain JSON values (tuples become lists), as ``config.json`` stores it."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def check_same_config(workdir: Path, config: Any) -> None:
    """Write ``workdir/config.json``, after checking that a run already there has the same config.

    Raises:
        CheckpointError: If the stored config differs outside `RESUMABLE_FIELDS` (the message lists the
            fields as ``name: old -> new``).
    """
    file = workdir / "config.json"
    new = config_json(config)
    if file.is_file():
        try:
            old = json.loads(file.read_text("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
            raise CheckpointError(f"{file}: not a readable config ({err}); fix it, or use a new workdir") from None
        if not isinstance(old, dict):
            raise CheckpointError(f"{file}: not a config (a JSON {type(old).__name__}); use a new workdir")
        diff = sorted(k for k in old.keys() | new.keys() if k not in RESUMABLE_FIELDS and old.get(k) != new.get(k))
        if diff:
            details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff)
            raise CheckpointError(f"{workdir}: holds a run of another config ({details}); use a new workdir")
    write_json(file, new)


def _logged_step(line: str) -> float:
    """The step of a ``metrics.jsonl`` line; inf (dropped on resume) for a line cut short by a crash."""
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return np.inf
    return step if isinstance(step, int | float) and not isinstance(step, bool) else np.inf


class TrainRun:
    """The run folder of one training: config check, ``metrics.jsonl``, checkpoints, resume and progress.

    Use as a context manager around the step loop (closing ends the progress bar and the checkpoint
    manager).

    Args:
        workdir: The run's folder (created).
        config: The run's dataclass config (checked against and written to ``config.json``); its ``name``
            and ``progress`` fields label and switch the progress bar.
        keep_checkpoints: How many recent checkpoints to keep.

    Raises:
        CheckpointError: If ``workdir`` holds a run of another config.
    """

    def __init__(self, workdir: str | os.PathLike, config: Any, *, keep_checkpoints: int):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        check_same_config(self.workdir, config)
        self.config = config
        self.metrics_path = self.workdir / "metrics.jsonl"
        self._keep = keep_checkpoints
        self._bar = None
        self._window: list[dict] = []
        self._t_window = time.perf_counter()

    @functools.cached_property
    def checkpoints(self) -> TrainCheckpoints:
        """The run's checkpoint manager, opened on first use (a run that fails its checks opens none)."""
        return TrainCheckpoints(self.workdir, keep=self._keep)

    def __enter__(self) -> TrainRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def resume(self, state: Any, mesh) -> tuple[Any, dict | None]:
        """The state of the newest checkpoint (replicated on `mesh`) and its meta, or `state` and None.

        Metrics lines logged after that checkpoint (by the interrupted run) are dropped, so the resumed run
        writes them once.

        Args:
            state: The freshly initialised state (gives the tree structure, shapes and shardings).
            mesh: The run's mesh.

        Raises:
            CheckpointError: If the stored arrays do not fit `state`.
        """
        step = self.checkpoints.latest_step()
        if step is None:
            return state, None
        state, meta = self.checkpoints.restore(state)  # the newest good step (a damaged newer one is set aside)
        self._truncate_metrics(self.checkpoints.restored_step)
        return sharding.replicate(mesh, state), meta

    def _truncate_metrics(self, step: int) -> None:
        if not self.metrics_path.is_file():
            return
        text = self.metrics_path.read_text("utf-8", errors="replace")
        keep = [line for line in text.splitlines() if _logged_step(line) <= step]
        with atomic_write(self.metrics_path) as f:
            f.write("".join(line + "\n" for line in keep))

    def log(self, entry: dict) -> None:
        """Append one line to ``metrics.jsonl``."""
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def start(self, total: int, start: int) -> None:
        """Open the progress bar at step `start` of `total` and start the steps-per-second clock."""
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, initial=start, desc=f"train {self.config.name}", unit="step",
                         disable=not self.config.progress, dynamic_ncols=True)  # fmt: skip
        self._window, self._t_window = [], time.perf_counter()

    def record(self, done: int, out: dict, *, log: bool, epoch: float, lr: float) -> dict | None:
        """Count a finished step; with `log`, write the train line of the steps since the last one.

        Args:
            done: Steps done.
            out: The step's scalar metrics (device arrays: read only when logging, which keeps the loop
                asynchronous in between).
            log: Write the line now.
            epoch: The line's ``epoch``.
            lr: The line's learning rate.

        Returns:
            The logged means (the step metrics' names), or None when nothing was logged.
        """
        self._window.append(out)
        self._bar.update(1)
        if not log:
            return None
        vals = {k: float(np.mean([float(o[k]) for o in self._window])) for k in self._window[0]}
        now = time.perf_counter()
        self.log({"step": done, "epoch": epoch, "split": "train", **vals, "lr": lr,
                  "steps_per_s": len(self._window) / (now - self._t_window)})  # fmt: skip
        self._window, self._t_window = [], now
        return vals

    def show(self, **values: str) -> None:
        """Show values beside the progress bar."""
        self._bar.set_postfix(**values)

    def write(self, message: str) -> None:
        """Print a line above the progress bar."""
        self._bar.write(message)

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Checkpoint the state after `step` steps (`meta`: JSON, e.g. the data position)."""
        self.checkpoints.save(step, state, meta)

    def close(self) -> None:
        """Close the progress bar and the checkpoint manager."""
        if self._bar is not None:
            self._bar.close()
        if "checkpoints" in self.__dict__:  # opened
            self.checkpoints.close()

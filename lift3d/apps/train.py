"""`lift3d train lifter | lifter-selfsup | algebraic | volumetric`: train a model from a config file; print the
summary (JSON)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

from lift3d.apps.options import check_options, option
from lift3d.core.skeleton import get_skeleton
from lift3d.errors import ConfigError

__all__ = ["TrainLifterConfig", "TrainLifterSelfSupConfig", "TrainTriangulationConfig", "run"]


@dataclasses.dataclass(frozen=True)
class TrainLifterConfig:
    """Options of `lift3d train lifter`."""

    config: str = option(help="config file, optionally :variant")
    workdir: Path = option(help="run folder (checkpoints, metrics.jsonl)")
    data: str | None = option(
        None,
        help="train on this instead of the synthetic twin: a Human3.6M layout (VideoPose3D npz, Martinez h5 "
        "tree, learnable-triangulation labels; S1,S5-S8 train, S9,S11 test), a motion file or folder (.trc .c3d "
        ".csv .npz, seen by virtual cameras), or 'deepmimic' (`lift3d fetch deepmimic`)",
    )
    rig: Path | None = option(
        None, help="with motion files: the rig they were triangulated with (its cameras see them too)"
    )
    up: Literal["auto", "z", "y"] = option(
        "auto", help="with motion files that do not record it: their vertical axis (auto: from the body)"
    )


@dataclasses.dataclass(frozen=True)
class TrainLifterSelfSupConfig:
    """Options of `lift3d train lifter-selfsup` (fine-tuning from a capture's 2D and its rig, no 3D)."""

    config: str = option(help="config file, optionally :variant (e.g. experiments/lifter_selfsup.py:real)")
    workdir: Path = option(help="run folder (checkpoints, metrics.jsonl, lifter/ for lift3d lift --checkpoint)")
    keypoints: tuple[Path, ...] | None = option(
        None, unique=True, help="the capture's 2D keypoints: one folder or file per camera (or their parent)"
    )
    rig: Path | None = option(None, help="the capture's calibration (rig file naming the keypoints' cameras)")
    skeleton: str | None = option(None, check=get_skeleton, help="detector skeleton, e.g. body_25b")
    init: Path | None = option(
        None, metavar="CHECKPOINT", help="lifter folder to start from (default: the config's, else the shipped one)"
    )

    def __post_init__(self):
        check_options(self)


@dataclasses.dataclass(frozen=True)
class TrainTriangulationConfig:
    """Options of `lift3d train algebraic` and `lift3d train volumetric` (learnable triangulation)."""

    config: str = option(help="config file, optionally :variant")
    workdir: Path = option(help="run folder (checkpoints, metrics.jsonl)")
    model: Literal["algebraic", "volumetric"] = option(
        "algebraic", cli=False, help="the model the config must describe (the subcommand)"
    )
    data: Path | None = option(
        None, metavar="ROOT", help="learnable-triangulation Human3.6M root (extra/ labels, processed/ images)"
    )
    init_backbone_from: Path | None = option(
        None, metavar="WORKDIR", help="start the backbone from a trained run's model (the paper's volumetric recipe)"
    )


def run(config: TrainLifterConfig | TrainLifterSelfSupConfig | TrainTriangulationConfig) -> dict:
    """Train (resuming from the workdir's latest checkpoint) and print the summary as JSON."""
    if isinstance(config, TrainLifterSelfSupConfig):
        summary = _run_selfsup(config)
    elif isinstance(config, TrainLifterConfig):
        from lift3d.train.lifter_trainer import load_config, train_and_evaluate

        run_config = load_config(config.config)
        if config.data is None and (config.rig is not None or config.up != "auto"):
            raise ConfigError("--rig and --up describe the motion files of --data: give --data too")
        if config.data is not None:
            run_config = dataclasses.replace(run_config, data=config.data, up=config.up,
                                             rig=None if config.rig is None else str(config.rig))  # fmt: skip
        summary = train_and_evaluate(run_config, config.workdir)
    else:
        from lift3d.train.lt_config import with_data_root
        from lift3d.train.lt_trainer import load_config, train_and_evaluate

        run_config = load_config(config.config)
        if run_config.model != config.model:
            raise ConfigError(f"{config.config} is a {run_config.model!r} config, not {config.model!r}")
        if config.data is not None:
            run_config = with_data_root(run_config, str(config.data))
        if config.init_backbone_from is not None:
            run_config = dataclasses.replace(run_config, init_backbone_from=str(config.init_backbone_from))
        summary = train_and_evaluate(run_config, config.workdir)
    print(json.dumps(summary, indent=2, default=str))
    return summary


def _run_selfsup(config: TrainLifterSelfSupConfig) -> dict:
    """`lift3d train lifter-selfsup`: the config file's run with the capture given on the command line."""
    from lift3d.train.lifter_selfsup import load_config, train_and_evaluate

    run_config = load_config(config.config)
    given = {"keypoints": config.keypoints, "rig": config.rig, "skeleton": config.skeleton}
    if run_config.source == "twin" and any(v is not None for v in given.values()):
        names = ", ".join("--" + k for k, v in given.items() if v is not None)
        raise ConfigError(f"{config.config} fine-tunes on the synthetic twin; {names} describe a capture: use a "
                          "variant with source 'keypoints' (e.g. :real)")  # fmt: skip
    changes: dict = {}
    if config.keypoints is not None:
        changes["keypoints"] = tuple(str(p) for p in config.keypoints)
    if config.rig is not None:
        changes["rig"] = str(config.rig)
    if config.skeleton is not None:
        changes["skeleton"] = config.skeleton
    if config.init is not None:
        changes["init"] = str(config.init)
    return train_and_evaluate(dataclasses.replace(run_config, **changes), config.workdir)

"""`lift3d train lifter | algebraic | volumetric`: train a model from a config file; print the summary (JSON)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

from lift3d.apps.options import option
from lift3d.errors import ConfigError

__all__ = ["TrainLifterConfig", "TrainTriangulationConfig", "run"]


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


def run(config: TrainLifterConfig | TrainTriangulationConfig) -> dict:
    """Train (resuming from the workdir's latest checkpoint) and print the summary as JSON."""
    if isinstance(config, TrainLifterConfig):
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

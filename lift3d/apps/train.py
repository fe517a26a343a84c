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


@dataclasses.dataclass(frozen=True)
class TrainTriangulationConfig:
    """Options of `lift3d train algebraic` and `lift3d train volumetric` (learnable triangulation)."""

    config: str = option(help="config file, optionally :variant")
    workdir: Path = option(help="run folder (checkpoints, metrics.jsonl)")
    model: Literal["algebraic", "volumetric"] = option(
        "algebraic", cli=False, help="the model the config must describe (the subcommand)"
    )


def run(config: TrainLifterConfig | TrainTriangulationConfig) -> dict:
    """Train (resuming from the workdir's latest checkpoint) and print the summary as JSON."""
    if isinstance(config, TrainLifterConfig):
        from lift3d.train.lifter_trainer import load_config, train_and_evaluate

        summary = train_and_evaluate(load_config(config.config), config.workdir)
    else:
        from lift3d.train.lt_trainer import load_config, train_and_evaluate

        run_config = load_config(config.config)
        if run_config.model != config.model:
            raise ConfigError(f"{config.config} is a {run_config.model!r} config, not {config.model!r}")
        summary = train_and_evaluate(run_config, config.workdir)
    print(json.dumps(summary, indent=2, default=str))
    return summary

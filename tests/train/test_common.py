"""What the trainers share: typed config files, the config check of a run folder, metrics truncation on resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from lift3d.errors import CheckpointError
from lift3d.train.common import TrainRun, check_same_config, load_config_file
from lift3d.train.lifter_trainer import LifterConfig
from lift3d.train.lt_config import LTConfig

ROOT = Path(__file__).resolve().parents[2]


def test_config_files_are_typed():
    assert isinstance(load_config_file(f"{ROOT / 'experiments' / 'lt_synthetic.py'}:smoke", LTConfig), LTConfig)
    with pytest.raises(TypeError, match="LTConfig, this trainer takes a LifterConfig"):
        load_config_file(f"{ROOT / 'experiments' / 'lt_synthetic.py'}:smoke", LifterConfig)


def test_same_config_check(tmp_path):
    config = LifterConfig(width=32)
    check_same_config(tmp_path, config)
    assert json.loads((tmp_path / "config.json").read_text())["width"] == 32
    check_same_config(tmp_path, dataclasses.replace(config, progress=False, max_steps=7, log_every=3))
    with pytest.raises(CheckpointError, match=r"width: 32 -> 48"):
        check_same_config(tmp_path, dataclasses.replace(config, width=48))


def test_resume_without_checkpoint_keeps_the_state_and_opens_nothing(tmp_path):
    with TrainRun(tmp_path, LifterConfig(), keep_checkpoints=1) as run:
        run.log({"step": 1, "epoch": 0, "split": "train"})
        state = {"step": 0}
        assert run.resume(state, mesh=None) == (state, None)
    assert [json.loads(x)["step"] for x in run.metrics_path.read_text().splitlines()] == [1]

"""A damaged latest training checkpoint: resume from the previous good one, with a warning; a damaged
``config.json`` or ``metrics.jsonl`` in the run folder: a `CheckpointError` naming it, or the cut line dropped."""

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from lift3d.errors import CheckpointError
from lift3d.train.checkpoint import TrainCheckpoints
from lift3d.train.common import TrainRun, check_same_config
from lift3d.train.lifter_trainer import LifterConfig


def _state(step: int) -> dict:
    return {"w": np.full((4, 3), float(step), np.float32), "step": np.array(step, np.int32)}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _truncate(folder: Path) -> None:
    for f in _files(folder / "state"):
        f.write_bytes(f.read_bytes()[: os.path.getsize(f) // 2])


def _flip_bits(folder: Path) -> None:
    for f in _files(folder / "state"):
        raw = bytearray(f.read_bytes())
        for i in range(0, len(raw), 5):
            raw[i] ^= 0x24
        f.write_bytes(bytes(raw))


def _delete_arrays(folder: Path) -> None:
    for f in _files(folder / "state"):
        if f.parent.name == "d":
            f.unlink()


def _corrupt_meta(folder: Path) -> None:
    (folder / "meta" / "metadata").write_text('{"epoch": ')


@pytest.mark.parametrize("damage", [_truncate, _flip_bits, _delete_arrays, _corrupt_meta])
def test_damaged_latest_checkpoint_falls_back_to_the_previous(tmp_path, damage):
    ckpts = TrainCheckpoints(tmp_path, keep=3)
    for step in (1, 2, 3):
        ckpts.save(step, _state(step), {"epoch": step})
    damage(ckpts.directory / "3")
    with pytest.warns(UserWarning, match=r"checkpoint\(s\) 3 cannot be read, resuming from step 2; moved to "
                                         r".*corrupt_checkpoints"):  # fmt: skip
        state, meta = TrainCheckpoints(tmp_path, keep=3).restore(_state(0))
    assert int(state["step"]) == 2 and meta == {"epoch": 2}
    np.testing.assert_array_equal(state["w"], _state(2)["w"])
    assert (tmp_path / "corrupt_checkpoints" / "3").is_dir()
    again = TrainCheckpoints(tmp_path, keep=3)
    assert again.latest_step() == 2  # the damaged step is out of the way: the run saves step 3 anew
    again.save(3, _state(3), {"epoch": 3})
    state, meta = again.restore(_state(0))
    assert int(state["step"]) == 3 and again.restored_step == 3


def test_every_checkpoint_damaged_is_an_error(tmp_path):
    ckpts = TrainCheckpoints(tmp_path, keep=2)
    for step in (1, 2):
        ckpts.save(step, _state(step), {"epoch": step})
        _truncate(ckpts.directory / str(step))
    with pytest.raises(CheckpointError, match=r"checkpoints/2: cannot be restored"):
        TrainCheckpoints(tmp_path, keep=2).restore(_state(0))
    assert not (tmp_path / "corrupt_checkpoints").exists()  # nothing to fall back to: nothing is moved


def test_another_model_is_an_error_not_a_fallback(tmp_path):
    ckpts = TrainCheckpoints(tmp_path, keep=2)
    for step in (1, 2):
        ckpts.save(step, _state(step), {"epoch": step})
    with pytest.raises(CheckpointError, match=r"checkpoints/2: cannot be restored: array w has shape \(4, 3\), "
                                              r"this model / config expects \(5, 3\)"):  # fmt: skip
        TrainCheckpoints(tmp_path, keep=2).restore({"w": np.zeros((5, 3), np.float32), "step": np.array(0, np.int32)})
    assert TrainCheckpoints(tmp_path, keep=2).latest_step() == 2


def test_resume_drops_the_metrics_of_the_lost_steps(tmp_path):
    config = LifterConfig(width=8, progress=False)
    mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    with TrainRun(tmp_path, config, keep_checkpoints=2) as run:
        for step in (1, 2):
            run.log({"step": step, "epoch": 0, "split": "train"})
            run.checkpoints.save(step, _state(step), {"epoch": step})
        with open(run.metrics_path, "a") as f:
            f.write('{"step": 3, "epoch": 0, "spl')  # a line cut short by a crash
    _truncate(tmp_path / "checkpoints" / "2")
    with TrainRun(tmp_path, config, keep_checkpoints=2) as run, pytest.warns(UserWarning, match="from step 1"):
        state, meta = run.resume(_state(0), mesh)
    assert int(state["step"]) == 1 and meta == {"epoch": 1}
    assert [json.loads(x)["step"] for x in run.metrics_path.read_text().splitlines()] == [1]


@pytest.mark.parametrize("text", ['{"width": 8, "dropo', "[1, 2]", "\udcff"])
def test_corrupt_config_json_names_the_file(tmp_path, text):
    (tmp_path / "config.json").write_text(text, errors="surrogateescape")
    with pytest.raises(CheckpointError, match=r"config\.json: not a (readable )?config"):
        check_same_config(tmp_path, LifterConfig())

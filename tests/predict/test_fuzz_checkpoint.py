"""Fuzzing the lifter's inference checkpoint: damaged files give a `LoadedLifter` or a `CheckpointError`.

A tiny checkpoint is written once with `save_lifter`; each example damages one of its files (``lifter.json``, or
one of orbax's files under ``weights/``: deleted, replaced by random bytes, truncated, bit flips, bytes inserted or
deleted, numbers replaced) or gives ``lifter.json`` keys of the wrong type, then loads it with `load_lifter`.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from flax import nnx
from fuzzing import fuzz_settings, mutated, mutated_tree, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st

from lift3d.core.skeleton import H36M_17
from lift3d.errors import CheckpointError
from lift3d.models.lifter import Lifter
from lift3d.predict.checkpoint import save_lifter
from lift3d.predict.lifter import LoadedLifter, load_lifter

MODEL = {"num_joints": 17, "root_index": 0, "width": 8, "num_blocks": 1, "dropout": 0.5, "bn_momentum": 0.99}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    _, params, stats = nnx.split(Lifter(**MODEL, rngs=nnx.Rngs(0)), nnx.Param, nnx.BatchStat)
    path = tmp_path_factory.mktemp("fuzz_checkpoint") / "lifter"
    return save_lifter(path, params=nnx.to_pure_dict(params), batch_stats=nnx.to_pure_dict(stats),
                       model_kwargs=MODEL, info={"skeleton": H36M_17.name})  # fmt: skip


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _copy(checkpoint: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "lifter"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(checkpoint, dest)
    return dest


def _load(path: Path, names: str):
    lifter = read_or_error(load_lifter, path, CheckpointError, names=names)
    if lifter is not None:
        assert isinstance(lifter, LoadedLifter)
        for w, b in lifter.layers:
            assert np.all(np.isfinite(np.asarray(w, np.float32))) and np.all(np.isfinite(np.asarray(b)))
    return lifter


def test_seed_is_valid(checkpoint, tmp_path):
    assert _load(_copy(checkpoint, tmp_path), "lifter") is not None
    assert "lifter.json" in _files(checkpoint) and any(f.startswith("weights/") for f in _files(checkpoint))


@fuzz_settings(60)
@given(data=st.data())
def test_damaged_files(checkpoint, tmp_path, data):
    path = _copy(checkpoint, tmp_path)
    name = data.draw(st.sampled_from(_files(path)))
    how = data.draw(st.integers(0, 9))
    if how == 0:
        (path / name).unlink()
    elif how == 1:
        (path / name).write_bytes(data.draw(random_bytes))
    else:
        (path / name).write_bytes(data.draw(mutated((path / name).read_bytes())))
    _load(path, "lifter")


@fuzz_settings(80)
@given(data=st.data())
def test_wrong_types_in_lifter_json(checkpoint, tmp_path, data):
    path = _copy(checkpoint, tmp_path)
    meta = json.loads((path / "lifter.json").read_text())
    (path / "lifter.json").write_text(json.dumps(data.draw(mutated_tree(meta))))
    _load(path, "lifter")


@pytest.mark.parametrize("part", ["lifter.json", "weights"])
def test_truncated_checkpoint(checkpoint, tmp_path, part):
    path = _copy(checkpoint, tmp_path)
    files = [path / f for f in _files(path) if f.startswith(part)]
    for f in files:
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match=r"lifter/(lifter\.json: invalid JSON|weights: )"):
        load_lifter(path)


def test_bit_flipped_weights(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    for f in (path / n for n in _files(path) if n.startswith("weights/")):
        raw = bytearray(f.read_bytes())
        for i in range(0, len(raw), 7):
            raw[i] ^= 0x10
        f.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"lifter/weights: "):
        load_lifter(path)


def test_corrupt_lifter_json_names_the_file_and_field(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    (path / "lifter.json").write_text('{"format": "lift3d-lifter/1", "model": {"width": "wide"}, "skeleton": "h36m"}')
    with pytest.raises(CheckpointError, match=r"lifter\.json: field 'model\.width': expected int"):
        load_lifter(path)
    (path / "lifter.json").write_text('{"format": "lift3d-lifter/1", "model": {"widt')
    with pytest.raises(CheckpointError, match=r"lifter\.json: invalid JSON"):
        load_lifter(path)

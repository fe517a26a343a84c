"""`lift3d lift` (`lift3d.apps.lift`): read keypoints, lift them with the shipped lifter, write npz / TRC."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.lift import LiftConfig, run_lift
from lift3d.errors import ConfigError, LiftInputError, OutputError
from lift3d.io.keypoints import read_openpose
from lift3d.io.rigs import load_rig
from lift3d.predict.lifter import lift_keypoints, load_lifter

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pose2sim_trials"
BALANCING = DATA / "single_BalancingTrial" / "pose"
needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is not present")


@pytest.fixture(scope="module")
def shipped():
    return load_lifter()


@needs_shared
def test_run_lift_writes_npz_and_motion_files(shipped, tmp_path):
    src = tmp_path / "pose"
    for cam in ("cam01_json", "cam03_json"):
        (src / cam).mkdir(parents=True)
        for f in sorted((BALANCING / cam).glob("*.json"))[:6]:
            shutil.copy(f, src / cam / f.name)
    rig = load_rig(DATA / "Calib_qualisys_from_v0.4.15.toml")
    res = lift_keypoints(read_openpose(src, skeleton="body_25b"), checkpoint=shipped, rig=rig)
    out = run_lift(src, skeleton="body_25b", out=tmp_path / "out.trc", rig=DATA / "Calib_qualisys_from_v0.4.15.toml")
    assert [p.suffix for p in out] == [".npz", ".trc"]
    data = np.load(out[0])
    assert data["points_3d"].shape == res.points_3d.shape and str(data["units"]) == "mm"
    assert "cam01_pelvis" in out[1].read_text().splitlines()[3]
    lines = []
    npz = run_lift(src, skeleton="body_25b", out=tmp_path / "o.npz", image_size=(1088, 1920), echo=lines.append)
    assert str(np.load(npz[0])["intrinsics"]) == "image_size"
    table = lines[0].splitlines()
    assert len(table) == 1 + len(res.views) and table[1].split()[0] == res.views[0]
    lifted = np.isfinite(res.points_3d[:, 0]).all((-1, -2)).sum()  # poses of the first view with an output
    assert int(table[1].split()[2]) == lifted > 0


@needs_shared
def test_run_lift_bad_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LiftInputError, match="empty folder"):
        run_lift(empty, skeleton="body_25b", out=tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="not found"):
        run_lift(tmp_path / "nope", skeleton="body_25b", out=tmp_path / "x.npz")
    src = tmp_path / "pose" / "cam01_json"
    src.mkdir(parents=True)
    for f in sorted((BALANCING / "cam01_json").glob("*.json"))[:2]:
        shutil.copy(f, src / f.name)
    with pytest.raises(OutputError, match=r"x\.txt: unknown extension '\.txt'; use \.npz, \.trc, \.c3d or \.csv"):
        run_lift(src.parent, skeleton="body_25b", out=tmp_path / "x.txt")  # refused before reading anything


def test_config_defaults_are_the_library_ones_and_bad_values_are_config_errors():
    assert LiftConfig.min_confidence == 0.3  # lift_keypoints' default, read from its signature
    with pytest.raises(ConfigError, match="fps"):
        LiftConfig(keypoints=(Path("k"),), out=Path("o.npz"), fps=-1.0)

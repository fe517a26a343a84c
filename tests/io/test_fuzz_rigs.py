"""Fuzzing the rig readers: any bytes give a `Rig` or a `RigFileError` naming the file, never another error.

Inputs: random bytes under each name `load_rig` sniffs; damaged copies of real files (Pose2Sim's TOML, the
Qualisys ``.qca.txt``, OpenCV's YAML) and of files lift3d / OpenCV write (TOML, stereo XML); valid TOML with
keys deleted or values of the wrong type.
"""

import tempfile
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from fuzzing import dump_toml, fuzz_settings, mutated, mutated_tree, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st
from rigs import ring

from lift3d.core.rig import Rig
from lift3d.errors import RigFileError
from lift3d.io.rig_toml import save_rig
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL = {
    "Calib.toml": SHARED / "pose2sim_trials" / "Calib_qualisys_from_v0.4.15.toml",
    "Calib.qca.txt": SHARED / "pose2sim_trials" / "Calib.qca.txt",
    "left_intrinsics.yml": SHARED / "opencv_stereo_chessboard" / "left_intrinsics.yml",
}
NAMES = ["rig.toml", "rig.qca.txt", "rig.yml", "rig.xml", "rig"]


def _written() -> dict[str, bytes]:
    """Files written by lift3d (TOML) and by OpenCV (a stereo pair as XML), plus the real ones present."""
    out = {name: path.read_bytes() for name, path in REAL.items() if path.is_file()}
    rig = Rig(names=("cam1", "cam2", "cam3", "cam4"), cameras=ring(), units="m")
    with tempfile.TemporaryDirectory() as tmp:
        out["saved.toml"] = save_rig(rig, Path(tmp) / "saved.toml").read_bytes()
        fs = cv2.FileStorage(str(Path(tmp) / "stereo.xml"), cv2.FILE_STORAGE_WRITE)
        for key, value in {"M1": np.diag([500.0, 500.0, 1.0]), "D1": np.zeros((1, 5)),
                           "M2": np.diag([510.0, 505.0, 1.0]), "D2": np.full((1, 5), 0.01), "R": np.eye(3),
                           "T": np.array([[-0.1], [0.0], [0.0]]), "image_width": 640, "image_height": 480}.items():
            fs.write(key, value)  # fmt: skip
        fs.release()
        out["stereo.xml"] = (Path(tmp) / "stereo.xml").read_bytes()
    return out


SEEDS = _written()


def _check(rig) -> None:
    if rig is None:
        return
    assert isinstance(rig, Rig)
    cams = rig.cameras
    for field in (cams.K, cams.R, cams.t, cams.dist, cams.image_size):
        assert np.all(np.isfinite(np.asarray(field))), "a rig with non-finite numbers"


def _load(tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return read_or_error(load_rig, path, RigFileError)


@fuzz_settings(300)
@given(name=st.sampled_from(NAMES), data=random_bytes)
def test_random_bytes(tmp_path, name, data):
    _check(_load(tmp_path, name, data))


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seeds_are_valid(tmp_path, seed):
    _check(_load(tmp_path, seed, SEEDS[seed]))
    assert _load(tmp_path, seed, SEEDS[seed]) is not None


@fuzz_settings(200)
@given(data=st.data())
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_damaged_files(tmp_path, seed, data):
    _check(_load(tmp_path, seed, data.draw(mutated(SEEDS[seed]))))


@fuzz_settings(300)
@given(data=st.data())
@pytest.mark.parametrize("seed", ["Calib.toml", "saved.toml"])
def test_wrong_types_in_toml(tmp_path, seed, data):
    if seed not in SEEDS:
        pytest.skip("../shared/data is not present")
    tree = tomllib.loads(SEEDS[seed].decode())
    _check(_load(tmp_path, "rig.toml", dump_toml(data.draw(mutated_tree(tree))).encode()))

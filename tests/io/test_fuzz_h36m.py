"""Fuzzing the Human3.6M readers: any bytes give an `H36MDataset` or an `H36MFormatError` naming the file.

Layouts: VideoPose3D (3D and 2D npz, pickles), Martinez (``cameras.h5`` and a pose ``.h5``), learnable-
triangulation (a pickled ``.npy``), each read through `lift3d.datasets.h36m`'s loader. Inputs: random bytes,
damaged copies of files lift3d writes, and pickles that name other classes than numpy's arrays (refused, never
run).
"""

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import fuzz_settings, mutated, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st

from lift3d.datasets import h36m
from lift3d.errors import H36MFormatError

RNG = np.random.default_rng(0)
NAMES = {"vp3d_3d": "data_3d_h36m.npz", "vp3d_2d": "data_2d_h36m_gt.npz", "cameras": "cameras.h5",
         "poses": "Walking 1.h5", "lt": "human36m-multiview-labels-GTbboxes.npy"}  # fmt: skip


def _seeds() -> dict[str, bytes]:
    rig = h36m.h36m_cameras("S1")
    p3 = RNG.normal(0, 500, (3, 17, 3)).astype(np.float32)
    ds = h36m.H36MDataset([h36m.Sequence("S1", "Walking 1", np.arange(3), p3)], {"S1": rig})
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        p3d, p2d = h36m.write_videopose3d(ds, tmp)
        h36m.write_martinez(ds, tmp / "martinez")
        lt = h36m.write_learnable_triangulation_labels(ds, tmp / NAMES["lt"])
        poses = tmp / "martinez" / "S1" / "MyPoses" / "3D_positions" / NAMES["poses"]
        for key, path in (("vp3d_3d", p3d), ("vp3d_2d", p2d), ("cameras", tmp / "martinez" / "cameras.h5"),
                          ("poses", poses), ("lt", lt)):  # fmt: skip
            out[key] = path.read_bytes()
    return out


SEEDS = _seeds()


def _load(tmp_path: Path, seed: str, data: bytes):
    """Write `data` as the `seed` file (the other files of its layout intact) and load the layout."""
    if seed.startswith("vp3d"):
        for key in ("vp3d_3d", "vp3d_2d"):
            (tmp_path / NAMES[key]).write_bytes(data if key == seed else SEEDS[key])
        path, load = tmp_path / NAMES[seed], lambda _: h36m.load_h36m(tmp_path / NAMES["vp3d_3d"])
    elif seed in ("cameras", "poses"):
        poses = tmp_path / "S1" / "MyPoses" / "3D_positions"
        poses.mkdir(parents=True, exist_ok=True)
        (tmp_path / NAMES["cameras"]).write_bytes(data if seed == "cameras" else SEEDS["cameras"])
        (poses / NAMES["poses"]).write_bytes(data if seed == "poses" else SEEDS["poses"])
        path = tmp_path / NAMES["cameras"] if seed == "cameras" else poses / NAMES["poses"]
        load = lambda _: h36m.load_martinez(tmp_path)  # noqa: E731
    else:
        path, load = tmp_path / NAMES[seed], h36m.load_learnable_triangulation
        path.write_bytes(data)
    ds = read_or_error(load, path, H36MFormatError)
    if ds is not None:
        assert isinstance(ds, h36m.H36MDataset)
        for rig in ds.rigs.values():
            for field in (rig.cameras.K, rig.cameras.R, rig.cameras.t, rig.cameras.dist):
                assert np.all(np.isfinite(np.asarray(field))), "a rig with non-finite numbers"
    return ds


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seeds_are_valid(tmp_path, seed):
    assert _load(tmp_path, seed, SEEDS[seed]) is not None


@fuzz_settings(60)
@given(data=random_bytes)
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_random_bytes(tmp_path, seed, data):
    _load(tmp_path, seed, data)


@fuzz_settings(120)
@given(data=st.data())
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_damaged_files(tmp_path, seed, data):
    _load(tmp_path, seed, data.draw(mutated(SEEDS[seed])))


class _Boom:
    """Unpickling this would call `print` (any callable would do): the readers must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled: code ran",))


@pytest.mark.parametrize("seed", ["vp3d_3d", "lt"])
def test_pickles_naming_other_classes_are_refused(tmp_path, seed, capsys):
    payload = np.empty((), dtype=object)
    payload[()] = {"S1": {"Walking 1": _Boom()}}
    path, data = tmp_path / NAMES[seed], io.BytesIO()
    if seed == "lt":
        np.save(data, payload, allow_pickle=True)
    else:
        np.savez(data, positions_3d=payload, allow_pickle=True)
    path.write_bytes(data.getvalue())
    load = h36m.load_learnable_triangulation if seed == "lt" else h36m.load_videopose3d
    with pytest.raises(H36MFormatError, match=r"refusing to load builtins\.print"):
        load(path)
    assert "code ran" not in capsys.readouterr().out

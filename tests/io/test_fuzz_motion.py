"""Fuzzing the motion readers: any bytes give a valid `Motion` or a `MotionFileError` naming the file.

Readers: TRC, C3D (ezc3d), CSV and npz, through `read_motion`. Inputs: random bytes under each extension;
damaged copies of files `write_motion` writes (with missing joints and diagnostics, Z-up and Y-up); npz files of
object arrays (never unpickled) and text named ``.npz``.
"""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzzing import fuzz_settings, mutated, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st

from lift3d.core.motion import UNITS, Motion
from lift3d.errors import MotionFileError
from lift3d.io.motion import read_motion, write_motion

EXTENSIONS = (".trc", ".c3d", ".csv", ".npz")
NAMES = ("nose", "left_hip", "right_hip")


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    points = rng.normal(0, 1, (6, len(NAMES), 3))
    points[2, 1] = np.nan
    error = rng.uniform(0, 20, (6, len(NAMES)))
    ncams = rng.integers(2, 5, (6, len(NAMES))).astype(float)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ext in EXTENSIONS:
            for y_up in (False, True):
                path = write_motion(Path(tmp) / f"m{ext}", points, joint_names=NAMES, fps=60, units="m",
                                    error=error, ncams=ncams, y_up=y_up, frame_ids=np.arange(6) + 10)  # fmt: skip
                out[f"{ext[1:]}{'_yup' if y_up else ''}"] = path.read_bytes()
    return out


SEEDS = _seeds()


def _check(m) -> None:
    """A `Motion` whose fields fit together (the dataclass itself checks nothing)."""
    if m is None:
        return
    assert isinstance(m, Motion)
    t, j = m.points.shape[:2]
    assert m.points.dtype == np.float64 and m.points.shape == (t, j, 3)
    assert len(m.joint_names) == j and all(isinstance(n, str) for n in m.joint_names)
    assert isinstance(m.fps, float) and np.isfinite(m.fps) and m.fps > 0
    assert m.units in UNITS
    assert m.frame_ids.dtype == np.int64 and m.frame_ids.shape == (t,)
    assert np.shape(m.time) == (t,)
    for diag in (m.error, m.ncams, m.score):
        assert diag is None or np.shape(diag) == (t, j)
    assert m.y_up in (None, True, False)


def _read(tmp_path: Path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    m = read_or_error(read_motion, path, MotionFileError)
    _check(m)
    return m


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seeds_are_valid(tmp_path, seed):
    assert _read(tmp_path, f"m.{seed.split('_')[0]}", SEEDS[seed]) is not None


@fuzz_settings(120)
@given(data=random_bytes)
@pytest.mark.parametrize("ext", EXTENSIONS)
def test_random_bytes(tmp_path, ext, data):
    _read(tmp_path, f"m{ext}", data)


@fuzz_settings(150)
@given(data=st.data())
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_damaged_files(tmp_path, seed, data):
    _read(tmp_path, f"m.{seed.split('_')[0]}", data.draw(mutated(SEEDS[seed])))


def test_npz_of_object_arrays_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, points=np.zeros((2, 1, 3)), joint_names=np.array([["nose"]], dtype=object), fps=np.array(60.0),
             units=np.array("m"), allow_pickle=True)  # fmt: skip
    with pytest.raises(MotionFileError, match=r"m\.npz: array 'joint_names'.*Python objects"):
        read_motion(path)


def test_text_named_npz(tmp_path):
    (tmp_path / "m.npz").write_text("frame,time_s\n0,0\n")
    with pytest.raises(MotionFileError, match=r"m\.npz: not a readable \.npz file"):
        read_motion(tmp_path / "m.npz")


def test_c3d_reader_reads_what_ezc3d_reads(tmp_path):
    """lift3d reads C3D with numpy alone (`lift3d.io._c3d`); on the files ezc3d writes it agrees with ezc3d."""
    import ezc3d

    for seed in ("c3d", "c3d_yup"):
        path = tmp_path / "m.c3d"
        path.write_bytes(SEEDS[seed])
        ours, theirs = read_motion(path), ezc3d.c3d(str(path))
        xyz = theirs["data"]["points"][:3].transpose(2, 1, 0)
        residual = theirs["data"]["meta_points"]["residuals"][0].T
        np.testing.assert_array_equal(ours.points, np.where((residual >= 0)[..., None], xyz, np.nan))
        np.testing.assert_array_equal(ours.error, np.where(residual >= 0, residual, np.nan))
        point = theirs["parameters"]["POINT"]
        assert ours.joint_names == tuple(point["LABELS"]["value"]) and ours.fps == point["RATE"]["value"][0]
        assert ours.frame_ids[0] == theirs["header"]["points"]["first_frame"] and ours.units == "m"


def test_c3d_whose_parameters_ezc3d_loops_on(tmp_path):
    """A damaged C3D (found by the fuzzer) on which ezc3d 1.7.2 never returns: an error in milliseconds."""
    data = bytearray(SEEDS["c3d_yup"])
    data[70] = 0x20
    data[1726:1727] = b"[]"
    del data[1108:1115]
    (tmp_path / "m.c3d").write_bytes(bytes(data))
    with pytest.raises(MotionFileError, match=r"m\.c3d: cannot read C3D: parameter .* malformed"):
        read_motion(tmp_path / "m.c3d")

"""Fuzzing the board spec reader: any bytes give a `Board` or a `CalibrationError` naming the file.

Inputs: random bytes; damaged copies of the shipped specs (``calib/boards/*.toml``); the same specs as TOML
with keys deleted and values of the wrong type (huge corner counts, NaN sizes, text where numbers belong).
"""

import tomllib
import warnings
from pathlib import Path

import pytest
from fuzzing import dump_toml, fuzz_settings, mutated, mutated_tree, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st

from lift3d.errors import CalibrationError
from lift3d.io.boards import Board, load_board

SPECS = sorted((Path(__file__).resolve().parents[2] / "calib" / "boards").glob("*.toml"))
SEEDS = {p.name: p.read_bytes() for p in SPECS}


def _load(tmp_path: Path, data: bytes):
    path = tmp_path / "board.toml"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*looks the same turned by 180 degrees")
        board = read_or_error(load_board, path, CalibrationError)
    if board is not None:
        assert isinstance(board, Board) and board.num_corners >= 4
        assert board.object_points().shape == (board.num_corners, 3)
    return board


def test_seeds_are_valid(tmp_path):
    assert len(SEEDS) >= 3
    for data in SEEDS.values():
        assert _load(tmp_path, data) is not None


@fuzz_settings(200)
@given(data=random_bytes)
def test_random_bytes(tmp_path, data):
    _load(tmp_path, data)


@fuzz_settings(150)
@given(data=st.data())
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_damaged_specs(tmp_path, seed, data):
    _load(tmp_path, data.draw(mutated(SEEDS[seed])))


@fuzz_settings(200)
@given(data=st.data())
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_wrong_types_in_specs(tmp_path, seed, data):
    tree = data.draw(mutated_tree(tomllib.loads(SEEDS[seed].decode())))
    _load(tmp_path, dump_toml(tree).encode())

"""Fuzzing the video reader: any bytes in a video file give frames or a `VideoError` naming the file.

Inputs: random bytes; damaged copies of tiny MPEG-4 (mp4v) and MJPEG (avi) videos written here.
"""

import cv2
import numpy as np
import pytest
from fuzzing import fuzz_settings, mutated, random_bytes, read_or_error
from hypothesis import given
from hypothesis import strategies as st

from lift3d.errors import VideoError
from lift3d.io.videos import open_frames


def _video_bytes(tmp_path_factory, name: str, fourcc: str) -> bytes:
    path = tmp_path_factory.mktemp("seed") / name
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (16, 16))
    for f in range(6):
        writer.write(np.full((16, 16, 3), 40 * f, np.uint8))
    writer.release()
    return path.read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    return {name: _video_bytes(tmp_path_factory, name, cc) for name, cc in (("v.mp4", "mp4v"), ("v.avi", "MJPG"))}


def _read_all(path):
    source = open_frames(path)
    frames = list(source.frames())
    for index, image in frames:
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8, index
    return frames


def _load(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return read_or_error(_read_all, path, VideoError)


def test_seeds_are_valid(tmp_path, seeds):
    for name, data in seeds.items():
        assert len(_load(tmp_path, name, data)) == 6


@fuzz_settings(40)
@given(data=random_bytes)
def test_random_bytes(tmp_path, data):
    _load(tmp_path, "v.mp4", data)


@fuzz_settings(40)
@given(data=st.data())
@pytest.mark.parametrize("name", ["v.mp4", "v.avi"])
def test_damaged_videos(tmp_path, seeds, name, data):
    _load(tmp_path, name, data.draw(mutated(seeds[name])))

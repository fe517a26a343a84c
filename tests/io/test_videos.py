"""`lift3d.io.videos`: frames of tiny videos and image folders written here, and damaged ones named."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from lift3d.errors import InputWarning, VideoError
from lift3d.io.videos import _check_complete, open_frames

W, H = 32, 24


def write_video(path, frames=10, fps=25.0, fourcc="mp4v"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    for f in range(frames):
        image = np.zeros((H, W, 3), np.uint8)
        image[:, : 2 + 2 * f] = 255  # a bar growing with the frame number
        writer.write(image)
    writer.release()
    return path


@pytest.mark.parametrize(("name", "fourcc"), [("v.mp4", "mp4v"), ("v.avi", "MJPG")])
def test_a_video_knows_its_rate_count_and_size_and_yields_every_frame(tmp_path, name, fourcc):
    source = open_frames(write_video(tmp_path / name, 10, 25.0, fourcc))
    assert (source.kind, source.num_frames, source.fps, source.size) == ("video", 10, 25.0, (W, H))
    frames = list(source.frames())
    assert [i for i, _ in frames] == list(range(10))
    assert all(img.shape == (H, W, 3) and img.dtype == np.uint8 for _, img in frames)
    widths = [int((img[H // 2, :, 1] > 128).sum()) for _, img in frames]
    assert np.all(np.abs(np.array(widths) - (2 + 2 * np.arange(10))) <= 1)  # decoding order = frame order
    assert [i for i, _ in source.frames(every=3)] == [0, 3, 6, 9]
    assert [i for i, _ in source.frames(every=2, max_frames=2)] == [0, 2]


def test_a_truncated_video_is_an_error_naming_the_file_and_the_frame_after_the_frames_read(tmp_path):
    data = write_video(tmp_path / "full.avi", 30, fourcc="MJPG").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    source = open_frames(cut)
    assert source.num_frames == 30  # the header still advertises every frame
    read = []
    with pytest.raises(VideoError, match=r"cut\.avi: truncated or damaged: the decoder stops at frame (\d+) of the 30"):
        for index, _ in source.frames():
            read.append(index)
    assert 0 < len(read) < 30
    assert [i for i, _ in source.frames(max_frames=len(read))] == read  # the frames before the damage


def test_a_shortfall_within_the_tolerance_is_a_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_complete(tmp_path / "v.mp4", 99, 100, 1)
    assert caught[0].category is InputWarning and "frame 99 of the 100" in str(caught[0].message)


def test_files_that_are_not_videos_are_named(tmp_path):
    data = write_video(tmp_path / "full.mp4", 10).read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])  # the mp4 index (moov) lost
    (tmp_path / "junk.mp4").write_bytes(b"hello" * 50)
    (tmp_path / "notes.txt").write_text("hi")
    for name, message in [("half.mp4", "cannot be opened as a video"), ("junk.mp4", "cannot be opened as a video"),
                          ("notes.txt", "not a video"), ("missing.mp4", "no such video file or image folder")]:
        with pytest.raises(VideoError, match=f"{name}: {message}"):
            open_frames(tmp_path / name)


def test_an_image_folder_in_frame_number_order_with_damage_named(tmp_path):
    folder = tmp_path / "cam1"
    folder.mkdir()
    for n in (10, 2, 1):
        cv2.imwrite(str(folder / f"img_{n}.png"), np.full((H, W), n, np.uint8))  # grey: read as BGR
    source = open_frames(folder)
    assert (source.kind, source.num_frames, source.fps, source.size) == ("images", 3, None, (W, H))
    assert [f.name for f in source.files] == ["img_1.png", "img_2.png", "img_10.png"]
    frames = list(source.frames())
    assert [int(img[0, 0, 0]) for _, img in frames] == [1, 2, 10] and frames[0][1].shape == (H, W, 3)
    assert open_frames(folder, fps=30.0).fps == 30.0
    (folder / "img_3.png").write_bytes(b"broken")
    with pytest.raises(VideoError, match=r"img_3\.png: frame 2: cannot read this image"):
        list(open_frames(folder).frames())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoError, match="empty: no images"):
        open_frames(empty)

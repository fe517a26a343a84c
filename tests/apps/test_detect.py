"""`lift3d detect` with a fake detector (`detect_fakes`: coloured dots) on tiny videos written here."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from detect_fakes import CALLS, draw_dots

from lift3d.apps.detect import DetectConfig, run
from lift3d.cli import main
from lift3d.errors import InputWarning
from lift3d.io.keypoints import read_keypoints

W, H, FPS = 64, 48, 25.0


def green_at(frame: int) -> tuple[int, int]:
    return 10 + 2 * frame, 20


def write_video(path: Path, frames: int, *, fps: float = FPS, person: bool = True, fourcc: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    for f in range(frames):
        writer.write(draw_dots(W, H, green_at(f) if person else None, (40, 30) if person and f % 2 == 0 else None))
    writer.release()
    return path


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


@pytest.fixture(autouse=True)
def _counts():
    CALLS.update(made=0, frames=0)


def test_videos_give_json_and_npz_that_agree_an_overlay_and_completion_markers(tmp_path, capsys):
    videos = [write_video(tmp_path / "cam01.mp4", 12), write_video(tmp_path / "cam02.mp4", 12)]
    out = tmp_path / "pose"
    result = run(DetectConfig(inputs=tuple(videos), out=out, detector="detect_fakes:dots", overlay=True))
    assert [r.camera for r in result.cameras] == ["cam01", "cam02"]
    assert all(r.frames == 12 and r.detected_frames == 12 and not r.skipped for r in result.cameras)
    assert result.cameras[0].path == out / "cam01_json" and result.npz == out / "keypoints.npz"
    printed = capsys.readouterr().out
    assert "people found" in printed and "100.0 %" in printed and f"wrote {out / 'keypoints.npz'}" in printed
    from_json = read_keypoints([out / "cam01_json", out / "cam02_json"], skeleton="coco", fps=FPS)
    from_npz = read_keypoints(out / "keypoints.npz")
    assert from_npz.views == from_json.views == ("cam01", "cam02") and from_npz.fps == FPS
    assert from_npz.skeleton.name == "coco" and list(from_npz.frame_ids) == list(range(12))
    np.testing.assert_allclose(from_json.points, from_npz.points, atol=1e-3)
    np.testing.assert_allclose(from_json.confidence, from_npz.confidence, atol=1e-4)
    expected = np.array([green_at(f) for f in range(12)], float)
    np.testing.assert_allclose(from_npz.points[:, 0, 0, 0], expected, atol=1.0)  # the nose on the green dot
    assert np.isnan(from_npz.points[1, 0, 0, 1]).all() and from_npz.confidence[1, 0, 0, 1] == 0  # red: even frames
    assert (out / "cam01_json" / "cam01_000000000011_keypoints.json").is_file()
    assert count_frames(out / "overlay" / "cam01.mp4") == 12
    assert (out / "cameras" / "cam01.json").is_file() and (out / "cameras" / "cam02.npz").is_file()
    assert not [p for p in out.rglob(".*")]  # no temporary file or folder left


def test_resume_skips_complete_cameras_and_detects_again_when_settings_change(tmp_path):
    videos = (write_video(tmp_path / "cam01.mp4", 6), write_video(tmp_path / "cam02.mp4", 6))
    out = tmp_path / "pose"
    run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:dots"))
    assert CALLS == {"made": 1, "frames": 12}
    again = run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:dots"))
    assert CALLS == {"made": 1, "frames": 12}  # nothing detected, the detector not even built
    assert all(r.skipped and r.frames == 6 and r.fps_processing is None for r in again.cameras)
    assert read_keypoints(out / "keypoints.npz").num_frames == 6
    (out / "cameras" / "cam02.json").unlink()  # cam02 incomplete: detected again, cam01 kept
    third = run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:dots"))
    assert [r.skipped for r in third.cameras] == [True, False] and CALLS["frames"] == 18
    every = run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:dots", every=2))
    assert not any(r.skipped for r in every.cameras) and CALLS["frames"] == 24
    assert list(read_keypoints(out / "keypoints.npz").frame_ids) == [0, 2, 4]
    run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:dots", every=2, resume=False))
    assert CALLS["frames"] == 30


def test_ctrl_c_mid_camera_keeps_the_finished_cameras_and_leaves_the_partial_one_unmarked(tmp_path, capsys):
    videos = (write_video(tmp_path / "cam01.mp4", 6), write_video(tmp_path / "cam02.mp4", 6))
    out = tmp_path / "pose"
    with pytest.raises(KeyboardInterrupt):
        run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:interrupting", overlay=True))
    assert "stopped in camera cam02; finished cameras kept (cam01)" in capsys.readouterr().err
    assert (out / "cameras" / "cam01.json").is_file() and (out / "cam01_json").is_dir()
    assert (out / "overlay" / "cam01.mp4").is_file()
    assert not (out / "cameras" / "cam02.json").exists() and not (out / "cam02_json").exists()
    assert not (out / "overlay" / "cam02.mp4").exists() and not (out / "keypoints.npz").exists()
    assert not [p for p in out.rglob(".*")]
    resumed = run(DetectConfig(inputs=videos, out=out, detector="detect_fakes:interrupting", overlay=True))
    assert [r.skipped for r in resumed.cameras] == [True, False]


def test_image_folders_frame_steps_and_a_frame_limit(tmp_path):
    folder = tmp_path / "camA"
    folder.mkdir()
    for f in range(7):
        cv2.imwrite(str(folder / f"img_{f + 1}.png"), draw_dots(W, H, green_at(f), None))
    out = tmp_path / "out"
    result = run(DetectConfig(inputs=(folder,), out=out, detector="detect_fakes:dots", every=2, max_frames=3,
                              fps=30.0, format="json"))  # fmt: skip
    assert result.cameras[0].camera == "camA" and result.cameras[0].frames == 3 and result.npz is None
    kp = read_keypoints(out / "camA_json", skeleton="coco")
    assert list(kp.frame_ids) == [0, 2, 4] and not (out / "keypoints.npz").exists()
    np.testing.assert_allclose(kp.points[:, 0, 0, 0], [green_at(f) for f in (0, 2, 4)], atol=0.01)


def test_a_session_folder_cameras_of_different_lengths_and_a_camera_without_people(tmp_path):
    session = tmp_path / "session"
    (session / "videos").mkdir(parents=True)
    write_video(session / "videos" / "cam01.mp4", 8)
    write_video(session / "videos" / "cam02.mp4", 5, fps=30.0, person=False)
    out = tmp_path / "pose"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(DetectConfig(inputs=(session,), out=out, detector="detect_fakes:dots", format="npz"))
    messages = [str(w.message) for w in caught if issubclass(w.category, InputWarning)]
    assert any("camera cam02" in m and "no person detected" in m for m in messages)
    assert any("different numbers of frames (cam01 8, cam02 5)" in m for m in messages)
    assert any("different frame rates (cam01 25 fps, cam02 30 fps)" in m for m in messages)
    assert [r.detected_frames for r in result.cameras] == [8, 0]
    kp = read_keypoints(out / "keypoints.npz")
    assert kp.num_frames == 8 and np.all(kp.confidence[5:, 1] == 0) and not (out / "cam01_json").exists()


def _error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path, capsys):
    good = write_video(tmp_path / "cam01.mp4", 4)
    junk = tmp_path / "cam02.mp4"
    junk.write_bytes(b"not a video at all" * 20)
    out = str(tmp_path / "pose")
    line = _error(["detect", str(good), str(junk), "--out", out, "--detector", "detect_fakes:dots"], capsys)
    assert line.startswith("lift3d detect: error: ") and f"{junk}: cannot be opened as a video" in line
    assert not (tmp_path / "pose" / "cameras").exists()  # inputs are checked before any work

    full = write_video(tmp_path / "long.avi", 30, fourcc="MJPG").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full[: len(full) // 2])
    line = _error(["detect", str(cut), "--out", out, "--detector", "detect_fakes:dots"], capsys)
    assert f"{cut}: truncated or damaged: the decoder stops at frame" in line and "--max-frames" in line
    assert not (tmp_path / "pose" / "cameras" / "cut.json").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    line = _error(["detect", str(empty), "--out", out, "--detector", "detect_fakes:dots"], capsys)
    assert f"{empty}: no images or videos in this folder" in line

    model = tmp_path / "model.onnx"
    model.write_bytes(b"garbage")
    line = _error(["detect", str(good), "--out", out, "--detector", str(model)], capsys)
    assert f"{model}: not an ONNX model" in line
    line = _error(["detect", str(good), "--out", out, "--detector", "nosuchmodule:make"], capsys)
    assert "cannot import 'make' from 'nosuchmodule'" in line
    line = _error(["detect", str(tmp_path / "missing.mp4"), "--out", out], capsys)
    assert "missing.mp4: no such video file or image folder" in line


def test_cli_help_teaches(capsys):
    with pytest.raises(SystemExit) as info:
        main(["detect", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "lift3d detect videos/cam01.mp4" in text and "--overlay" in text and "blazepose" in text


def test_the_cli_runs_and_prints_one_line_per_camera(tmp_path, capsys):
    video = write_video(tmp_path / "cam07.mp4", 3)
    assert main(["detect", str(video), "-o", str(tmp_path / "p"), "--detector", "detect_fakes:dots"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[:3] == ["cam07", "3", "100.0"]

"""Tests of lift3d.datasets.samples; none of them uses the network."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lift3d.datasets import samples
from lift3d.datasets.samples import (
    Sample,
    SampleChecksumError,
    SampleUnavailableError,
    default_cache_dir,
    fetch_sample,
    sample_from_folder,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
TRIALS = (
    "multi_Participants1-2",
    "multi_StaticTrialParticipant1",
    "multi_StaticTrialParticipant2",
    "single_BalancingTrial",
    "single_StaticTrial",
)

_D = "Pose2Sim/S00_Demo_BatchSession"
_M = f"{_D}/S00_P01_MultiParticipants"
# Wheel member -> where the fetcher must put it (None: must not be extracted).
FAKE_MEMBERS: dict[str, tuple[str, ...] | None] = {
    f"{_D}/Config.toml": ("pose2sim_trials/Config_session.toml",),
    f"{_D}/S00_Calibration/Calib.qca.txt": (
        "pose2sim_trials/Calib.qca.txt",
        "pose2sim_calibration/Calib.qca.txt",
    ),
    f"{_D}/S00_Calibration/Calib_qualisys_multi.test": None,
    f"{_D}/S00_Calibration/intrinsics/int_cam01_img/.gitkeep": None,
    f"{_D}/S00_Calibration/intrinsics/int_cam01_img/cam01_01_int.jpg": (
        "pose2sim_calibration/intrinsics/int_cam01_img/cam01_01_int.jpg",
    ),
    f"{_D}/S00_Calibration/intrinsics/int_cam02_img/cam02_07_int.jpg": (
        "pose2sim_calibration/intrinsics/int_cam02_img/cam02_07_int.jpg",
    ),
    f"{_D}/S00_Calibration/extrinsics/ext_cam01_img/cam01_ext.png": (
        "pose2sim_calibration/extrinsics/cam01_ext.png",
    ),
    f"{_D}/S00_P00_SingleParticipant/Config.toml": None,
    f"{_D}/S00_P00_SingleParticipant/S00_P00_OpenSim/Model_Pose2Sim_body25b_scaled.osim": None,
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T00_StaticTrial/Config.toml": (
        "pose2sim_trials/single_StaticTrial/Config.toml",
    ),
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T00_StaticTrial/pose/cam01_json/Static_cam_01.00000.json": (
        "pose2sim_trials/single_StaticTrial/pose/cam01_json/Static_cam_01.00000.json",
    ),
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T00_StaticTrial/videos/cam01.mp4": (
        "pose2sim_trials/single_StaticTrial/videos/cam01.mp4",
    ),
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/Config.toml": (
        "pose2sim_trials/single_BalancingTrial/Config.toml",
    ),
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/pose/cam04_json/cam04.0099.json": (
        "pose2sim_trials/single_BalancingTrial/pose/cam04_json/cam04.0099.json",
    ),
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/pose/cam01_json/cam01.0003.json.old": (
        "pose2sim_trials/single_BalancingTrial/pose/cam01_json/cam01.0003.json.old",
    ),
    f"{_D}/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/videos/cam01.mp4": None,
    f"{_M}/S00_P01_T00_StaticTrialParticipant1/pose/cam02_json/Static_cam_02.00011.json": (
        "pose2sim_trials/multi_StaticTrialParticipant1/pose/cam02_json/Static_cam_02.00011.json",
    ),
    f"{_M}/S00_P01_T01_StaticTrialParticipant2/pose/cam03_json/Static_cam_03.00000.json": (
        "pose2sim_trials/multi_StaticTrialParticipant2/pose/cam03_json/Static_cam_03.00000.json",
    ),
    f"{_M}/S00_P01_T02_Participants1-2/Config.toml": ("pose2sim_trials/multi_Participants1-2/Config.toml",),
    f"{_M}/S00_P01_T02_Participants1-2/pose/cam04_json/cam04.0000.json": (
        "pose2sim_trials/multi_Participants1-2/pose/cam04_json/cam04.0000.json",
    ),
    "Pose2Sim/S01_Demo_SingleTrial/calibration/Calib.qca.txt": None,
    "Pose2Sim/S01_Demo_SingleTrial/pose/cam01_json/cam01.0000.json": None,
    "Pose2Sim/OpenSim_Setup/Model_Pose2Sim_Body25b.osim": None,
    "Pose2Sim/triangulation.py": None,
    "pose2sim-0.8.4.dist-info/LICENSE": ("pose2sim_trials/LICENSE", "pose2sim_calibration/LICENSE"),
    "pose2sim-0.8.4.dist-info/METADATA": None,
}


def _content(member: str) -> bytes:
    return f"content of {member}\n".encode()


@pytest.fixture
def fake_wheel(tmp_path: Path) -> Path:
    """A small zip with the pose2sim 0.8.4 wheel's internal paths."""
    path = tmp_path / "wheelhouse" / "pose2sim-0.8.4-py3-none-any.whl"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{_D}/", b"")  # a directory entry
        for member in FAKE_MEMBERS:
            zf.writestr(member, _content(member))
    return path


@pytest.fixture
def fake_source(monkeypatch: pytest.MonkeyPatch, fake_wheel: Path) -> list[tuple[str, Path, tuple[str, ...]]]:
    """Serve ``fake_wheel`` instead of PyPI, expect its digest, and record each download."""
    digest = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    monkeypatch.setitem(
        samples._SAMPLES, "pose2sim", dataclasses.replace(samples._SAMPLES["pose2sim"], sha256=digest)
    )
    calls: list[tuple[str, Path, tuple[str, ...]]] = []

    def fake_pip_download(spec: str, dest: Path, pip_args: tuple[str, ...]) -> Path:
        calls.append((spec, dest, pip_args))
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(fake_wheel, dest / fake_wheel.name))

    monkeypatch.setattr(samples, "_pip_download", fake_pip_download)
    return calls


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# --- sample_from_folder ----------------------------------------------------------------------------


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not present")
def test_sample_from_shared_data() -> None:
    sample = sample_from_folder(SHARED_DATA)
    assert sample.root == SHARED_DATA.resolve()
    for path in (sample.trials, sample.calibration, sample.qca, sample.rig_toml, sample.licence):
        assert path is not None and path.exists(), path
    assert sample.rig_toml is not None and sample.rig_toml.name == "Calib_qualisys_from_v0.4.15.toml"
    assert "BSD" in sample.licence.read_text()
    assert sample.trial_names == TRIALS
    balancing = sample.trial("single_BalancingTrial")
    assert len(list((balancing / "pose" / "cam01_json").glob("cam01.*.json"))) == 100
    assert sample.calibration is not None
    assert len(list(sample.calibration.glob("intrinsics/int_cam*_img/*.jpg"))) == 28
    with pytest.raises(ValueError, match="single_BalancingTrial"):
        sample.trial("no_such_trial")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.root = Path("/")  # type: ignore[misc]


def test_sample_from_folder_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pose2sim_trials"):
        sample_from_folder(tmp_path)


# --- fetch_sample with a fake wheel ----------------------------------------------------------------


def test_fetch_extracts_only_the_sample(tmp_path: Path, fake_source: list, capsys) -> None:
    cache = tmp_path / "cache"
    sample = fetch_sample("pose2sim", cache_dir=cache)
    assert sample is not None
    assert len(fake_source) == 1 and fake_source[0][0] == "pose2sim==0.8.4"
    assert "Fetching 'pose2sim' (pose2sim==0.8.4" in capsys.readouterr().err

    root = cache / "pose2sim-0.8.4"
    assert sorted(p.name for p in cache.iterdir()) == ["pose2sim-0.8.4"]  # no temp folder, no wheel
    expected = {dst for dsts in FAKE_MEMBERS.values() if dsts for dst in dsts}
    assert _files(root) == expected | {samples._COMPLETE_MARKER}
    for member, dsts in FAKE_MEMBERS.items():
        for dst in dsts or ():
            assert (root / dst).read_bytes() == _content(member)

    assert sample == sample_from_folder(root)
    assert sample.root == root.resolve()
    assert sample.trials == root.resolve() / "pose2sim_trials"
    assert sample.calibration == root.resolve() / "pose2sim_calibration"
    assert sample.qca.read_bytes() == _content(f"{_D}/S00_Calibration/Calib.qca.txt")
    assert sample.rig_toml is None  # not in the 0.8.4 wheel
    assert sample.licence.read_bytes() == _content("pose2sim-0.8.4.dist-info/LICENSE")
    assert sample.trial_names == TRIALS
    assert sample.trial("single_StaticTrial") == sample.trials / "single_StaticTrial"


def test_second_fetch_does_no_download(tmp_path: Path, fake_source: list, monkeypatch, capsys) -> None:
    first = fetch_sample("pose2sim", cache_dir=tmp_path)
    capsys.readouterr()

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(samples, "_pip_download", no_network)
    monkeypatch.setattr(samples.subprocess, "run", no_network)
    assert fetch_sample("pose2sim", cache_dir=tmp_path) == first
    assert capsys.readouterr().err == ""
    assert len(fake_source) == 1


def test_cache_dir_from_environment(tmp_path: Path, fake_source: list, monkeypatch) -> None:
    monkeypatch.setenv("LIFT3D_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    sample = fetch_sample("pose2sim")
    assert sample is not None and sample.root == (tmp_path / "env-cache" / "pose2sim-0.8.4").resolve()
    monkeypatch.delenv("LIFT3D_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "lift3d"


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, fake_source: list, fake_wheel: Path, monkeypatch):
    expected = "0" * 64
    actual = hashlib.sha256(fake_wheel.read_bytes()).hexdigest()
    monkeypatch.setitem(
        samples._SAMPLES, "pose2sim", dataclasses.replace(samples._SAMPLES["pose2sim"], sha256=expected)
    )
    cache = tmp_path / "cache"
    with pytest.raises(SampleChecksumError) as info:
        fetch_sample("pose2sim", cache_dir=cache, offline_ok=True)  # offline_ok does not hide corruption
    message = str(info.value)
    assert expected in message and actual in message and "\n" not in message
    assert isinstance(info.value, SampleUnavailableError)
    assert list(cache.iterdir()) == []


def test_interrupted_extraction_leaves_nothing(tmp_path: Path, fake_source: list, monkeypatch) -> None:
    real_extract = samples._extract

    def extract_then_die(wheel: Path, dest: Path, rules, required) -> None:
        real_extract(wheel, dest, rules, required)
        raise KeyboardInterrupt

    monkeypatch.setattr(samples, "_extract", extract_then_die)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        fetch_sample("pose2sim", cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_incomplete_folder_is_replaced(tmp_path: Path, fake_source: list) -> None:
    cache = tmp_path / "cache"
    stale = cache / "pose2sim-0.8.4" / "pose2sim_trials"
    stale.mkdir(parents=True)
    (stale / "half_written.json").write_text("{")
    sample = fetch_sample("pose2sim", cache_dir=cache)
    assert len(fake_source) == 1
    assert sample is not None and not (sample.trials / "half_written.json").exists()
    assert (cache / "pose2sim-0.8.4" / samples._COMPLETE_MARKER).is_file()
    assert sorted(p.name for p in cache.iterdir()) == ["pose2sim-0.8.4"]


def test_unknown_sample_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="known samples: pose2sim"):
        fetch_sample("h36m", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- pip failures ----------------------------------------------------------------------------------


def _check_unavailable_message(message: str) -> None:
    assert "\n" not in message
    assert "could not download" in message
    assert "pip download --no-deps pose2sim==0.8.4" in message
    assert "LIFT3D_CACHE" in message


def test_failing_pip_raises_one_line(tmp_path: Path, monkeypatch) -> None:
    seen: list[list[str]] = []

    def failing_run(cmd, **kwargs):
        seen.append(cmd)
        stderr = (
            "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError'\n"
            "ERROR: Could not find a version that satisfies the requirement pose2sim==0.8.4\n"
            "ERROR: No matching distribution found for pose2sim==0.8.4\n"
        )
        return subprocess.CompletedProcess(cmd, 1, stdout=None, stderr=stderr)

    monkeypatch.setattr(samples.subprocess, "run", failing_run)
    with pytest.raises(SampleUnavailableError) as info:
        fetch_sample("pose2sim", cache_dir=tmp_path, pip_args=("--proxy", "http://proxy:3128"))
    message = str(info.value)
    _check_unavailable_message(message)
    assert "No matching distribution found" in message and "Retrying" not in message
    cmd = seen[0]
    assert cmd[:6] == [samples.sys.executable, "-m", "pip", "download", "--no-deps", "pose2sim==0.8.4"]
    assert cmd[-2:] == ["--proxy", "http://proxy:3128"]
    assert list(tmp_path.iterdir()) == []

    assert fetch_sample("pose2sim", cache_dir=tmp_path, offline_ok=True) is None
    assert list(tmp_path.iterdir()) == []


def test_real_pip_without_index(tmp_path: Path, monkeypatch) -> None:
    """Run the real pip, isolated from any configuration and forbidden to use an index: it must fail."""
    for key in list(os.environ):
        if key.upper().startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with pytest.raises(SampleUnavailableError) as info:
        fetch_sample("pose2sim", cache_dir=tmp_path, pip_args=("--no-index", "--no-cache-dir"))
    _check_unavailable_message(str(info.value))
    assert list(tmp_path.iterdir()) == []


def test_sample_type_is_exported() -> None:
    assert Sample.__dataclass_params__.frozen  # type: ignore[attr-defined]


# --- the video sample (pose2sim 0.10.49) -------------------------------------------------------------

VIDEO_MEMBERS = {
    "Pose2Sim/Demo_SinglePerson/Config.toml": ("pose2sim_trials/video_SinglePerson/Config.toml",),
    "Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt": (
        "pose2sim_trials/Calib.qca.txt", "pose2sim_trials/video_SinglePerson/calibration/Calib.qca.txt"),
    "Pose2Sim/Demo_SinglePerson/videos/cam01.mp4": ("pose2sim_trials/video_SinglePerson/videos/cam01.mp4",),
    "Pose2Sim/Demo_SinglePerson/videos/cam02.mp4": ("pose2sim_trials/video_SinglePerson/videos/cam02.mp4",),
    "Pose2Sim/Demo_MultiPerson/calibration/Calib.qca.txt": (
        "pose2sim_trials/video_MultiPerson/calibration/Calib.qca.txt",),
    "Pose2Sim/Demo_MultiPerson/videos/cam01.mp4": ("pose2sim_trials/video_MultiPerson/videos/cam01.mp4",),
    "Pose2Sim/Demo_SinglePerson/calibration/extrinsics/cam01_ext.png": (),  # not part of the sample
    "Pose2Sim/Demo_SinglePerson/pose/cam01_json/x.json": (),
    "pose2sim-0.10.49.dist-info/licenses/LICENSE": ("pose2sim_trials/LICENSE",),
}


def test_fetch_video_sample_layout(tmp_path: Path, monkeypatch) -> None:
    """`fetch_sample("pose2sim-videos")` keeps the two demos' videos and calibrations, nothing else."""
    wheel = tmp_path / "pose2sim-0.10.49-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member in VIDEO_MEMBERS:
            zf.writestr(member, _content(member))
    source = dataclasses.replace(samples._SAMPLES["pose2sim-videos"],
                                 sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setitem(samples._SAMPLES, "pose2sim-videos", source)
    specs = []

    def fake_pip_download(spec: str, dest: Path, pip_args: tuple[str, ...]) -> Path:
        specs.append(spec)
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheel, dest / wheel.name))

    monkeypatch.setattr(samples, "_pip_download", fake_pip_download)
    sample = fetch_sample("pose2sim-videos", cache_dir=tmp_path / "cache")
    assert specs == ["pose2sim==0.10.49"] and sample.root.name == "pose2sim-0.10.49"
    expected = {dst for dsts in VIDEO_MEMBERS.values() for dst in dsts}
    assert _files(sample.root) - {".lift3d-sample-complete"} == expected
    for member, dsts in VIDEO_MEMBERS.items():
        for dst in dsts:
            assert (sample.root / dst).read_bytes() == _content(member)
    assert sample.trial_names == ("video_MultiPerson", "video_SinglePerson")
    assert [v.name for v in sample.videos("video_SinglePerson")] == ["cam01.mp4", "cam02.mp4"]


@pytest.fixture(scope="module")
def video_sample(tmp_path_factory):
    """The real video sample from PyPI, fetched once into the user's cache (skipped offline)."""
    sample = fetch_sample("pose2sim-videos", offline_ok=True)
    if sample is None:
        pytest.skip("pose2sim 0.10.49 could not be downloaded (offline)")
    return sample


def test_real_video_sample_matches_its_calibration(video_sample) -> None:
    """Both trials: 4 readable videos of 100 frames at 60 Hz, one per camera of the rig shipped beside them.
    A fact a detector stage must handle: cam01 and cam02 of the balancing trial are encoded 1080 px wide where
    the calibration says 1088."""
    import cv2

    from lift3d.io.rigs import load_rig

    for trial in ("video_SinglePerson", "video_MultiPerson"):
        rig = load_rig(video_sample.trial(trial) / "calibration" / "Calib.qca.txt")
        videos = video_sample.videos(trial)
        assert [v.stem for v in videos] == list(rig.names) == ["cam01", "cam02", "cam03", "cam04"]
        for video, size in zip(videos, np.asarray(rig.cameras.image_size), strict=True):
            cap = cv2.VideoCapture(str(video))
            ok, frame = cap.read()
            assert ok and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 100 and cap.get(cv2.CAP_PROP_FPS) == 60.0
            assert frame.shape[0] == size[1] == 1920 and size[0] - frame.shape[1] in (0, 8)
            cap.release()


# --- model files (the mediapipe 0.10.14 wheel) --------------------------------------------------------

MODEL_MEMBERS = {
    "mediapipe/modules/pose_detection/pose_detection.tflite": "pose_detection.tflite",
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite": "pose_landmark_full.tflite",
    "mediapipe/modules/pose_landmark/pose_landmark_heavy.tflite": None,  # not fetched
    "mediapipe/python/solutions/pose.py": None,
    "mediapipe-0.10.14.dist-info/LICENSE": "LICENSE",
}


def test_fetch_model_files_unzips_only_the_models_and_pins_the_wheel(tmp_path: Path, monkeypatch) -> None:
    """The wheel is pinned to one platform (its digest), unzipped, never installed; a sample name is refused."""
    wheel = tmp_path / "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member in MODEL_MEMBERS:
            zf.writestr(member, _content(member))
    source = dataclasses.replace(samples._SAMPLES["blazepose"], sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setitem(samples._SAMPLES, "blazepose", source)
    calls = []

    def fake_pip_download(spec: str, dest: Path, pip_args: tuple[str, ...]) -> Path:
        calls.append((spec, pip_args))
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheel, dest / wheel.name))

    monkeypatch.setattr(samples, "_pip_download", fake_pip_download)
    cache = tmp_path / "cache"
    assert samples.cached_model_files("blazepose", cache) is None
    folder = samples.fetch_model_files("blazepose", cache_dir=cache)
    assert samples.cached_model_files("blazepose", cache) == folder
    assert calls[0][0] == "mediapipe==0.10.14"
    assert {"--platform", "manylinux2014_x86_64", "--python-version", "3.11"} <= set(calls[0][1])
    assert _files(folder) - {".lift3d-sample-complete"} == {v for v in MODEL_MEMBERS.values() if v}
    for member, name in MODEL_MEMBERS.items():
        if name:
            assert (folder / name).read_bytes() == _content(member)
    assert samples.fetch_model_files("blazepose", cache_dir=cache) == folder and len(calls) == 1  # cached
    with pytest.raises(ValueError, match="holds model files, not a capture"):
        fetch_sample("blazepose", cache_dir=cache)
    with pytest.raises(ValueError, match="unknown model set 'pose2sim'"):
        samples.fetch_model_files("pose2sim", cache_dir=cache)

"""OpenPose JSON reader: real Pose2Sim trials, frame alignment, COCO-18, malformed and truncated files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lift3d.core.skeleton import BODY_25B, COCO_17, OPENPOSE_COCO_18
from lift3d.errors import KeypointFileError, KeypointFileWarning
from lift3d.io.keypoints_openpose import read_openpose

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
BALANCING = SHARED / "single_BalancingTrial" / "pose"
MULTI = SHARED / "multi_Participants1-2" / "pose"


def _reference(pose_dir: Path):
    """Independent float64 reading of an OpenPose trial: {(camera, frame): [(25, 3) array per person]}."""
    out = {}
    for cam_dir in sorted(pose_dir.iterdir()):
        for f in sorted(cam_dir.glob("*.json")):
            people = json.loads(f.read_text())["people"]
            out[cam_dir.name.removesuffix("_json"), int(f.stem.split(".")[-1])] = [
                np.array(p["pose_keypoints_2d"], float).reshape(-1, 3) for p in people
            ]
    return out


def _copy_trial(src: Path, dst: Path, frames: int = 6) -> Path:
    """The first `frames` files of each camera folder of `src` (plus any .json.old) copied under `dst`."""
    for cam_dir in sorted(src.iterdir()):
        (dst / cam_dir.name).mkdir(parents=True)
        for f in sorted(cam_dir.glob("*.json"))[:frames]:
            shutil.copy(f, dst / cam_dir.name / f.name)
    return dst



@needs_shared
def test_openpose_balancing_trial_matches_the_json():
    kp = read_openpose(BALANCING, skeleton="body_25b", dtype=np.float64)
    assert kp.views == ("cam01", "cam02", "cam03", "cam04") and kp.skeleton is BODY_25B
    np.testing.assert_array_equal(kp.frame_ids, np.arange(100))
    assert kp.points.shape == (100, 4, 3, 25, 2) and kp.confidence.shape == (100, 4, 3, 25)  # cam01: 3 once
    assert kp.notes == () and kp.fps is None and kp.person_score is None
    ref = _reference(BALANCING)
    counts = np.zeros((4, 4), int)  # view x number of people
    for (cam, frame), people in ref.items():
        v = kp.views.index(cam)
        counts[v, len(people)] += 1
        for i in range(3):
            xyc = people[i] if i < len(people) else np.zeros((25, 3))
            ok = xyc[:, 2] > 0
            np.testing.assert_array_equal(kp.confidence[frame, v, i], np.where(ok, xyc[:, 2], 0))
            np.testing.assert_array_equal(kp.points[frame, v, i][ok], xyc[ok, :2])
            assert np.isnan(kp.points[frame, v, i][~ok]).all()
    # 4 cameras x 100 frames; cam01 and cam02 also see the bystander, cam01 once a third detection
    np.testing.assert_array_equal(counts, [[0, 0, 99, 1], [0, 0, 100, 0], [0, 100, 0, 0], [0, 100, 0, 0]])
    assert kp.points[0, 0, 0, 0].tolist() == [505.232, 431.63]
    # default float32 arrays hold the same values to float32 precision
    kp32 = read_openpose(BALANCING, skeleton="body_25b")
    assert kp32.points.dtype == np.float32
    np.testing.assert_allclose(kp32.points, kp.points, rtol=1e-7)


@needs_shared
def test_openpose_multi_participants_pads_people_and_keeps_empty_detections():
    kp = read_openpose(MULTI, skeleton="BODY_25B")
    assert kp.points.shape == (100, 4, 4, 25, 2)
    detected = kp.valid.any(axis=-1)  # (t, v, p)
    per_view = detected.sum(axis=2)
    assert per_view.min() >= 1 and per_view.max() == 4
    # cam01 frame 1 lists an empty pose_keypoints_2d first: its slot stays, all missing; the others follow it
    ref = _reference(MULTI)[("cam01", 1)]
    assert len(ref[0]) == 0 and not detected[1, 0, 0] and detected[1, 0, 1]
    np.testing.assert_allclose(kp.points[1, 0, 1, 0], ref[1][0, :2], rtol=1e-6)


@needs_shared
def test_openpose_folder_list_names_and_skeleton_errors():
    dirs = [BALANCING / "cam03_json", BALANCING / "cam01_json"]
    kp = read_openpose(dirs, skeleton="body_25b", views=["c", "a"])
    assert kp.views == ("c", "a") and kp.source == tuple(str(d) for d in dirs)
    both = read_openpose(BALANCING, skeleton="body_25b").select_views(["cam03", "cam01"])
    np.testing.assert_array_equal(kp.points, both.points[:, :, : kp.num_people])
    with pytest.raises(KeypointFileError, match=r"cam01\.0000\.json: people\[0\]\..*75 numbers; pass skeleton="):
        read_openpose(dirs[1])  # 25 joints: BODY_25 or BODY_25B must be named
    with pytest.raises(KeypointFileError, match=r"cam01\.0000\.json: people\[0\]\.pose_keypoints_2d: "
                                                r"expected 51 numbers .* 'coco', got 75"):  # fmt: skip
        read_openpose(dirs[1], skeleton="coco")


def _write_openpose(folder: Path, frame: int, people: list, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{folder.name.removesuffix('_json')}.{frame:04d}.json")
    path.write_text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": p} for p in people]}))
    return path


def test_openpose_wrong_joint_count_names_file_person_and_field(tmp_path):
    good = list(np.arange(75.0) + 1)
    _write_openpose(tmp_path / "cam1_json", 0, [good])
    bad = _write_openpose(tmp_path / "cam1_json", 1, [good, good[:-3]])
    with pytest.raises(KeypointFileError) as e:
        read_openpose(tmp_path / "cam1_json", skeleton="body_25")
    msg = str(e.value)
    assert str(bad) in msg and "people[1].pose_keypoints_2d:" in msg and "got 72" in msg
    with pytest.warns(KeypointFileWarning), pytest.raises(KeypointFileError, match="every file failed"):
        read_openpose(tmp_path / "cam1_json", skeleton="coco", on_error="skip")
    _write_openpose(tmp_path / "cam1_json", 1, [good, ["x"] * 75])
    with pytest.raises(KeypointFileError, match=r"people\[1\]\.pose_keypoints_2d: expected a flat list"):
        read_openpose(tmp_path / "cam1_json", skeleton="body_25")


def test_openpose_frame_number_from_file_name_and_coco18(tmp_path):
    folder = tmp_path / "front"
    person = [v for j in range(18) for v in (10.0 + j, 20.0 + j, 0.0 if j == 1 else 0.9)]  # neck undetected
    for frame in (12, 3):
        _write_openpose(folder, 0, [person], name=f"video_{frame:012d}_keypoints.json")
    (folder / "video_000000000003_keypoints.json.old").write_text("not json")
    kp = read_openpose(folder)  # 18 joints: OpenPose COCO inferred
    assert kp.skeleton is OPENPOSE_COCO_18 and kp.views == ("front",)
    np.testing.assert_array_equal(kp.frame_ids, [3, 12])
    assert np.isnan(kp.points[0, 0, 0, 1]).all() and kp.confidence[0, 0, 0, 1] == 0
    coco = kp.remap(COCO_17)  # MS-COCO-17: neck dropped, joints reordered by name
    assert coco.skeleton is COCO_17 and coco.points.shape[-2] == 17
    for j, name in enumerate(COCO_17.joints):
        np.testing.assert_array_equal(coco.points[..., j, :], kp.points[..., OPENPOSE_COCO_18.index(name), :])
    _write_openpose(folder, 0, [person], name="video_000000000012.json")  # frame 12 twice
    with pytest.raises(KeypointFileError, match="frame 12 already read"):
        read_openpose(folder)


@needs_shared
def test_openpose_mismatched_frame_counts_are_aligned_and_reported(tmp_path):
    pose = _copy_trial(BALANCING, tmp_path / "pose")
    (pose / "cam02_json" / "cam02.0003.json").unlink()
    shutil.copy(BALANCING / "cam01_json" / "cam01.0000.json", pose / "cam01_json" / "cam01.0000.json.old")
    with pytest.warns(KeypointFileWarning, match=r"camera 'cam02' .* lacks 1 of 6 frames: 3"):
        kp = read_openpose(pose, skeleton="body_25b")
    full = read_openpose(BALANCING, skeleton="body_25b")
    np.testing.assert_array_equal(kp.frame_ids, np.arange(6))
    assert len(kp.notes) == 1 and "cam02" in kp.notes[0]
    assert not kp.valid[3, 1].any() and kp.valid[3, [0, 2, 3]].any(axis=(-1, -2)).all()
    keep = np.ones(6, bool)
    keep[3] = False
    p = kp.num_people
    np.testing.assert_array_equal(kp.points[keep], full.points[:6][keep][:, :, :p])
    np.testing.assert_array_equal(kp.points[3, [0, 2, 3]], full.points[3, [0, 2, 3], :p])


@needs_shared
def test_openpose_truncated_json_raises_or_is_skipped(tmp_path):
    pose = _copy_trial(BALANCING, tmp_path / "pose", frames=4)
    broken = pose / "cam03_json" / "cam03.0002.json"
    broken.write_text(broken.read_text()[:300])
    with pytest.raises(KeypointFileError) as e:
        read_openpose(pose, skeleton="body_25b")
    assert str(broken) in str(e.value) and "invalid JSON at line 1 column" in str(e.value)
    with pytest.warns(KeypointFileWarning, match=r"skipped \(camera 'cam03', frame 2\).*cam03\.0002\.json"):
        kp = read_openpose(pose, skeleton="body_25b", on_error="skip")
    assert kp.points.shape[:2] == (4, 4) and len(kp.notes) == 1
    assert np.isnan(kp.points[2, 2]).all() and (kp.confidence[2, 2] == 0).all()
    assert kp.valid[[0, 1, 3], 2].any() and kp.valid[2, [0, 1, 3]].any()  # the other frames and cameras stay
    with pytest.raises(ValueError, match="on_error"):
        read_openpose(pose, skeleton="body_25b", on_error="ignore")


def test_negative_confidences_are_refused_not_masked(tmp_path):
    """A camera whose confidences are negative (another scale, a sign error) would otherwise vanish as missing."""
    row = [100.0, 200.0, 0.8] * 25
    _write_openpose(tmp_path / "cam1_json", 0, [row])
    _write_openpose(tmp_path / "cam1_json", 1, [row[:2] + [-0.5] + row[3:]])
    negative = r"1 confidences are negative .* -0\.5 in frame 1 \(person 1, joint 'nose'\)"
    with pytest.raises(KeypointFileError, match=negative):
        read_openpose(tmp_path / "cam1_json", skeleton="body_25")
    zero = [100.0, 200.0, 0.0] * 25  # 0 is OpenPose's "not detected": still missing, no error
    _write_openpose(tmp_path / "cam1_json", 1, [zero])
    kp = read_openpose(tmp_path / "cam1_json", skeleton="body_25")
    assert np.isnan(kp.points[1]).all() and (kp.confidence[1] == 0).all()


POOL_READ = """
import sys, warnings
import numpy as np
import lift3d.io.keypoints_openpose as module
module._CHUNK, module._PARALLEL_MIN_FILES = 7, 1
with warnings.catch_warnings(record=True):
    kp = module.read_openpose(sys.argv[1], skeleton="body_25b", on_error="skip")
assert "jax" not in sys.modules  # else the reader would not fork its pool
np.savez(sys.argv[2], points=kp.points, confidence=kp.confidence, notes=np.array(kp.notes))
"""


@needs_shared
def test_reading_pool_gives_what_one_process_reads(tmp_path, monkeypatch):
    """Many files are parsed by a pool of forked processes in chunks (`_PARALLEL_MIN_FILES`, `_CHUNK`; in a
    process without JAX): the arrays, the notes and the first error are those of reading in one process, chunk
    borders and a broken file included."""
    import subprocess
    import sys

    import lift3d.io.keypoints_openpose as module

    trial = _copy_trial(MULTI, tmp_path / "pose", frames=40)
    broken = sorted((trial / "cam02_json").glob("*.json"))[13]
    broken.write_text(broken.read_text()[:200])
    monkeypatch.setattr(module, "_CHUNK", 7)
    with pytest.warns(KeypointFileWarning):
        one = read_openpose(trial, skeleton="body_25b", on_error="skip")
    run = subprocess.run([sys.executable, "-c", POOL_READ, str(trial), str(tmp_path / "pool.npz")],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    pool = np.load(tmp_path / "pool.npz")
    np.testing.assert_array_equal(pool["points"], one.points)
    np.testing.assert_array_equal(pool["confidence"], one.confidence)
    assert tuple(pool["notes"]) == one.notes and any(broken.name in n for n in one.notes)
    with pytest.raises(KeypointFileError, match=broken.name):
        read_openpose(trial, skeleton="body_25b")
    reference = _reference(MULTI)
    cam, frame = "cam03", int(sorted((trial / "cam03_json").glob("*.json"))[20].stem.split(".")[-1])
    row = int(np.searchsorted(one.frame_ids, frame))
    people = np.stack(reference[cam, frame])
    np.testing.assert_allclose(one.points[row, one.views.index(cam), : len(people)][..., 0],
                               np.where(people[..., 2] > 0, people[..., 0], np.nan), rtol=1e-6)

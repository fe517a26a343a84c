"""`lift3d sync` end to end on the real balancing trial: cameras made from real views with known frame offsets."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.sync import SyncConfig, apply_offsets, read_offsets, run
from lift3d.cli import main
from lift3d.errors import KeypointFileWarning, SyncError

TRIAL = Path(__file__).resolve().parents[2].parent / "shared/data/pose2sim_trials/single_BalancingTrial/pose"
pytestmark = pytest.mark.skipif(not TRIAL.is_dir(), reason="the Pose2Sim balancing trial is not available")


def camera(tmp_path: Path, name: str, source: str, offset: int) -> Path:
    """A copy of a real camera folder whose frame f + offset shows the source's frame f (frames dropped / padded)."""
    folder = tmp_path / name
    folder.mkdir()
    for f, file in enumerate(sorted((TRIAL / source).glob("*.json"))):
        if f + offset >= 0:
            shutil.copy(file, folder / f"{name}.{f + offset:04d}.json")
    for f in range(offset):  # padding: frames where nobody was detected
        (folder / f"{name}.{f:04d}.json").write_text('{"version": 1.3, "people": []}')
    return folder


def test_sync_recovers_known_offsets_and_writes_the_toml(tmp_path, capsys):
    cams = [camera(tmp_path, "ref", "cam02_json", 0), camera(tmp_path, "late", "cam02_json", 7),
            camera(tmp_path, "early", "cam02_json", -12)]  # fmt: skip
    out = tmp_path / "offsets.toml"
    main(["sync", "--keypoints", *map(str, cams), "--skeleton", "body_25b", "--fps", "60", "-o", str(out)])
    printed = capsys.readouterr().out
    assert "late" in printed and "peak" in printed and f"wrote {out}" in printed
    doc = tomllib.loads(out.read_text())
    assert [round(doc[c]["offset_frames"]) for c in ("ref", "late", "early")] == [0, 7, -12]
    assert abs(doc["late"]["offset_s"] - 7 / 60) < 0.01 and doc["late"]["peak"] > 0.8
    assert read_offsets(out) == {c: doc[c]["offset_frames"] for c in doc}


def test_apply_offsets_aligns_the_cameras(tmp_path):
    from lift3d.io.keypoints import read_keypoints

    cams = [camera(tmp_path, "ref", "cam02_json", 0), camera(tmp_path, "late", "cam02_json", 7)]
    results = run(SyncConfig(keypoints=tuple(cams), skeleton="body_25b", fps=60.0, out=tmp_path / "o.toml"))
    assert round(results["late"].offset_frames) == 7
    with pytest.warns(KeypointFileWarning, match="lacks 7"):  # the union of the frames: ref lacks 100-106
        kp = read_keypoints(cams, format="openpose", skeleton="body_25b")
    aligned = apply_offsets(kp, tmp_path / "o.toml")
    ref, late = aligned.points[:50, 0, 0], aligned.points[:50, 1, 0]
    assert np.array_equal(ref, late, equal_nan=True)


def test_bad_input_is_one_line_error(tmp_path, capsys):
    ref = camera(tmp_path, "ref", "cam02_json", 0)
    with pytest.raises(SyncError, match="2 or more cameras"):
        run(SyncConfig(keypoints=(ref,), skeleton="body_25b", fps=60.0))
    nobody = tmp_path / "nobody"
    nobody.mkdir()
    for f in range(100):
        (nobody / f"nobody.{f:04d}.json").write_text('{"version": 1.3, "people": []}')
    with pytest.raises(SyncError, match="nobody: no person"):
        run(SyncConfig(keypoints=(ref, nobody), skeleton="body_25b", fps=60.0))
    shutil.copytree(ref, tmp_path / "other")
    argv = ["sync", "--keypoints", str(ref), str(tmp_path / "other"), "--skeleton", "body_25b", "--fps", "60"]
    assert main([*argv, "--max-lag-s", "5"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("lift3d sync: error:") and "beyond the data" in error and len(error.splitlines()) == 1
    with pytest.raises(SyncError, match="beyond the data"):
        run(SyncConfig(keypoints=(ref, tmp_path / "other"), skeleton="body_25b", fps=60.0, max_lag_s=5.0))
    with pytest.raises(SyncError, match="no such camera"):
        run(SyncConfig(keypoints=(ref, tmp_path / "other"), skeleton="body_25b", fps=60.0, reference="cam9"))
    (tmp_path / "bad.toml").write_text('[ref]\noffset_frames = "x"\n')
    with pytest.raises(SyncError, match="offset_frames"):
        read_offsets(tmp_path / "bad.toml")


@pytest.mark.filterwarnings("ignore:camera .cam03. .* lacks 6")
def test_triangulate_reads_the_offsets(tmp_path):
    from lift3d.apps.triangulate import triangulate_capture

    rig = TRIAL.parents[1] / "Calib.qca.txt"
    cams = [TRIAL / f"cam0{i}_json" for i in (1, 2, 4)]
    late = camera(tmp_path, "cam03_json", "cam03_json", -6)  # its frame f - 6 shows frame f of the others
    (tmp_path / "offsets.toml").write_text("[cam01]\noffset_frames = 0\n[cam02]\noffset_frames = 0.2\n"
                                           "[cam03]\noffset_frames = -5.8\n[cam04]\noffset_frames = 0\n")  # fmt: skip
    options = {"skeleton": "body_25b", "fps": 60.0, "filter": "none", "outliers": False, "progress": False}
    base = triangulate_capture(rig, [*cams, TRIAL / "cam03_json"], **options).raw_points_3d
    aligned = triangulate_capture(rig, [*cams, late], offsets=tmp_path / "offsets.toml", **options).raw_points_3d
    assert np.nanmedian(np.abs(aligned[:94] - base[:94])) < 1e-6
    with pytest.raises(SyncError, match="no offset for camera cam02"):
        (tmp_path / "offsets.toml").write_text("[cam01]\noffset_frames = 0\n")
        triangulate_capture(rig, [*cams, late], offsets=tmp_path / "offsets.toml", **options)


def test_offsets_count_frame_numbers(tmp_path):
    """A camera whose files start at frame 5 (its first 5 dropped, not renumbered) is 0 frames off."""
    ref = camera(tmp_path, "ref", "cam02_json", 0)
    later = tmp_path / "later"
    later.mkdir()
    for file in sorted(ref.glob("*.json"))[5:]:
        shutil.copy(file, later / file.name.replace("ref", "later"))
    results = run(SyncConfig(keypoints=(ref, later), skeleton="body_25b", fps=60.0))
    assert round(results["later"].offset_frames) == 0

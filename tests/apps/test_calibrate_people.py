"""`lift3d calibrate people` (`lift3d.apps.calibrate_people`): options, the files it writes, its failures."""

import json
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.calibrate_people import PeopleConfig, parse_distance, run, run_people
from lift3d.cli import main
from lift3d.errors import ConfigError
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
RIG = SHARED / "Calib.qca.txt"
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def _cams(trial):
    return [SHARED / trial / "pose" / f"cam0{i}_json" for i in range(1, 5)]


def test_options_are_checked():
    with pytest.raises(ConfigError, match="--intrinsics FILE or --focal-guess"):
        run(PeopleConfig(keypoints=(Path("k"),), out=Path("o.toml")))
    with pytest.raises(ConfigError, match="--intrinsics FILE or --focal-guess"):
        run(PeopleConfig(keypoints=(Path("k"),), out=Path("o.toml"), intrinsics=RIG, focal_guess=True))
    with pytest.raises(ConfigError, match="--image-size"):
        run(PeopleConfig(keypoints=(Path("k"),), out=Path("o.toml"), focal_guess=True))
    with pytest.raises(ConfigError, match="--distance"):
        PeopleConfig(keypoints=(Path("k"),), out=Path("o.toml"), intrinsics=RIG, distance="cam01,cam02")
    assert parse_distance("cam01, cam03 ,3.5") == ("cam01", "cam03", 3.5)
    assert PeopleConfig.height_m == 1.75 and PeopleConfig.min_motion == 0.05


@needs_data
def test_cli_writes_the_rig_and_report(tmp_path, capsys):
    out = tmp_path / "rig.toml"
    argv = ["calibrate", "people", "--keypoints", *map(str, _cams("single_BalancingTrial")), "--skeleton",
            "body_25b", "--intrinsics", str(RIG), "--height-m", "1.72", "--fps", "60", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mean reprojection error" in printed and "cam_01: DLT error" in printed
    rig = load_rig(out)
    assert rig.names == ("cam_01", "cam_02", "cam_03", "cam_04") and rig.units == "m"
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["status"] == "ok" and report["world"] == "floor" and report["dlt_error_px"] < 9.0
    assert set(report["cameras"]) == set(rig.names) and len(report["pairs"]) == 6
    assert sum(p["in_tree"] for p in report["pairs"]) == 3
    C = -np.einsum("vji,vj->vi", np.asarray(rig.cameras.R), np.asarray(rig.cameras.t))
    assert np.all(C[:, 2] > 1.0)  # the cameras above the floor


@needs_data
def test_still_person_is_refused_and_nothing_is_written(tmp_path, capsys):
    out = tmp_path / "rig.toml"
    argv = ["calibrate", "people", "--keypoints", *map(str, _cams("single_StaticTrial")), "--skeleton",
            "body_25b", "--focal-guess", "--image-size", "1088,1920", "-o", str(out)]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "barely move in camera(s) cam01 (0.0 %)" in err and "was not written" in err
    assert not out.exists()
    assert json.loads(out.with_suffix(".json").read_text())["status"] == "failed"


@needs_data
def test_two_person_trial_with_a_guessed_focal_length(tmp_path):
    """Two participants and bystanders; the one projected through a known rig (0.1 px) is the most complete."""
    every = tmp_path / "kp"
    cams = []
    for cam in _cams("multi_Participants1-2"):
        (every / cam.name).mkdir(parents=True)
        for f in sorted(cam.glob("*.json"))[::2]:
            (every / cam.name / f.name).write_bytes(f.read_bytes())
        cams.append(every / cam.name)
    rig, data = run_people(cams, out=tmp_path / "rig.toml", image_size=(1088, 1920), skeleton="body_25b",
                           height_m=1.21)  # fmt: skip
    fx = np.asarray(load_rig(RIG).cameras.K)[:, 0, 0]
    assert abs(data["focal"]["estimate_px"] / fx.mean() - 1) < 0.03
    assert data["dlt_error_px"] < 1.0 and rig.names == ("cam01", "cam02", "cam03", "cam04")

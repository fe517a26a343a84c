"""`lift3d calibrate refine` (`lift3d.apps.refine`): a rig file refined on the people of a capture; its files and
its failures (moved from tests/calibration/test_refine.py with `run_refine`)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps import refine as refine_app
from lift3d.apps.refine import RefineConfig, run_refine
from lift3d.calibration import refine as rf
from lift3d.errors import CalibrationError, ConfigError
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
TRIAL = SHARED / "single_BalancingTrial" / "pose"
CAMS = [TRIAL / f"cam0{i}_json" for i in range(1, 5)]
RIG = SHARED / "Calib.qca.txt"
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


@pytest.fixture(scope="module")
def trial_dirs(tmp_path_factory):
    """Every 4th frame (25) of the balancing trial, one folder per camera."""
    root = tmp_path_factory.mktemp("trial")
    for cam in CAMS:
        (root / cam.name).mkdir()
        for f in sorted(cam.glob("*.json"))[::4]:
            (root / cam.name / f.name).write_bytes(f.read_bytes())
    return [root / cam.name for cam in CAMS]


def test_config_defaults_come_from_the_library_and_bad_values_are_config_errors():
    assert RefineConfig.threshold_px == 20.0 and RefineConfig.max_frames == 300 and RefineConfig.max_rounds == 8
    assert RefineConfig.gauge == "similarity" and RefineConfig.people == 1
    with pytest.raises(ConfigError, match="--max-frames"):
        RefineConfig(rig=RIG, keypoints=(Path("k"),), out=Path("o.toml"), max_frames=0)


@needs_data
def test_run_refine_files_and_bad_input(tmp_path, monkeypatch, trial_dirs):
    out = tmp_path / "refined.toml"
    sub = []
    for cam in trial_dirs:
        (tmp_path / cam.name).mkdir()
        for f in cam.glob("*.json"):
            (tmp_path / cam.name / f.name).write_bytes(f.read_bytes())
        sub.append(tmp_path / cam.name)
    rig, data = run_refine(RIG, sub, out=out, skeleton="body_25b")
    assert data["status"] == "ok" and data["dlt_error_px"]["refined"] < data["dlt_error_px"]["initial"]
    written = load_rig(out)
    assert written.names == rig.names and written.units == "m"
    np.testing.assert_allclose(np.asarray(written.cameras.R), np.asarray(rig.cameras.R), atol=1e-9)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["status"] == "ok" and "cam_01" in saved["cameras"]
    # a diverged adjustment: no rig file, the report keeps the last good rig and says why
    real = rf.refine_rig_from_keypoints
    monkeypatch.setattr(
        refine_app, "refine_rig_from_keypoints",
        lambda *a, **k: dataclasses.replace(real(*a, **k), status="diverged", reason="test"),
    )  # fmt: skip
    bad_out = tmp_path / "bad.toml"
    with pytest.raises(CalibrationError, match="diverged") as err:
        run_refine(RIG, sub, out=bad_out, skeleton="body_25b")
    assert "report" in str(err.value) and not bad_out.exists()
    saved = json.loads(bad_out.with_suffix(".json").read_text())
    assert saved["status"] == "failed" and "last_good_rig" in saved
    monkeypatch.undo()
    # nobody seen by two cameras
    for f in [f for d in sub[1:] for f in d.glob("*.json")]:
        f.write_text('{"version": 1.3, "people": []}')
    with pytest.raises(CalibrationError, match="two cameras"):
        run_refine(RIG, sub, out=bad_out, skeleton="body_25b")
    assert not bad_out.exists() and json.loads(bad_out.with_suffix(".json").read_text())["status"] == "failed"
    # shapes that do not fit the rig
    with pytest.raises(CalibrationError, match="do not match the rig"):
        rf.refine_rig_from_keypoints(rig, np.zeros((5, 3, 25, 2)))
    with pytest.raises(ValueError, match="gauge"):
        rf.refine_rig_from_keypoints(rig, np.zeros((5, 4, 25, 2)), gauge="first")

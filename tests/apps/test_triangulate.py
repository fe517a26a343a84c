"""`lift3d triangulate` end to end on the real Pose2Sim balancing trial, and its bad input."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.triangulate import format_summary, triangulate_capture
from lift3d.cli import main
from lift3d.io.motion import read_motion

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
TRIAL = SHARED / "single_BalancingTrial" / "pose"
CAMS = [TRIAL / f"cam0{i}_json" for i in range(1, 5)]
RIG = SHARED / "Calib.qca.txt"


def test_balancing_trial_end_to_end(tmp_path, capsys):
    code = main(
        ["triangulate", "--rig", str(RIG), "--keypoints", *map(str, CAMS), "--skeleton", "body_25b", "--fps", "60",
         "-o", str(tmp_path / "bal.trc"), "-o", str(tmp_path / "bal.csv")]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "left_knee" in out and "wrote" in out
    trc = read_motion(tmp_path / "bal.trc")
    csv = read_motion(tmp_path / "bal.csv")
    assert trc.points.shape == (100, 25, 3) and csv.points.shape == (100, 25, 3)
    np.testing.assert_allclose(trc.points, csv.points, atol=1e-5, equal_nan=True)
    # mean reprojection error below Pose2Sim's own 10.3 px on this trial, with the bystander rejected:
    # the subject stands on the beam near the origin, the bystander is metres away in cam01 / cam02
    err = csv.error[np.isfinite(csv.error)]
    assert err.mean() < 10.3
    pelvis = trc.points[:, [11, 12]].mean(1)  # mid-hips
    assert np.all(np.linalg.norm(pelvis[:, :2], axis=-1) < 1.5)
    height = trc.points[..., 2].max(1) - trc.points[..., 2].min(1)
    assert np.all((height > 1.3) & (height < 2.1))


def test_methods_agree_and_summary(tmp_path):
    results = {
        m: triangulate_capture(RIG, CAMS, skeleton="body_25b", fps=60, method=m, filter="none", progress=False)
        for m in ("dlt", "pose2sim")
    }
    dlt_err = np.nanmean(results["dlt"].error_px)
    assert 11.0 < dlt_err < 16.0  # the README's known fact: ~13.7 px for a 4-view weighted DLT
    assert np.nanmean(results["pose2sim"].error_px) < dlt_err
    gap = np.nanmedian(np.linalg.norm(results["dlt"].raw_points_3d - results["pose2sim"].raw_points_3d, axis=-1))
    assert gap < 0.05  # metres
    summary = format_summary(results["dlt"])
    assert summary.splitlines()[0].split()[:2] == ["joint", "error"] and "all" in summary


def test_bad_input(tmp_path, capsys):
    # a camera the rig does not have
    odd = tmp_path / "cam09_json"
    shutil.copytree(CAMS[0], odd)
    assert main(["triangulate", "--rig", str(RIG), "--keypoints", str(odd), *map(str, CAMS[1:]),
                 "--skeleton", "body_25b", "--fps", "60"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "cam09" in err and "cam_01" in err and len(err.strip().splitlines()) == 1
    # a bad filter spec is rejected before any work
    with pytest.raises(ValueError, match="butterworth"):
        triangulate_capture(RIG, CAMS, skeleton="body_25b", fps=60, filter="butterworth:abc")
    # one camera is not enough
    with pytest.raises(ValueError, match="at least two cameras"):
        triangulate_capture(RIG, CAMS[:1], skeleton="body_25b", fps=60)
    # no frame rate to filter with
    with pytest.raises(ValueError, match="--fps"):
        triangulate_capture(RIG, CAMS, skeleton="body_25b")


def test_malformed_and_missing_files_still_write(tmp_path):
    cams = []
    for cam in CAMS:
        shutil.copytree(cam, tmp_path / cam.name)
        cams.append(tmp_path / cam.name)
    (cams[0] / "cam01.0005.json").write_text('{"people": [')  # truncated
    (cams[1] / "cam02.0099.json").unlink()  # a camera with one frame fewer
    result = triangulate_capture(
        RIG, cams, skeleton="body_25b", fps=60, filter="none", out=[tmp_path / "out.npz"], progress=False
    )
    assert any("cam01.0005.json" in n for n in result.notes)
    assert result.points_3d.shape[0] == 100
    assert np.isfinite(result.points_3d[5]).any()  # three cameras are left for frame 5
    data = np.load(tmp_path / "out.npz")
    assert data["points"].shape[0] == 100
    json.dumps([str(p) for p in result.outputs])

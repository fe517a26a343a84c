"""The `lift3d` command line and the demo, on the real sample files in ../shared/data."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lift3d.cli import build_parser, main

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def test_import_lift3d_stays_light():
    code = (
        "import sys, lift3d, lift3d.cli, lift3d.geometry.camera, lift3d.core.rig, lift3d.core.skeleton;"
        "heavy = [m for m in ('cv2', 'open3d', 'matplotlib') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "fetch", "rig", "triangulate", "calibrate", "lift", "train", "eval", "synthetic"):
        assert command in out
    assert "examples:" in out
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"demo", "fetch", "rig"} <= set(commands)


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("lift3d")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "triangulate" in result.stdout or "demo" in result.stdout


@needs_shared
def test_rig_show_prints_table(capsys):
    assert main(["rig", "show", str(SHARED / "pose2sim_trials" / "Calib.qca.txt")]) == 0
    out = capsys.readouterr().out
    assert "cam_01" in out and "cam_04" in out


def test_rig_show_bad_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[cam_1]\nname = "cam_1"\nsize = [640.0, 480.0]\n')
    assert main(["rig", "show", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.toml" in err and "cam_1" in err


def test_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["rig", "show", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


@needs_shared
def test_demo_on_shared_sample(tmp_path, capsys):
    import cv2

    assert main(["demo", "--sample", str(SHARED), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "cameras.json").read_text())
    assert data["names"] == ["cam_01", "cam_02", "cam_03", "cam_04"]
    fx = [K[0][0] for K in data["K"]]
    assert all(1670 < f < 1685 for f in fx)
    distances = [sum(c * c for c in centre) ** 0.5 for centre in data["centers"]]
    assert all(3.0 < d < 5.0 for d in distances), distances
    assert "cam_03" in out
    # the whole demo: intrinsics vs Qualisys, triangulation, lift, renders, report
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    numbers = summary["numbers"]
    assert numbers["fx_error_pct_max"] < 1.5  # checkerboard fx within 1.5 % of Qualisys
    assert numbers["reprojection_px"] < 10.3  # better than Pose2Sim's own run on this trial
    assert 50 < numbers["lift_p_mpjpe_mm"] < 200  # one view lifted: plausible, far from the triangulation's
    for key in ("trc", "csv", "lifted", "scene", "video", "gif", "overlays", "coverage", "report"):
        assert Path(summary["outputs"][key]).stat().st_size > 1000, key
    scene = cv2.imread(summary["outputs"]["scene"])
    assert scene.std() > 10  # not blank
    html = Path(summary["outputs"]["report"]).read_text()
    images = re.findall(r'src="([^"]+)"', html)
    assert len(images) >= 8 and all((tmp_path / "out" / src).is_file() for src in images)


def test_calibrate_reports_missing_board_in_one_line(tmp_path, capsys):
    import cv2
    import numpy as np

    images = tmp_path / "cam1"
    images.mkdir()
    for k in range(3):
        cv2.imwrite(str(images / f"img{k:02d}.png"), np.full((120, 160), 128, np.uint8))
    board = Path(__file__).resolve().parents[1] / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml"
    code = main(["calibrate", "intrinsics", f"cam1={images}", "--board", str(board), "-o", str(tmp_path / "r.toml")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "img00.png" in err
    assert not (tmp_path / "r.toml").exists()


@needs_shared
def test_calibrate_intrinsics_with_opencv_sample_settings_reproduces_its_reference(tmp_path, capsys):
    """`--subpix-window 11 --fix-aspect --no-reject --detector classic` is OpenCV's calibration sample: its fx."""
    from lift3d.io.rigs import load_rig

    board = Path(__file__).resolve().parents[1] / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml"
    out = tmp_path / "left.toml"
    code = main(["calibrate", "intrinsics", f"left={SHARED / 'opencv_stereo_chessboard' / 'left*.jpg'}",
                 "--board", str(board), "-o", str(out), "--subpix-window", "11", "--fix-aspect", "--no-reject",
                 "--detector", "classic"])  # fmt: skip
    assert code == 0 and "left" in capsys.readouterr().out
    K = load_rig(out).cameras.K[0]
    assert K[0, 0] == K[1, 1] and abs(K[0, 0] / 535.92 - 1) < 0.001  # OpenCV's left_intrinsics.yml
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["options"]["subpix_window"] == 11 and report["options"]["fix_aspect"] is True
    assert report["cameras"]["left"]["rms_px"] <= 0.45 and report["cameras"]["left"]["views_used"] == 13


def test_lift_empty_folder_is_one_line_error(tmp_path, capsys):
    empty = tmp_path / "cam01_json"
    empty.mkdir()
    assert main(["lift", "--keypoints", str(empty), "--skeleton", "body_25b", "-o", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cam01_json" in err
    assert not (tmp_path / "o.npz").exists()


def test_cli_keeps_compiled_programs_in_the_cache_unless_turned_off(monkeypatch, tmp_path):
    import jax

    from lift3d import cli

    before = jax.config.jax_compilation_cache_dir
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("LIFT3D_CACHE", str(tmp_path))
    try:
        monkeypatch.setenv("LIFT3D_JAX_CACHE", "0")
        cli._enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == before
        monkeypatch.setenv("LIFT3D_JAX_CACHE", "1")
        cli._enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)

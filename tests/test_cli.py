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
    assert data["names"] == ["cam01", "cam02", "cam03", "cam04"]  # the video trial's rig
    fx = [K[0][0] for K in data["K"]]
    assert all(1670 < f < 1685 for f in fx)
    distances = [sum(c * c for c in centre) ** 0.5 for centre in data["centers"]]
    assert all(3.0 < d < 5.0 for d in distances), distances
    assert "cam03" in out
    # the whole demo: videos -> BlazePose -> 3D, intrinsics vs Qualisys, OpenPose-based 3D, lift, renders, report
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    numbers = summary["numbers"]
    assert numbers["fx_error_pct_max"] < 1.5  # checkerboard fx within 1.5 % of Qualisys
    assert numbers["openpose_reprojection_px"] < 10.3  # better than Pose2Sim's own run on this trial
    assert numbers["video_reprojection_px"] < 10.3  # BlazePose on the videos: as consistent across cameras
    assert numbers["agreement_mm"] < 60 and numbers["agreement_limbs_mm"] < 50  # measured 46.3 and 41.7 mm
    assert 50 < numbers["lift_p_mpjpe_mm"] < 200  # one view lifted: plausible, far from the triangulation's
    for key in ("trc", "csv", "lifted", "scene", "video", "gif", "overlays", "coverage", "report", "video_run"):
        assert Path(summary["outputs"][key]).stat().st_size > 1000, key
    run = tmp_path / "out" / "video_SinglePerson"
    for suffix in ("trc", "c3d", "csv", "npz", "bvh"):
        assert (run / "3d" / f"video_SinglePerson.{suffix}").stat().st_size > 1000
    assert len(list((run / "pose" / "cam02_json").glob("*.json"))) == 100
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


# --- the parser is built from the apps' Config dataclasses --------------------------------------------------


def _subparser(parser, words):
    for word in words:
        parser = parser._subparsers._group_actions[0].choices[word]
    return parser


def test_every_command_is_an_app_whose_config_fields_all_have_help_and_an_option():
    import dataclasses

    from lift3d.cli import COMMANDS, load_app

    parser = build_parser()
    for command in COMMANDS:
        module, config = load_app(command)
        assert callable(module.run) and dataclasses.is_dataclass(config), command.words
        assert config.__dataclass_params__.frozen, command.words
        dests = {a.dest for a in _subparser(parser, command.words)._actions}
        for field in dataclasses.fields(config):
            assert field.metadata.get("help"), f"{config.__name__}.{field.name} has no help"
            assert (f"cfg_{field.name}" in dests) == field.metadata.get("cli", True), (command.words, field.name)


def test_a_config_default_change_shows_up_in_help(monkeypatch, capsys):
    import dataclasses

    from lift3d.apps.triangulate import TriangulateConfig

    field = {f.name: f for f in dataclasses.fields(TriangulateConfig)}["threshold_px"]
    with pytest.raises(SystemExit):
        main(["triangulate", "--help"])
    assert "(default: 20.0)" in capsys.readouterr().out
    monkeypatch.setattr(field, "default", 12.5)
    with pytest.raises(SystemExit):
        main(["triangulate", "--help"])
    assert "(default: 12.5)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "words", [("triangulate",), ("calibrate",), ("calibrate", "refine"), ("lift",), ("view",), ("eval",), ("rig",)]
)
def test_command_help_teaches_with_a_description_and_examples(words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and f"lift3d {' '.join(words)}" in out
    assert len(out.split("\n\n")[1]) > 40  # a description paragraph, not just the usage


def test_options_keep_their_spelling_and_become_typed_config_values():
    from lift3d.cli import COMMANDS, config_from_args, load_app

    def config(*argv):
        args = build_parser([argv[0]]).parse_args(argv)
        spec = next(c for c in COMMANDS if c is args.command_spec)
        return config_from_args(load_app(spec)[1], args, spec.fixed)

    tri = config("triangulate", "--rig", "r.toml", "--keypoints", "a", "b", "-o", "x.trc", "-o", "x.csv",
                 "--no-refine", "--fps", "60")  # fmt: skip
    assert tri.keypoints == (Path("a"), Path("b")) and tri.out == (Path("x.trc"), Path("x.csv"))
    assert tri.refine is False and tri.fps == 60.0 and tri.threshold_px == 20.0 and tri.method == "ransac"
    ev = config("eval", "--pred", "p.npz", "--data", "d", "--protocol", "p1,pck")
    assert ev.protocol == ("p1", "pck") and ev.subjects == ("S9", "S11") and ev.out is None
    view = config("view", "a.trc", "b.npz", "--size", "320,240", "--trajectories", "all")
    assert view.results == (Path("a.trc"), Path("b.npz")) and view.size == (320, 240)
    assert view.trajectories == ("all",)
    cal = config("calibrate", "extrinsics", "cams/", "--board", "b.toml", "-o", "r.toml", "--max-rms", "2")
    assert cal.cameras == ("cams/",) and cal.max_rms_px == 2.0 and cal.refine_intrinsics == "none"
    lt = config("train", "volumetric", "--config", "c.py", "--workdir", "w")
    assert lt.model == "volumetric" and lt.workdir == Path("w")
    assert config("fetch").name == "pose2sim"


def test_bad_option_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["synthetic", "--out", "x", "--layout", "videopose3d,nope"])
    assert exit_info.value.code == 2 and "nope" in capsys.readouterr().err


def test_usage_errors_are_one_line_with_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["triangulate", "--rig", "r.toml"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.splitlines() == [err]
    assert err.startswith("lift3d triangulate: error: ") and "--keypoints" in err


def test_config_error_is_one_line_with_exit_2(tmp_path, capsys):
    assert main(["lift", "--keypoints", str(tmp_path), "-o", str(tmp_path / "o.npz"), "--fps", "-5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lift3d lift: error: ") and "fps" in err


def test_any_lift3d_error_raised_in_an_app_is_one_line_with_exit_2(monkeypatch, capsys):
    from lift3d.apps import rig as rig_app
    from lift3d.errors import Lift3DError

    class SomeNewError(Lift3DError):
        pass

    def run(config):
        raise SomeNewError(f"{config.rig}: something new\nwent wrong")

    monkeypatch.setattr(rig_app, "run", run)
    assert main(["rig", "show", "x.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "lift3d rig: error: x.toml: something new went wrong"
    with pytest.raises(SomeNewError):
        main(["--debug", "rig", "show", "x.toml"])

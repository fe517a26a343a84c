"""Bad option values are one line ``lift3d COMMAND: error: ...`` naming the option, exit status 2, never a traceback.

The values are checked where each Config is built (`lift3d.apps.options.check_options`), before any work; the
checks that need the data (a cut-off above the file's Nyquist frequency, a camera the keypoints lack) run right
after the files are read. Cases use the real Pose2Sim sample in ../shared/data.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from pathlib import Path

import pytest

from lift3d.apps.options import check_options, option, option_name
from lift3d.cli import COMMANDS, field_type, load_app, main
from lift3d.errors import ConfigError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TRIALS = SHARED / "pose2sim_trials"
RIG = TRIALS / "Calib.qca.txt"
POSE = TRIALS / "single_BalancingTrial" / "pose"
CAMS = [str(POSE / f"cam0{i}_json") for i in range(1, 5)]
BOARD = Path(__file__).resolve().parents[2] / "calib" / "boards" / "pose2sim_checkerboard_4x7_60mm.toml"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")

TRI = ["triangulate", "--rig", str(RIG), "--keypoints", *CAMS, "--skeleton", "body_25b", "-o", "{out}/t.trc"]
IMAGES = SHARED / "pose2sim_calibration" / "intrinsics"
INTR = ["calibrate", "intrinsics", str(IMAGES), "--board", str(BOARD), "-o", "{out}/i.toml"]
EXTR = ["calibrate", "extrinsics", f"a={IMAGES / 'int_cam01_img'}", f"b={IMAGES / 'int_cam02_img'}", "--board",
        str(BOARD), "-o", "{out}/e.toml"]  # fmt: skip
REFINE = ["calibrate", "refine", "--rig", str(RIG), "--keypoints", *CAMS, "--skeleton", "body_25b", "-o",
          "{out}/r.toml"]  # fmt: skip
LIFT = ["lift", "--keypoints", CAMS[0], "--skeleton", "body_25b", "-o", "{out}/l.npz"]
VIEW = ["view", "{out}/a.trc", "--png", "{out}/v.png"]
EVAL = ["eval", "--pred", "{out}/p.npz", "--data", "{out}"]
SYNTH = ["synthetic", "--out", "{out}/twin"]

CASES = [  # (argv, words the one error line must hold)
    (TRI + ["--fps", "-5"], ["--fps", "> 0", "-5"]),
    (TRI + ["--fps", "nan"], ["--fps", "nan"]),
    (TRI + ["--fps", "0"], ["--fps", "> 0"]),
    (TRI + ["--fps", "inf"], ["--fps", "inf"]),
    (TRI + ["--fps", "abc"], ["--fps", "abc"]),
    (TRI + ["--people", "0"], ["--people", ">= 1"]),
    (TRI + ["--max-gap", "-1"], ["--max-gap", ">= 0"]),
    (TRI + ["--skeleton", "nosuch"], ["--skeleton", "nosuch", "body_25b"]),
    (TRI + ["--format", "nosuch"], ["--format", "nosuch", "openpose"]),
    (TRI + ["--method", "nosuch"], ["--method", "nosuch"]),
    (["triangulate", "--rig", str(RIG), "--keypoints", CAMS[0], CAMS[1], CAMS[0], "-o", "{out}/t.trc"],
     ["--keypoints", "cam01_json", "twice"]),  # fmt: skip
    (["triangulate", "--rig", str(RIG), "--keypoints", CAMS[0], CAMS[1], str(TRIALS / "single_StaticTrial" / "pose"
      / "cam01_json"), "--skeleton", "body_25b", "--fps", "60", "-o", "{out}/t.trc"], ["cam01", "twice"]),  # fmt: skip
    (TRI + ["--fps", "60", "--filter", "butterworth:40"], ["--filter", "Nyquist", "30 Hz"]),
    (TRI + ["--fps", "60", "--filter", "butterworth:30"], ["--filter", "Nyquist"]),
    (TRI + ["--fps", "60", "--filter", "butterworth:abc"], ["--filter", "abc"]),
    (TRI + ["--fps", "60", "--filter", "foo:3"], ["--filter", "foo"]),
    (TRI + ["--fps", "60", "--filter", "butterworth:6:3"], ["--filter", "order"]),
    (TRI + ["--threshold-px", "0"], ["--threshold-px", "> 0"]),
    (TRI + ["--threshold-px", "-5"], ["--threshold-px", "-5"]),
    (TRI + ["--threshold-px", "nan"], ["--threshold-px", "nan"]),
    (TRI + ["--threshold-px", "inf"], ["--threshold-px", "inf"]),
    (TRI + ["--min-confidence", "-0.1"], ["--min-confidence", "[0, 1]"]),
    (TRI + ["--min-confidence", "1.5"], ["--min-confidence", "1.5"]),
    (TRI + ["--min-confidence", "nan"], ["--min-confidence", "nan"]),
    (TRI + ["--bone-tolerance", "0"], ["--bone-tolerance"]),
    (INTR + ["--every", "0"], ["--every", ">= 1"]),
    (INTR + ["--every", "-2"], ["--every", "-2"]),
    (INTR + ["--subpix-window", "0"], ["--subpix-window", ">= 1"]),
    (INTR + ["--min-views", "0"], ["--min-views"]),
    (INTR + ["--reject-k", "-1"], ["--reject-k"]),
    (INTR + ["--square-size-mm", "0"], ["--square-size-mm"]),
    (INTR + ["--max-rms", "0"], ["--max-rms"]),
    (INTR + ["--detector", "nosuch"], ["--detector"]),
    (EXTR + ["--max-rms", "-1"], ["--max-rms"]),
    (EXTR + ["--world", "floor"], ["--world", "camera:NAME"]),
    (EXTR + ["--world", "camera:cam99"], ["--world", "cam99", "a, b"]),
    (REFINE + ["--max-rounds", "0"], ["--max-rounds", ">= 1"]),
    (REFINE + ["--people", "-1"], ["--people", ">= 0"]),
    (REFINE + ["--max-frames", "0"], ["--max-frames"]),
    (REFINE + ["--threshold-px", "0"], ["--threshold-px"]),
    (REFINE + ["--min-confidence", "2"], ["--min-confidence", "[0, 1]"]),
    (REFINE + ["--format", "nosuch"], ["--format"]),
    (REFINE + ["--skeleton", "nosuch"], ["--skeleton", "nosuch"]),
    (LIFT + ["--image-size", "abc"], ["--image-size", "abc"]),
    (LIFT + ["--image-size", "0,0"], ["--image-size", "> 0", "0,0"]),
    (LIFT + ["--image-size", "-5,10"], ["--image-size", "-5,10"]),
    (LIFT + ["--image-size", "640"], ["--image-size", "2"]),
    (LIFT + ["--focal-px", "0"], ["--focal-px", "> 0"]),
    (LIFT + ["--focal-px", "-100"], ["--focal-px", "-100"]),
    (LIFT + ["--focal-px", "nan"], ["--focal-px", "nan"]),
    (LIFT + ["--min-confidence", "1.5"], ["--min-confidence", "[0, 1]"]),
    (LIFT + ["--min-confidence", "nan"], ["--min-confidence", "nan"]),
    (LIFT + ["--fps", "0"], ["--fps"]),
    (LIFT + ["--person", "-1"], ["--person", ">= 0"]),
    (LIFT + ["--skeleton", "nosuch"], ["--skeleton", "nosuch"]),
    (LIFT + ["--format", "nosuch"], ["--format", "nosuch"]),
    (["lift", "--keypoints", CAMS[0], CAMS[0], "-o", "{out}/l.npz"], ["--keypoints", "twice"]),
    (LIFT + ["--rig", str(RIG), "--views", "cam99"], ["--views", "cam99", "cam01", "cam_01, cam_02"]),
    (LIFT + ["--views", "cam01,cam01"], ["--views", "twice"]),
    (VIEW + ["--size", "0,0"], ["--size", "[1, 16384]"]),
    (VIEW + ["--size", "-5,10"], ["--size", "-5,10"]),
    (VIEW + ["--size", "abc"], ["--size", "abc"]),
    (VIEW + ["--fps", "0"], ["--fps"]),
    (VIEW + ["--fps", "nan"], ["--fps", "nan"]),
    (VIEW + ["--skeleton", "nosuch"], ["--skeleton", "nosuch"]),
    (EVAL + ["--every", "0"], ["--every", ">= 1"]),
    (EVAL + ["--protocol", "p9"], ["--protocol", "p9"]),
    (SYNTH + ["--frames", "0"], ["--frames", ">= 1"]),
    (SYNTH + ["--trials", "-1"], ["--trials"]),
    (SYNTH + ["--subjects", "S99"], ["--subjects", "S99"]),
]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_info:  # argparse's own usage errors
        return exit_info.code


@needs_shared
@pytest.mark.parametrize("argv, words", CASES, ids=[f"{a[0]} {' '.join(w)}" for a, w in CASES])
def test_a_bad_option_value_is_one_error_line_naming_it(argv, words, tmp_path, capsys):
    argv = [word.replace("{out}", str(tmp_path)) for word in argv]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and ": warning: " not in line]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lift3d {argv[0]}") and ": error: " in lines[0], lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_the_message_says_what_is_accepted_and_what_was_given():
    from lift3d.apps.lift import LiftConfig
    from lift3d.apps.triangulate import TriangulateConfig

    cases = [
        (lambda: TriangulateConfig(rig=Path("r"), keypoints=(Path("a"),), fps=-5.0),
         "--fps must be a finite number > 0, got -5"),
        (lambda: TriangulateConfig(rig=Path("r"), keypoints=(Path("a"),), people=0),
         "--people must be an integer >= 1, got 0"),
        (lambda: LiftConfig(keypoints=(Path("a"),), out=Path("o.npz"), min_confidence=1.5),
         "--min-confidence must be a finite number in [0, 1], got 1.5"),
        (lambda: LiftConfig(keypoints=(Path("a"),), out=Path("o.npz"), image_size=(0.0, 480.0)),
         "--image-size must be finite numbers > 0, got 0,480"),
    ]  # fmt: skip
    for build, message in cases:
        with pytest.raises(ConfigError) as info:
            build()
        assert str(info.value) == message


def test_any_option_declared_with_a_constraint_is_checked_when_its_config_is_built():
    """Every Config of a command checks its fields (library callers get the same errors as the CLI)."""
    checked = 0
    for config in {load_app(command)[1] for command in COMMANDS}:
        hints = typing.get_type_hints(config)
        required = {f.name: _example(f, hints[f.name]) for f in dataclasses.fields(config)
                    if f.default is dataclasses.MISSING}  # fmt: skip
        config(**required)  # the defaults pass
        for field in dataclasses.fields(config):
            bad = _out_of_range(field, hints[field.name])
            if bad is None:
                continue
            with pytest.raises(ConfigError, match=re.escape(option_name(field))):
                config(**{**required, field.name: bad})
            checked += 1
    assert checked >= 30


def _example(field: dataclasses.Field, hint) -> object:
    ft = field_type(hint)
    value = ft.choices[0] if ft.choices else ft.base("1")
    return (value,) * (ft.length or 1) if ft.sequence else value


def _out_of_range(field: dataclasses.Field, hint) -> object | None:
    """A value the field's declared bounds refuse (NaN for a float without bounds), or None."""
    ft, meta = field_type(hint), field.metadata
    if ft.base not in (int, float):
        return None
    if meta.get("gt") is not None:
        bad = meta["gt"]
    elif meta.get("ge") is not None:
        bad = meta["ge"] - 1
    elif meta.get("le") is not None:
        bad = meta["le"] + 1
    elif ft.base is float:
        bad = math.nan
    else:
        return None
    bad = ft.base(bad)
    return (bad,) * (ft.length or 1) if ft.sequence else bad


def test_check_options_covers_choices_unique_and_check_functions():
    def even(value):
        if value % 2:
            raise ValueError(f"{value} is odd")

    @dataclasses.dataclass(frozen=True)
    class Config:
        names: tuple[str, ...] = option(("a",), choices=("a", "b"), unique=True, help="names")
        count: int = option(2, check=even, help="an even count")
        scale: float | None = option(None, help="any finite number")

        def __post_init__(self):
            check_options(self)

    Config(names=("a", "b"), count=4, scale=-1.0)
    for kwargs, message in [
        ({"names": ("c",)}, "--names must be one of a, b; got 'c'"),
        ({"names": ("a", "a")}, "--names names a twice; give each one once"),
        ({"count": 3}, "--count: 3 is odd"),
        ({"scale": math.inf}, "--scale must be a finite number, got inf"),
    ]:
        with pytest.raises(ConfigError) as info:
            Config(**kwargs)
        assert str(info.value) == message

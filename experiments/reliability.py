"""Reliability census: hundreds of bad inputs, faults and traps run through the `lift3d` CLI, each outcome classified.

Every case runs `lift3d.cli.main(argv)` in this process (one JAX start for all) inside its own copy of a small
workspace built from the real Pose2Sim sample (the balancing trial's first frames, its Qualisys rig, a TRC the
CLI wrote) and the synthetic Human3.6M twin. Outcomes:
- clear error: non-zero exit, at most one line on stderr that names something (no traceback);
- handled: exit 0 and, where the case states one, its check of the output passes (right answer or a warning);
- traceback: an exception escaped `main` or a traceback was printed;
- silently wrong: exit 0 where the input must be refused, or an output that fails the case's check;
- data lost: a file that existed before the command changed, or a half-written / temporary file left behind.
Case classes and expectations are in `cases()` (`expect="error"`: must be refused; `"ok"`: must succeed and pass
its check; `"either"`: a clear refusal or a correct result are both right).

Usage: python experiments/reliability.py [--data ../shared/data/pose2sim_trials] [--only SUBSTRING] [--list]
Writes the table printed at the end into docs/reliability.md by hand (with the date and this command).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
READONLY = "/proc" if os.geteuid() == 0 else "{w}/ro"  # root writes through chmod 555: use a read-only file system
DATA = ROOT.parent / "shared" / "data" / "pose2sim_trials"
FRAMES = 12  # frames of the balancing trial in the workspace (enough for filters, fast)
OUTCOMES = ("clear error", "handled", "traceback", "silently wrong", "data lost")


@dataclass
class Case:
    """One trial: a command line (with {w} for the workspace), what is expected, and optional set-up / check."""

    cls: str
    name: str
    argv: list[str]
    expect: str = "error"  # "error" | "ok" | "either"
    setup: Callable[[Path], None] | None = None
    check: Callable[[Path], str | None] | None = None  # ok cases: a problem with the output, or None
    protect: tuple[str, ...] = ()  # files (relative to the workspace) that must not change


# ------------------------------------------------------------------------------------------ the workspace


def build_workspace(data: Path, w: Path) -> None:
    """The shared inputs every case starts from (copied per case)."""
    from lift3d.cli import main

    shutil.copy(data / "Calib.qca.txt", w / "rig.qca.txt")
    for i in range(1, 5):
        src = sorted((data / "single_BalancingTrial" / "pose" / f"cam0{i}_json").glob("*.json"))[:FRAMES]
        (w / f"cam0{i}").mkdir()
        for f in src:
            shutil.copy(f, w / f"cam0{i}" / f.name)
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet, contextlib.redirect_stderr(io.StringIO()):
        assert main(["rig", "convert", str(w / "rig.qca.txt"), str(w / "rig.toml")]) == 0
        assert main(["triangulate", "--rig", str(w / "rig.qca.txt"), "--keypoints", *(str(w / f"cam0{i}")
                     for i in range(1, 5)), "--skeleton", "body_25b", "--fps", "60", "-o", str(w / "good.trc"),
                     "-o", str(w / "good.npz")]) == 0
        assert main(["synthetic", "--out", str(w / "twin"), "--subjects", "S9,S11", "--frames", "60",
                     "--trials", "1"]) == 0
    from lift3d.datasets.h36m import load_h36m
    from lift3d.eval.h36m_eval import save_predictions

    ds = load_h36m(w / "twin")
    a = ds.arrays()
    names = np.asarray([s.name for s in ds.sequences])
    save_predictions(w / "pred.npz", a.points_3d, subject=np.asarray(a.subjects)[a.subject],
                     action=names[a.sequence], frame=a.frame)
    np.savez(w / "pred_arrays.npz", **dict(np.load(w / "pred.npz", allow_pickle=False)))


# ------------------------------------------------------------------------------------------ corruptions


def corrupt(path: str, how: str, seed: int = 0) -> Callable[[Path], None]:
    """A set-up that damages workspace file `path` in one way."""

    def setup(w: Path) -> None:
        p = w / path
        data = p.read_bytes()
        rng = np.random.default_rng(seed)
        if how == "empty":
            out = b""
        elif how.startswith("truncate"):
            out = data[: int(len(data) * float(how.split(":")[1]))]
        elif how == "bitflip":
            arr = bytearray(data)
            for i in rng.integers(0, len(arr), 8):
                arr[i] ^= 1 << int(rng.integers(0, 8))
            out = bytes(arr)
        elif how == "random":
            out = rng.integers(0, 256, max(len(data), 64), dtype=np.uint8).tobytes()
        elif how == "text":
            out = b"this is not the file you are looking for\n"
        elif how == "nan":
            out = data.replace(b"0.", b"nan0.", 3) if b"0." in data else data + b"nan"
        else:
            raise ValueError(how)
        p.write_bytes(out)

    return setup


def frame_file(w: Path, view: str, k: int) -> str:
    """The k-th frame file of a view folder of the workspace, relative to it."""
    return f"{view}/{sorted(p.name for p in (w / view).glob('*.json'))[k]}"


def edit_json(path: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        p = w / path
        d = json.loads(p.read_text())
        edit(d)
        p.write_text(json.dumps(d))

    return setup


def scale_confidences(view: str, factor: float) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        for p in (w / view).glob("*.json"):
            d = json.loads(p.read_text())
            for person in d["people"]:
                kp = person["pose_keypoints_2d"]
                person["pose_keypoints_2d"] = [v * factor if i % 3 == 2 else v for i, v in enumerate(kp)]
            p.write_text(json.dumps(d))

    return setup


def shift_keypoints(view: str, dx: float) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        for p in (w / view).glob("*.json"):
            d = json.loads(p.read_text())
            for person in d["people"]:
                kp = person["pose_keypoints_2d"]
                person["pose_keypoints_2d"] = [v + dx if i % 3 == 0 else v for i, v in enumerate(kp)]
            p.write_text(json.dumps(d))

    return setup


def write(path: str, content: bytes | str) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        (w / path).parent.mkdir(parents=True, exist_ok=True)
        (w / path).write_bytes(content.encode() if isinstance(content, str) else content)

    return setup


def npz(path: str, **arrays) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        np.savez(w / path, **arrays)

    return setup


def rig_units_mm(w: Path) -> None:
    text = (w / "rig.toml").read_text().splitlines()
    out = []
    for line in text:
        if line.strip().startswith("translation"):
            nums = line.split("[")[1].split("]")[0].split(",")
            line = "translation = [ " + ", ".join(str(float(x) * 1000) for x in nums) + " ]"
        out.append(line)
    (w / "rig.toml").write_text("\n".join(out) + "\n")


def rig_same_pose(w: Path) -> None:
    """The second camera gets the first one's rotation and translation (two cameras, one pose)."""
    lines = (w / "rig.toml").read_text().splitlines()
    first = {ln.split("=")[0].strip(): ln for ln in lines[: lines.index("[cam_02]")]
             if ln.split("=")[0].strip() in ("rotation", "translation")}
    start = lines.index("[cam_02]")
    for i in range(start, len(lines)):
        key = lines[i].split("=")[0].strip()
        if key in first and (i == start or not lines[i].startswith("[")):
            lines[i] = first[key]
    (w / "rig.toml").write_text("\n".join(lines) + "\n")


def chain(*setups) -> Callable[[Path], None]:
    def setup(w: Path) -> None:
        for s in setups:
            s(w)

    return setup


def readonly(folder: str) -> Callable[[Path], None]:
    """A folder the command cannot write into (chmod 555; as root, which ignores it, a read-only bind is not
    available, so the cases use READONLY, a folder of the kernel's read-only /proc)."""

    def setup(w: Path) -> None:
        (w / folder).mkdir(exist_ok=True)
        os.chmod(w / folder, 0o555)

    return setup


# ------------------------------------------------------------------------------------------ checks


def trc_bones_ok(path: str, tol: float = 0.3) -> Callable[[Path], str | None]:
    """Every bone within `tol` of its median length in every frame (the issue's body check)."""

    def check(w: Path) -> str | None:
        from lift3d.core.skeleton import get_skeleton
        from lift3d.io.motion import read_motion

        m = read_motion(w / path)
        sk = get_skeleton("body_25b")
        idx = {n: i for i, n in enumerate(m.joint_names)}
        worst = 0.0
        for a, b in sk.edges:
            na, nb = sk.joints[a], sk.joints[b]
            if na not in idx or nb not in idx:
                continue
            d = np.linalg.norm(m.points[:, idx[na]] - m.points[:, idx[nb]], axis=-1)
            med = np.nanmedian(d)
            if np.isfinite(med) and med > 0:
                worst = max(worst, float(np.nanmax(np.abs(d / med - 1))))
        return None if worst <= tol else f"a bone is {worst:.0%} off its median"

    return check


def exists(*paths: str) -> Callable[[Path], str | None]:
    def check(w: Path) -> str | None:
        missing = [p for p in paths if not (w / p).is_file() or (w / p).stat().st_size == 0]
        return f"missing or empty: {missing}" if missing else None

    return check


# ------------------------------------------------------------------------------------------ the cases


KP = ["{w}/cam01", "{w}/cam02", "{w}/cam03", "{w}/cam04"]
TRI = ["triangulate", "--rig", "{w}/rig.qca.txt", "--keypoints", *KP, "--skeleton", "body_25b", "--fps", "60"]
LIFT = ["lift", "--keypoints", "{w}/cam01", "--skeleton", "body_25b", "--rig", "{w}/rig.qca.txt"]
EVAL = ["eval", "--pred", "{w}/pred.npz", "--data", "{w}/twin"]
REFINE = ["calibrate", "refine", "--rig", "{w}/rig.qca.txt", "--keypoints", *KP, "--skeleton", "body_25b",
          "--max-frames", "12"]
BAD_NUMBERS = ("0", "-5", "nan", "inf", "abc", "", "1e309", "-inf")


def option_cases() -> list[Case]:
    out = []
    table = [
        (TRI + ["-o", "{w}/o.trc"], ["--fps", "--people", "--threshold-px"], BAD_NUMBERS),
        (TRI + ["-o", "{w}/o.trc"], ["--max-gap"], ("-1", "nan", "abc", "1.5")),
        (TRI + ["-o", "{w}/o.trc"], ["--min-confidence"], ("-0.1", "1.5", "nan", "abc")),
        (TRI + ["-o", "{w}/o.trc"], ["--filter"], ("butterworth:40", "butterworth:30", "butterworth:abc", "foo:3",
                                                   "butterworth:0", "butterworth:6:0", "one-euro:-1", "")),
        (TRI + ["-o", "{w}/o.trc"], ["--skeleton"], ("nosuch", "", "BODY25")),
        (TRI + ["-o", "{w}/o.trc"], ["--format"], ("nosuch", "json")),
        (TRI + ["-o", "{w}/o.trc"], ["--method"], ("svd", "")),
        (LIFT + ["-o", "{w}/l.npz"], ["--focal-px", "--fps"], ("0", "-100", "nan", "abc")),
        (LIFT + ["-o", "{w}/l.npz"], ["--image-size"], ("abc", "0,0", "-5,10", "10", "1920,1080,3", "nan,5")),
        (LIFT + ["-o", "{w}/l.npz"], ["--views"], ("cam99", "cam01,cam01", "")),
        (LIFT + ["-o", "{w}/l.npz"], ["--person"], ("-1", "abc")),
        (LIFT + ["-o", "{w}/l.npz"], ["--min-confidence"], ("1.5", "nan")),
        (["view", "{w}/good.trc", "--png", "{w}/v.png"], ["--size"], ("0,0", "-5,10", "abc", "10", "5000000,10")),
        (["view", "{w}/good.trc", "--png", "{w}/v.png"], ["--fps"], ("0", "nan")),
        (["view", "{w}/good.trc", "--png", "{w}/v.png"], ["--frame"], ("-1", "100000", "abc")),
        (["view", "{w}/good.trc", "--rig", "{w}/rig.qca.txt", "--png", "{w}/v.png"], ["--camera"], ("cam99",)),
        (EVAL + ["-o", "{w}/e"], ["--every"], ("0", "-2", "abc")),
        (EVAL + ["-o", "{w}/e"], ["--protocol"], ("p9", "p1,p1", "")),
        (EVAL + ["-o", "{w}/e"], ["--subjects"], ("S99", "")),
        (["synthetic", "--out", "{w}/syn"], ["--frames", "--trials"], ("0", "-1", "abc")),
        (["synthetic", "--out", "{w}/syn"], ["--subjects"], ("S99", "")),
        (["synthetic", "--out", "{w}/syn"], ["--layout"], ("nope", "")),
        (REFINE + ["-o", "{w}/r.toml"], ["--max-rounds", "--threshold-px"], ("0", "-1", "nan")),
        (REFINE + ["-o", "{w}/r.toml"], ["--min-confidence"], ("2", "-1")),
        (["calibrate", "intrinsics", "{w}/cam01", "--board", str(ROOT / "calib/boards/opencv_chessboard_9x6_25mm.toml"),
          "-o", "{w}/i.toml"], ["--every", "--subpix-window", "--square-size-mm", "--min-views"], ("0", "-2", "nan")),
    ]
    for base, options, values in table:
        for opt in options:
            for val in values:
                out.append(Case("option value", f"{base[0]} {opt} {val!r}", base + [opt, val]))
    return out


def input_file_cases() -> list[Case]:
    out = []
    damage = ("empty", "truncate:0.1", "truncate:0.5", "truncate:0.9", "bitflip", "random", "text", "nan")
    for how in damage:
        for seed in (0, 1, 2, 3) if how == "bitflip" else (0,):
            out.append(Case("rig file", f"qualisys rig {how} {seed}", TRI + ["-o", "{w}/o.trc"], "either",
                            corrupt("rig.qca.txt", how, seed), trc_bones_ok("o.trc")))
            out.append(Case("rig file", f"toml rig {how} {seed}",
                            ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", *KP, "--skeleton", "body_25b",
                             "--fps", "60", "-o", "{w}/o.trc"], "either", corrupt("rig.toml", how, seed),
                            trc_bones_ok("o.trc")))
            out.append(Case("rig file", f"rig show {how} {seed}", ["rig", "show", "{w}/rig.toml"], "either",
                            corrupt("rig.toml", how, seed)))
            out.append(Case("keypoint file", f"openpose frame {how} {seed}", TRI + ["-o", "{w}/o.trc"], "either",
                            lambda w, h=how, s=seed: corrupt(frame_file(w, "cam02", 3), h, s)(w),
                            trc_bones_ok("o.trc")))
            out.append(Case("motion file", f"view trc {how} {seed}", ["view", "{w}/good.trc", "--png", "{w}/v.png"],
                            "either", corrupt("good.trc", how, seed), exists("v.png")))
            out.append(Case("motion file", f"view npz {how} {seed}", ["view", "{w}/good.npz", "--png", "{w}/v.png"],
                            "either", corrupt("good.npz", how, seed), exists("v.png")))
            out.append(Case("predictions", f"eval pred {how} {seed}", EVAL + ["-o", "{w}/e"], "either",
                            corrupt("pred.npz", how, seed), exists("e.json")))
    for name, edit in [
        ("people not a list", lambda d: d.update(people={"a": 1})),
        ("keypoints short", lambda d: d["people"][0].update(pose_keypoints_2d=[1.0, 2.0, 0.5])),
        ("keypoints strings", lambda d: d["people"][0].update(pose_keypoints_2d=["a"] * 75)),
        ("keypoints null", lambda d: d["people"][0].update(pose_keypoints_2d=None)),
        ("no people key", lambda d: d.pop("people")),
        ("json list", lambda d: d.clear()),
    ]:
        out.append(Case("keypoint file", f"openpose {name}", TRI + ["-o", "{w}/o.trc"], "either",
                        lambda w, e=edit: edit_json(frame_file(w, "cam03", 5), e)(w), trc_bones_ok("o.trc")))
    obj = np.empty(2, object)
    obj[:] = [np.zeros(3), "x"]
    for label, setup in [
        ("object arrays", npz("kp.npz", points=obj, confidence=obj)),
        ("text named .npz", write("kp.npz", "points,confidence\n1,2\n")),
        ("missing arrays", npz("kp.npz", foo=np.zeros(3))),
        ("wrong shape", npz("kp.npz", points=np.zeros((5, 3)), confidence=np.zeros(5))),
        ("nan points", npz("kp.npz", points=np.full((12, 25, 2), np.nan), confidence=np.ones((12, 25)))),
    ]:
        out.append(Case("keypoint file", f"npz keypoints {label}",
                        ["lift", "--keypoints", "{w}/kp.npz", "--format", "npz", "--skeleton", "body_25b",
                         "--image-size", "1920,1080", "-o", "{w}/l.npz"], "error", setup))
        out.append(Case("motion file", f"view npz {label}", ["view", "{w}/kp.npz", "--png", "{w}/v.png"], "error",
                        setup))
    for label, setup in [
        ("object arrays", npz("pred.npz", points_3d=obj)),
        ("text named .npz", write("pred.npz", "hello")),
        ("no points", npz("pred.npz", subject=np.array(["S9"]))),
    ]:
        out.append(Case("predictions", f"eval {label}", EVAL + ["-o", "{w}/e"], "error", setup))
    for label, setup in [
        ("missing file", None),
        ("a folder", lambda w: (w / "ckpt").mkdir()),
        ("text file", write("ckpt", "nope")),
        ("random bytes", write("ckpt", bytes(range(256)) * 10)),
        ("empty folder with config", write("ckpt/config.json", "{not json")),
    ]:
        out.append(Case("checkpoint", f"lift --checkpoint {label}", LIFT + ["--checkpoint", "{w}/ckpt", "-o",
                                                                            "{w}/l.npz"], "error", setup))
    for label, args in [
        ("rig missing", ["triangulate", "--rig", "{w}/nope.toml", "--keypoints", *KP, "-o", "{w}/o.trc"]),
        ("keypoints missing", ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", "{w}/nope", "{w}/cam01",
                               "-o", "{w}/o.trc"]),
        ("keypoints empty folder", ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", "{w}/empty", "{w}/cam01",
                                    "-o", "{w}/o.trc"]),
        ("one view only", ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", "{w}/cam01", "-o", "{w}/o.trc"]),
        ("rig is a folder", ["triangulate", "--rig", "{w}/cam01", "--keypoints", *KP, "-o", "{w}/o.trc"]),
        ("view missing file", ["view", "{w}/nope.trc", "--png", "{w}/v.png"]),
        ("eval data missing", ["eval", "--pred", "{w}/pred.npz", "--data", "{w}/nope"]),
        ("rig show folder", ["rig", "show", "{w}/cam01"]),
        ("rig show json", ["rig", "show", "{w}/cam01/" + "x.json"]),
    ]:
        out.append(Case("missing input", label, args, "error", lambda w: (w / "empty").mkdir(exist_ok=True)))
    return out


def output_cases() -> list[Case]:
    out = []
    for cmd, base in (("triangulate", TRI), ("lift", LIFT)):
        for label, target, setup in [
            ("is a folder", "{w}/cam01", None),
            ("no extension", "{w}/out", None),
            ("unknown extension", "{w}/out.xyz", None),
            ("read-only folder", READONLY + "/out.trc", readonly("ro")),
            ("missing parent folder", "{w}/no/such/dir/out.trc", None),
        ]:
            out.append(Case("output path", f"{cmd} -o {label}", base + ["-o", target], "either", setup))
        out.append(Case("output set", f"{cmd} two outputs, second bad", base + ["-o", "{w}/t.trc", "-o", "{w}/t.xyz"],
                        "error", check=None, protect=()))
    out.append(Case("output set", "triangulate -o t.trc -o t.xyz writes nothing",
                    TRI + ["-o", "{w}/t.trc", "-o", "{w}/t.xyz"], "error",
                    check=None))
    out.append(Case("output set", "lift -o X.trc keeps an existing X.npz", LIFT + ["-o", "{w}/X.trc"], "ok",
                    write("X.npz", b"precious"), exists("X.trc"), protect=("X.npz",)))
    out.append(Case("output set", "failed triangulate rerun keeps good.trc",
                    ["triangulate", "--rig", "{w}/nope.toml", "--keypoints", *KP, "-o", "{w}/good.trc"], "error",
                    protect=("good.trc",)))
    out.append(Case("output set", "failed refine keeps the earlier rig it was to replace",
                    [a if a != "body_25b" else "coco" for a in REFINE] + ["-o", "{w}/rig.toml"], "error",
                    protect=("rig.toml",)))
    out.append(Case("output set", "failed intrinsics keeps the earlier rig and report",
                    ["calibrate", "intrinsics", "{w}/cam01", "--board",
                     str(ROOT / "calib/boards/opencv_chessboard_9x6_25mm.toml"), "-o", "{w}/rig.toml",
                     "--report", "{w}/good.npz"], "error", protect=("rig.toml", "good.npz")))
    out.append(Case("output set", "rig convert to .yml", ["rig", "convert", "{w}/rig.toml", "{w}/rig.yml"], "either",
                    check=exists("rig.yml")))
    out.append(Case("output set", "rig convert into a folder", ["rig", "convert", "{w}/rig.toml", "{w}/cam01"],
                    "either"))
    out.append(Case("output set", "rig convert onto itself", ["rig", "convert", "{w}/rig.toml", "{w}/rig.toml"],
                    "either", check=exists("rig.toml")))
    out.append(Case("output set", "view png into read-only folder",
                    ["view", "{w}/good.trc", "--png", READONLY + "/v.png"], "error", readonly("ro")))
    out.append(Case("output set", "eval -o into read-only folder", EVAL + ["-o", READONLY + "/e"], "error",
                    readonly("ro")))
    return out


def silent_cases() -> list[Case]:
    out = [
        Case("right answer", "README-style triangulate: bones within 30 %", TRI + ["-o", "{w}/o.trc"], "ok",
             check=trc_bones_ok("o.trc")),
        Case("silent trap", "one camera's confidences x5", TRI + ["-o", "{w}/o.trc"], "either",
             scale_confidences("cam02", 5.0), trc_bones_ok("o.trc")),
        Case("silent trap", "one camera's confidences x -1", TRI + ["-o", "{w}/o.trc"], "either",
             scale_confidences("cam02", -1.0), trc_bones_ok("o.trc")),
        Case("silent trap", "all confidences 0", TRI + ["-o", "{w}/o.trc"], "error",
             chain(*(scale_confidences(f"cam0{i}", 0.0) for i in range(1, 5)))),
        Case("silent trap", "one camera's keypoints outside the image", TRI + ["-o", "{w}/o.trc"], "either",
             shift_keypoints("cam03", 1e5), trc_bones_ok("o.trc")),
        Case("silent trap", "body_25 skeleton on body_25b files",
             [a if a != "body_25b" else "body_25" for a in TRI] + ["-o", "{w}/o.trc"], "error"),
        Case("silent trap", "coco skeleton on body_25b files",
             [a if a != "body_25b" else "coco" for a in TRI] + ["-o", "{w}/o.trc"], "error"),
        Case("silent trap", "rig in millimetres read as metres",
             ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", *KP, "--skeleton", "body_25b", "--fps", "60",
              "-o", "{w}/o.trc"], "either", rig_units_mm, trc_bones_ok("o.trc")),
        Case("silent trap", "two cameras with the same pose",
             ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", *KP, "--skeleton", "body_25b", "--fps", "60",
              "-o", "{w}/o.trc"], "error", rig_same_pose),
        Case("silent trap", "keypoint folders in another order than the rig",
             ["triangulate", "--rig", "{w}/rig.toml", "--keypoints", "{w}/cam02", "{w}/cam01", "{w}/cam03",
              "{w}/cam04", "--skeleton", "body_25b", "--fps", "60", "-o", "{w}/o.trc"], "either", None,
             trc_bones_ok("o.trc")),
        Case("silent trap", "eval on predictions in centimetres", EVAL + ["-o", "{w}/e"], "error",
             lambda w: _scale_pred(w, 0.1)),
        Case("silent trap", "eval on predictions in metres without --pred-units", EVAL + ["-o", "{w}/e"], "error",
             lambda w: _scale_pred(w, 0.001)),
        Case("silent trap", "eval with half the joints missing", EVAL + ["-o", "{w}/e"], "either",
             lambda w: _drop_joints(w, slice(0, 8)), _eval_reports_coverage),
        Case("silent trap", "eval with every joint missing", EVAL + ["-o", "{w}/e"], "error",
             lambda w: _drop_joints(w, slice(None))),
    ]
    return out


def _scale_pred(w: Path, factor: float) -> None:
    d = dict(np.load(w / "pred.npz", allow_pickle=False))
    key = next(k for k in d if d[k].dtype.kind == "f" and d[k].ndim == 3)
    d[key] = d[key] * factor
    np.savez(w / "pred.npz", **d)


def _drop_joints(w: Path, joints) -> None:
    d = dict(np.load(w / "pred.npz", allow_pickle=False))
    key = next(k for k in d if d[k].dtype.kind == "f" and d[k].ndim == 3)
    d[key] = d[key].copy()
    d[key][:, joints] = np.nan
    np.savez(w / "pred.npz", **d)


def _eval_reports_coverage(w: Path) -> str | None:
    text = (w / "e.md").read_text() if (w / "e.md").exists() else ""
    return None if "coverage" in text.lower() or "missing" in text.lower() else "no word on the missing joints"


def cases() -> list[Case]:
    return option_cases() + input_file_cases() + output_cases() + silent_cases()


# ------------------------------------------------------------------------------------------ running


def snapshot(w: Path) -> dict[str, bytes]:
    return {str(p.relative_to(w)): p.read_bytes() for p in w.rglob("*") if p.is_file() and "twin" not in p.parts}


def run_case(case: Case, template: Path) -> tuple[str, str]:
    """Outcome and a one-line note."""
    from lift3d.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        w = Path(tmp) / "w"
        shutil.copytree(template, w, symlinks=True)
        if case.setup:
            case.setup(w)
        before = snapshot(w)
        argv = [a.replace("{w}", str(w)) for a in case.argv]
        err, escaped = io.StringIO(), None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # noqa: BLE001 - the census counts what escapes
            escaped, rc = e, None
        finally:
            for p in w.rglob("*"):
                if p.is_dir():
                    os.chmod(p, 0o755)
        stderr = err.getvalue().strip()
        after = snapshot(w)
        if escaped is not None or "Traceback" in stderr:
            name = type(escaped).__name__ if escaped else "printed"
            where = traceback.extract_tb(escaped.__traceback__)[-1] if escaped else None
            return "traceback", f"{name}: {str(escaped)[:80] if escaped else stderr[-80:]}" + (
                f" ({Path(where.filename).name}:{where.lineno})" if where else "")
        changed = [k for k in before if k in case.protect and after.get(k) != before[k]]
        changed += [k for k in before if k not in case.protect and k in after and after[k] != before[k]
                    and rc != 0]
        leftovers = [k for k in after if k not in before and (rc != 0 or ".tmp" in k or k.startswith("."))]
        if changed or leftovers:
            return "data lost", f"changed {changed} left {leftovers}"
        last = stderr.splitlines()[-1] if stderr else ""
        if rc != 0:
            lines = [ln for ln in stderr.splitlines() if ln.strip()]
            if case.expect == "ok":
                return "clear error", f"(expected success) {last[:120]}"
            if len([ln for ln in lines if "error" in ln.lower()]) > 1 or not lines:
                return "traceback", f"unclear message: {stderr[:120]!r}"
            return "clear error", last[:140]
        if case.expect == "error":
            return "silently wrong", "exit 0 on input that must be refused"
        problem = case.check(w) if case.check else None
        if problem:
            return "silently wrong", problem
        return "handled", last[:140]


def interrupt_cases(template: Path) -> list[tuple[str, str, str]]:
    """Ctrl-C at 0.1-1.5 s into `lift3d triangulate` (a subprocess; the run takes longer): exit 130, outputs
    untouched (imports, parsing, reading, compiling)."""
    rows = []
    for delay in (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0, 1.5):
        with tempfile.TemporaryDirectory() as tmp:
            w = Path(tmp) / "w"
            shutil.copytree(template, w)
            before = (w / "good.trc").read_bytes()
            argv = [a.replace("{w}", str(w)) for a in TRI + ["-o", "{w}/good.trc"]]
            proc = subprocess.Popen([sys.executable, "-m", "lift3d.cli", *argv], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=120)
            intact = (w / "good.trc").read_bytes() == before
            extra = [p.name for p in w.iterdir() if p.name.startswith(".") or ".tmp" in p.name]
            if "Traceback" in err:
                outcome = "traceback"
            elif not intact or extra:
                outcome = "data lost"
            elif proc.returncode == 130:
                outcome = "clear error"
            else:
                outcome = "silently wrong"  # the interrupt was swallowed
            rows.append(("interrupt", f"Ctrl-C after {delay} s", f"{outcome}|exit {proc.returncode}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", default="")
    parser.add_argument("--list", action="store_true", help="print the cases and stop")
    parser.add_argument("--no-interrupt", action="store_true")
    args = parser.parse_args()
    all_cases = [c for c in cases() if args.only in f"{c.cls} {c.name}"]
    if args.list:
        for c in all_cases:
            print(f"{c.cls:15s} {c.expect:7s} {c.name}")
        print(len(all_cases), "cases")
        return
    counts: dict[str, Counter] = defaultdict(Counter)
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        template.mkdir()
        build_workspace(args.data, template)
        t0 = time.time()
        for i, case in enumerate(all_cases):
            outcome, note = run_case(case, template)
            counts[case.cls][outcome] += 1
            if outcome in ("traceback", "silently wrong", "data lost"):
                bad.append((case.cls, case.name, outcome, note))
            print(f"[{i + 1}/{len(all_cases)} {time.time() - t0:5.0f}s] {outcome:14s} {case.cls}: {case.name}: {note}",
                  flush=True)
        if not args.no_interrupt and not args.only:
            for cls, name, res in interrupt_cases(template):
                outcome, note = res.split("|")
                counts[cls][outcome] += 1
                if outcome != "clear error":
                    bad.append((cls, name, outcome, note))
                print(f"{outcome:14s} {cls}: {name}: {note}", flush=True)
    print("\n| class | cases | " + " | ".join(OUTCOMES) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in OUTCOMES) + " |")
    total = Counter()
    for cls, c in counts.items():
        total.update(c)
        print(f"| {cls} | {sum(c.values())} | " + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
    print(f"| **all** | {sum(total.values())} | " + " | ".join(str(total[o]) for o in OUTCOMES) + " |")
    if bad:
        print("\nNot yet right:")
        for row in bad:
            print(" - " + " / ".join(row))


if __name__ == "__main__":
    main()

"""Nothing is ever lost: the outputs of a command are checked before the work, written as one set (all or
none), never replace a file that was not named, survive a failed rerun, and Ctrl-C touches none of them."""

import dataclasses
import errno
import gc
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps import lift as lift_app
from lift3d.apps import refine as refine_app
from lift3d.apps.calibrate import calibrate_intrinsics
from lift3d.cli import main
from lift3d.errors import CalibrationError, OutputError
from lift3d.io import atomic, interrupts
from lift3d.io.atomic import OutputSet, write_json
from lift3d.io.keypoints import read_keypoints
from lift3d.io.keypoints_npz import write_keypoints_npz

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
TRIALS = SHARED / "pose2sim_trials"
RIG = TRIALS / "Calib.qca.txt"
POSE = TRIALS / "single_BalancingTrial" / "pose"
CAMS = [POSE / f"cam0{i}_json" for i in range(1, 5)]
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def files(folder: Path) -> list[str]:
    """Every file under `folder` (temporary files included: they start with a dot), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in files(folder)}


@pytest.fixture(scope="module")
def few_frames(tmp_path_factory):
    """The first 5 frames of the balancing trial, one folder per camera."""
    root = tmp_path_factory.mktemp("capture")
    for cam in CAMS:
        (root / cam.name).mkdir()
        for f in sorted(cam.glob("*.json"))[:5]:
            (root / cam.name / f.name).write_bytes(f.read_bytes())
    return [root / cam.name for cam in CAMS]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- outputs refused before any work --------------------------------------------------------------------------


def bad_outputs(tmp: Path) -> list[tuple[list, str]]:
    """(arguments, message) of outputs that cannot be written. The inputs do not exist: the output is refused
    before anything is read."""
    (tmp / "folder").mkdir()
    (tmp / "afile").write_text("")
    nope = tmp / "missing"
    tri = ["triangulate", "--rig", nope / "rig.toml", "--keypoints", nope / "cam01_json", "--fps", "60"]
    return [
        (tri + ["-o", tmp / "t.trc", "-o", tmp / "t.bad"], r"output .*t\.bad: unknown extension '\.bad'; use \.trc"),
        (tri + ["-o", tmp / "folder"], r"output .*folder: is a folder; name a file \(e\.g\. .*NAME\.trc\)"),
        (tri + ["-o", tmp / "t"], r"output .*/t: no extension; use \.trc, \.c3d, \.csv, \.npz or \.bvh"),
        (tri + ["-o", tmp / "afile" / "t.trc"], r"afile is a file, not a folder"),
        (["lift", "--keypoints", nope, "-o", tmp / "l.xyz"], r"l\.xyz: unknown extension"),
        (["rig", "convert", nope / "Calib.qca.txt", tmp / "rig.yml"],
         r"rig\.yml: unknown extension '\.yml'; use \.toml \(lift3d writes rigs as anipose / Pose2Sim TOML; it reads "
         r"OpenCV YAML"),
        (["rig", "convert", nope / "Calib.qca.txt", tmp / "folder"], r"folder: is a folder; name a file"),
        (["calibrate", "intrinsics", nope, "--board", ROOT / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml",
          "-o", tmp / "rig.yaml"], r"rig\.yaml: unknown extension '\.yaml'; use \.toml"),
        (["calibrate", "refine", "--rig", nope / "r.toml", "--keypoints", nope, "-o", tmp / "r.toml", "--report",
          tmp / "r.txt"], r"report .*r\.txt: unknown extension '\.txt'; use \.json"),
        (["view", nope / "t.trc", "--png", tmp / "f.jpg"], r"--png .*f\.jpg: unknown extension '\.jpg'; use \.png"),
        (["view", nope / "t.trc", "--png", tmp / "f.png", "--video", tmp / "v.gif"], r"v\.gif: unknown extension"),
        (["synthetic", "--out", tmp / "afile"], r"afile: is a file, not a folder"),
        (["demo", "--out", tmp / "afile", "--sample", nope], r"afile: is a file, not a folder"),
        (["eval", "--pred", nope / "p.npz", "--data", nope, "-o", tmp / "afile" / "e"], r"afile is a file"),
    ]  # fmt: skip


def test_bad_outputs_are_one_line_before_any_work(tmp_path, capsys):
    for argv, message in bad_outputs(tmp_path):
        before = files(tmp_path)
        code, out, err = run_cli(capsys, *argv)
        word = argv[0]
        assert code == 2, (argv, err)
        assert err.count("\n") == 1 and err.startswith(f"lift3d {word}: error: "), err
        assert re.search(message, err), (message, err)
        assert files(tmp_path) == before  # nothing written, not even a temporary file


def test_read_only_folder_and_full_disk_are_refused_before_the_work(tmp_path, capsys, monkeypatch):
    tri = ["triangulate", "--rig", tmp_path / "missing.toml", "--keypoints", tmp_path, "--fps", "60"]
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    code, _, err = run_cli(capsys, *tri, "-o", tmp_path / "out" / "t.trc")
    assert code == 2 and "t.trc: cannot write in" in err and "permission denied" in err
    monkeypatch.undo()

    class Full:
        f_bavail = f_bfree = f_flag = 0

    monkeypatch.setattr(atomic.os, "statvfs", lambda path: Full())
    code, _, err = run_cli(capsys, *tri, "-o", tmp_path / "t.trc")
    assert code == 2 and "t.trc: cannot write in" in err and "no space left on the disk" in err
    assert files(tmp_path) == []


@needs_data
def test_rig_convert_writes_toml_and_refuses_other_formats(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "rig", "convert", RIG, tmp_path / "rig.toml")
    assert code == 0 and f"wrote {tmp_path / 'rig.toml'}" in out and files(tmp_path) == ["rig.toml"]
    for target in ("rig.yml", "rig.yaml", "rig.xml", "rig"):
        code, _, err = run_cli(capsys, "rig", "convert", RIG, tmp_path / target)
        assert code == 2 and "use .toml" in err
    code, _, err = run_cli(capsys, "rig", "convert", RIG, f"{tmp_path}{os.sep}")
    assert code == 2 and "is a folder; name a file (e.g." in err and files(tmp_path) == ["rig.toml"]


# --- one set: all or none; a failed rerun keeps the earlier outputs -------------------------------------------


@needs_data
def test_triangulate_writes_its_outputs_as_one_set(tmp_path, capsys, monkeypatch, few_frames):
    args = ["triangulate", "--rig", RIG, "--keypoints", *few_frames, "--skeleton", "body_25b", "--fps", "60",
            "--method", "dlt", "--no-refine", "--filter", "none"]  # fmt: skip
    code, out, err = run_cli(capsys, *args, "-o", tmp_path / "t.trc", "-o", tmp_path / "t.csv")
    assert code == 0, err
    good = snapshot(tmp_path)
    assert sorted(good) == ["t.csv", "t.trc"]
    # the disk fills up while the second file is written: the first is not replaced either
    real, calls = atomic.os.fsync, []

    def second_fails(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(atomic.os, "fsync", second_fails)
    code, _, err = run_cli(capsys, *args, "-o", tmp_path / "t.trc", "-o", tmp_path / "t.csv")
    assert code == 2 and err.splitlines()[-1] == (  # after the progress bars: one line
        f"lift3d triangulate: error: {tmp_path / 't.csv'}: cannot write: no space left on the disk; any earlier "
        "file there is unchanged"
    )
    assert snapshot(tmp_path) == good  # byte for byte, and no temporary file left
    monkeypatch.undo()
    # an output that cannot be written stops the command before the work, the other is not written either
    code, _, err = run_cli(capsys, *args, "-o", tmp_path / "u.trc", "-o", tmp_path / "u.bad")
    assert code == 2 and "u.bad: unknown extension" in err and snapshot(tmp_path) == good


@pytest.fixture(scope="module")
def left_detections():
    from lift3d.calibration.boards import detect_in_source
    from lift3d.io.boards import load_board

    board = load_board(ROOT / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml")
    return detect_in_source(str(SHARED / "opencv_stereo_chessboard" / "left*.jpg"), board, camera="left")


@needs_data
def test_failed_calibration_rerun_keeps_every_earlier_output(tmp_path, left_detections):
    out = tmp_path / "rig.toml"
    _, report = calibrate_intrinsics({"left": left_detections}, left_detections.board, out)
    good = snapshot(tmp_path)
    assert sorted(good) == ["rig.json", "rig.toml", "rig_coverage_left.png"] and report["status"] == "ok"
    with pytest.raises(CalibrationError, match=r"report not written: .*rig\.json holds an earlier run's report"):
        calibrate_intrinsics({"left": left_detections}, left_detections.board, out, min_views=50)
    assert snapshot(tmp_path) == good
    # a first failure keeps its evidence: the report says why (no good report to keep)
    other = tmp_path / "other"
    with pytest.raises(CalibrationError, match=r"\(report: .*other/rig\.json\)"):
        calibrate_intrinsics({"left": left_detections}, left_detections.board, other / "rig.toml", min_views=50)
    assert files(other) == ["rig.json"] and json.loads((other / "rig.json").read_text())["status"] == "failed"


@needs_data
def test_failed_refine_rerun_keeps_every_earlier_output(tmp_path, monkeypatch, few_frames):
    out = tmp_path / "refined.toml"
    out.write_text("# the rig of a good run\n")
    write_json(out.with_suffix(".json"), {"status": "ok"})
    good = snapshot(tmp_path)

    def fails(*args, **kwargs):
        raise CalibrationError("nobody is seen by two cameras")

    monkeypatch.setattr(refine_app, "refine_rig_from_keypoints", fails)
    with pytest.raises(CalibrationError, match=r"two cameras \(report not written: .*refined\.json holds"):
        refine_app.run_refine(RIG, few_frames, out=out, skeleton="body_25b")
    assert snapshot(tmp_path) == good


# --- never a file that was not named --------------------------------------------------------------------------


def fake_lift(kp, **kwargs):
    from lift3d.core.skeleton import H36M_17
    from lift3d.predict.lifter import LiftResult

    t, v, p = kp.points.shape[:3]
    pts = np.zeros((t, v, p, 17, 3))
    return LiftResult(points_3d=pts, visible=np.ones((t, v, p, 17), bool), points_3d_world=pts, views=kp.views,
                      frame_ids=kp.frame_ids, skeleton=H36M_17, intrinsics="rig", fps=None)  # fmt: skip


@needs_data
def test_lift_never_replaces_an_npz_it_was_not_told_to_write(tmp_path, capsys, monkeypatch, few_frames):
    monkeypatch.setattr(lift_app, "lift_keypoints", fake_lift)  # the outputs are under test, not the lifter
    args = ["lift", "--keypoints", few_frames[0], "--skeleton", "body_25b", "--rig", RIG, "--fps", "60"]
    (tmp_path / "x.npz").write_bytes(b"someone else's file")
    code, out, err = run_cli(capsys, *args, "-o", tmp_path / "x.trc")
    assert code == 0, err
    assert (tmp_path / "x.npz").read_bytes() == b"someone else's file" and files(tmp_path) == ["x.npz", "x.trc"]
    assert f"note: {tmp_path / 'x.npz'} exists and was kept (not named by -o)" in out
    code, out, _ = run_cli(capsys, *args, "-o", tmp_path / "y.trc")  # no file in the way: the full result beside
    assert code == 0 and f"wrote {tmp_path / 'y.npz'}" in out and "y.npz" in files(tmp_path)


# --- Ctrl-C ---------------------------------------------------------------------------------------------------


def lift3d_command() -> list[str]:
    script = Path(sys.executable).parent / "lift3d"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lift3d.cli"]


def wait_until_main_runs(proc: subprocess.Popen, limit: float = 10.0) -> None:
    """Until `lift3d.cli.main` has taken over Ctrl-C: its watchdog is the process's first thread after the
    main one (Linux; elsewhere just a moment)."""
    tasks = Path(f"/proc/{proc.pid}/task")
    end = time.monotonic() + limit
    while time.monotonic() < end and tasks.is_dir() and proc.poll() is None:
        if len(list(tasks.iterdir())) > 1:
            return
        time.sleep(0.005)
    if not tasks.is_dir():
        time.sleep(0.2)


@needs_data
@pytest.mark.parametrize("delay", [0.3, 2.0])
def test_ctrl_c_stops_triangulate_and_touches_no_output(tmp_path, delay):
    trc = tmp_path / "trial.trc"
    trc.write_bytes(b"an earlier result\n")
    kp = read_keypoints(list(CAMS), skeleton="body_25b")  # 12 times over: beyond the numpy path, it compiles
    long = dataclasses.replace(kp, points=np.concatenate([kp.points] * 12), frame_ids=np.arange(12 * len(kp.frame_ids)),
                               confidence=np.concatenate([kp.confidence] * 12), person_score=None)  # fmt: skip
    keypoints = write_keypoints_npz(tmp_path / "long" / "keypoints.npz", long)
    argv = ["triangulate", "--rig", str(RIG), "--keypoints", str(keypoints), "--format", "npz", "--fps", "60",
            "-o", str(trc), "-o", str(tmp_path / "trial.csv")]  # fmt: skip
    env = {**os.environ, "LIFT3D_JAX_CACHE": "0"}  # compiling: the command is still busy after 2 s
    start = time.monotonic()
    proc = subprocess.Popen(lift3d_command() + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)  # fmt: skip
    try:
        wait_until_main_runs(proc)
        time.sleep(max(0.0, delay - (time.monotonic() - start)))
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < interrupts.GRACE_S + 3.0  # stops at once (at worst, the watchdog's deadline)
    lines = [line for line in err.splitlines() if line.strip() and "block/s" not in line and "%|" not in line]
    assert lines == ["lift3d triangulate: interrupted"], err
    assert trc.read_bytes() == b"an earlier result\n" and files(tmp_path) == ["long/keypoints.npz", "trial.trc"]


def test_ctrl_c_swallowed_by_the_command_still_stops_it_and_writes_nothing(tmp_path):
    """The watchdog: a command that catches every KeyboardInterrupt (and keeps a file half-written) is stopped
    after the grace period; the temporary file goes, the earlier file stays."""
    target = tmp_path / "out.json"
    target.write_text("earlier")
    code = (
        "import sys, time\n"
        "from lift3d.io.atomic import atomic_write\n"
        "from lift3d.io.interrupts import InterruptGuard\n"
        "InterruptGuard('lift3d test').install()\n"
        "with atomic_write(sys.argv[1]) as f:\n"
        "    f.write('half')\n"
        "    ready = False\n"
        "    while True:\n"
        "        try:\n"
        "            if not ready:\n"
        "                ready = print('ready', flush=True) or True\n"
        "            time.sleep(0.05)\n"
        "        except KeyboardInterrupt:\n"
        "            pass\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err == "lift3d test: interrupted\n"
    assert files(tmp_path) == ["out.json"] and target.read_text() == "earlier"


@pytest.fixture
def guard(monkeypatch):
    """An installed `InterruptGuard` whose watchdog never stops the test process."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    monkeypatch.setattr(interrupts, "GRACE_S", 60.0)
    g = interrupts.InterruptGuard("lift3d test")
    g.install()
    yield g
    g.uninstall()


def test_ctrl_c_dropped_inside_a_gc_callback_is_raised_again(guard):
    """JAX's gc callback used to eat the KeyboardInterrupt (the command carried on and exited 0)."""
    armed = [True]

    def callback(phase, info):
        if phase == "start" and armed:
            armed.clear()
            signal.raise_signal(signal.SIGINT)  # Python runs the handler here, inside the callback

    gc.callbacks.append(callback)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            gc.collect()
            while time.monotonic() - start < 2.0:
                time.sleep(0.001)
    finally:
        gc.callbacks.remove(callback)
    assert guard.interrupted and time.monotonic() - start < 1.0


def test_after_ctrl_c_no_output_set_commits(tmp_path, guard):
    (tmp_path / "a.json").write_text("earlier")
    try:  # a library that swallows the interrupt
        signal.raise_signal(signal.SIGINT)
        time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    with pytest.raises(KeyboardInterrupt), OutputSet():
        write_json(tmp_path / "a.json", {"late": True})
        write_json(tmp_path / "b.json", {"late": True})
    assert files(tmp_path) == ["a.json"] and (tmp_path / "a.json").read_text() == "earlier"
    guard.uninstall()  # the next command commits again
    with OutputSet():
        write_json(tmp_path / "b.json", {})
    assert files(tmp_path) == ["a.json", "b.json"]


def test_output_error_is_an_oserror_and_a_lift3d_error():
    assert issubclass(OutputError, OSError) and OutputError.__mro__[1].__name__ == "Lift3DError"

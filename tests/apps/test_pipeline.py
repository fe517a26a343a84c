"""`lift3d run` on a synthetic session: dots drawn at the joints of a moving figure in lossless videos of a
4-camera rig, found by a stand-in detector (`pipeline_dots`): the 3D comes back within a few mm; reruns skip,
resume and rerun from a changed input; batches in processes and on Dask; a broken trial does not stop the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pipeline_dots as dots
import pytest

from lift3d.apps import pipeline_batch, pipeline_stages
from lift3d.apps.pipeline import RunConfig, find_trials, run, trial_result
from lift3d.apps.pipeline_stages import find_rig
from lift3d.cli import main
from lift3d.errors import PipelineError, SyncError
from lift3d.io.motion import read_motion

DETECTOR = "pipeline_dots:make"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One trial (videos + calibration/), copied by each test."""
    return dots.write_trial(tmp_path_factory.mktemp("template") / "trial", dots.motion(), dots.rig())


@pytest.fixture
def detect_calls(monkeypatch) -> list[bool]:
    """The `resume` flag of each detect stage run."""
    calls: list[bool] = []
    real = pipeline_stages.detect_videos

    def detect(videos, out, *, resume, **options):
        calls.append(resume)
        return real(videos, out, resume=resume, **options)

    monkeypatch.setattr(pipeline_stages, "detect_videos", detect)
    return calls


def trial_copy(template: Path, where: Path, name: str = "trial") -> Path:
    return Path(shutil.copytree(template, where / name))


def manifest(trial: Path) -> dict:
    return json.loads((trial / "lift3d" / "stages.json").read_text())["stages"]


def statuses(result) -> dict[str, str]:
    return {s.name: s.status for s in trial_result(result).stages}


def test_run_reproduces_the_synthetic_3d_and_a_rerun_skips_every_stage(template, tmp_path, detect_calls, capsys,
                                                                      monkeypatch):  # fmt: skip
    trial = trial_copy(template, tmp_path)
    assert main(["run", str(trial), "--detector", DETECTOR]) == 0
    printed = capsys.readouterr().out
    assert "s (this run)" in printed and "triangulate" in printed and "total" in printed
    out = trial / "lift3d"
    for name in ("pose/cam01_json", "pose/keypoints.npz", "sync/offsets.toml", "report.html", "stages.json",
                 *(f"3d/trial{s}" for s in (".trc", ".c3d", ".csv", ".npz", ".bvh"))):  # fmt: skip
        assert (out / name).exists(), name
    truth = dots.motion()
    for suffix in (".trc", ".c3d", ".npz"):
        error_mm = np.linalg.norm(read_motion(out / f"3d/trial{suffix}").points - truth, axis=-1) * 1000
        assert np.isfinite(error_mm).all()
        assert np.median(error_mm) < 1.0 and np.percentile(error_mm, 99) < 6.0 and error_mm.max() < 30.0
    offsets = tomllib.loads((out / "sync/offsets.toml").read_text())  # the cameras are in sync: all found ~0
    assert all(abs(c["offset_frames"]) < 0.5 and c["confident"] for c in offsets.values())
    stages = manifest(trial)
    assert [stages[s]["state"] for s in ("detect", "sync", "triangulate", "report")] == ["done"] * 4
    assert stages["detect"]["inputs"][0][0] == "videos/cam01.avi" and stages["triangulate"]["config"]["people"] == 1
    report = (out / "report.html").read_text()
    assert "Synchronisation" in report and "left_wrist" in report and "cam04" in report
    assert detect_calls == [False]

    def no_detection(*args, **kwargs):
        raise AssertionError("a rerun with nothing changed ran the detector")

    monkeypatch.setattr(pipeline_stages, "detect_videos", no_detection)
    again = trial_result(run(RunConfig(folder=trial, detector=DETECTOR)))
    assert set(s.status for s in again.stages) == {"skipped"} and again.seconds < 2.0
    assert again.stage_seconds.keys() == {"detect", "sync", "triangulate", "report"}
    assert again.stages[0].last_seconds > 0


def test_a_changed_input_reruns_from_its_stage(template, tmp_path, detect_calls):
    trial = trial_copy(template, tmp_path)
    config = RunConfig(folder=trial, detector=DETECTOR)
    run(config)
    # another filter: triangulate and what follows
    changed = run(RunConfig(folder=trial, detector=DETECTOR, filter="none"))
    assert statuses(changed) == {"detect": "skipped", "sync": "skipped", "triangulate": "ran", "report": "ran"}
    # an output removed: its stage again
    (trial / "lift3d/3d/trial.trc").unlink()
    again = run(RunConfig(folder=trial, detector=DETECTOR, filter="none"))
    assert statuses(again)["triangulate"] == "ran" and (trial / "lift3d/3d/trial.trc").exists()
    # a video touched: everything, the detection from scratch (not resumed)
    video = trial / "videos/cam02.avi"
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert set(statuses(run(config)).values()) == {"ran"}
    assert detect_calls == [False, False]
    # the rig changed: triangulate again; --no-sync: sync off, triangulate again
    shutil.copy(trial / "calibration/rig.toml", trial / "calibration/rig_copy.toml")
    assert statuses(run(RunConfig(folder=trial, detector=DETECTOR, rig=trial / "calibration/rig_copy.toml")))[
        "triangulate"] == "ran"  # fmt: skip
    off = run(RunConfig(folder=trial, detector=DETECTOR, sync=False))
    assert statuses(off) == {"detect": "skipped", "sync": "off", "triangulate": "ran", "report": "ran"}
    assert "sync" not in manifest(trial)
    assert set(statuses(run(RunConfig(folder=trial, detector=DETECTOR, force=True))).values()) == {"ran"}
    assert detect_calls == [False, False, False]  # --force detects from scratch


def test_an_interrupted_stage_is_not_marked_done_and_the_rerun_resumes_it(template, tmp_path, detect_calls,
                                                                          monkeypatch):  # fmt: skip
    trial = trial_copy(template, tmp_path)
    config = RunConfig(folder=trial, detector=DETECTOR)
    real_detect = pipeline_stages.detect_videos

    def stopped(*args, **kwargs):
        real_detect(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline_stages, "detect_videos", stopped)
    with pytest.raises(KeyboardInterrupt):
        run(config)
    assert manifest(trial)["detect"]["state"] == "started"
    monkeypatch.setattr(pipeline_stages, "detect_videos", real_detect)
    real_triangulate = pipeline_stages._RUN["triangulate"]

    def ctrl_c(*args):
        raise KeyboardInterrupt

    monkeypatch.setitem(pipeline_stages._RUN, "triangulate", ctrl_c)
    assert main(["run", str(trial), "--detector", DETECTOR]) == 130  # the command: one line, exit 130
    assert detect_calls == [False, True]  # the same detection started again: resumed (finished cameras kept)
    stages = manifest(trial)
    assert stages["detect"]["state"] == "done" and stages["triangulate"]["state"] == "started"
    assert "report" not in stages and not (trial / "lift3d/3d").exists()
    monkeypatch.setitem(pipeline_stages._RUN, "triangulate", real_triangulate)
    finished = run(config)
    assert statuses(finished) == {"detect": "skipped", "sync": "skipped", "triangulate": "ran", "report": "ran"}
    assert (trial / "lift3d/3d/trial.bvh").exists()


def test_two_runs_never_share_an_output_folder(template, tmp_path, detect_calls):
    trial = trial_copy(template, tmp_path)
    lock = trial / "lift3d/.lift3d-run.lock"
    lock.parent.mkdir()
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")  # a live process holds it
    with pytest.raises(PipelineError, match="another lift3d run is working here"):
        run(RunConfig(folder=trial, detector=DETECTOR))
    assert detect_calls == []
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock.write_text(f"{socket.gethostname()} {gone.pid}\n")  # left by a killed run: taken over
    assert statuses(run(RunConfig(folder=trial, detector=DETECTOR, filter="none")))["report"] == "ran"
    assert not lock.exists()


def test_sync_that_finds_nothing_keeps_offsets_zero_and_says_so(template, tmp_path, detect_calls, monkeypatch):
    trial = trial_copy(template, tmp_path)

    def fails(*args, **kwargs):
        raise SyncError("camera cam03: too few frames with the person to synchronise on")

    monkeypatch.setattr(pipeline_stages, "sync_cameras", fails)
    run(RunConfig(folder=trial, detector=DETECTOR, filter="none", out=tmp_path / "results"))
    offsets = tomllib.loads((tmp_path / "results/sync/offsets.toml").read_text())
    assert set(offsets) == {"cam01", "cam02", "cam03", "cam04"}
    assert all(c["offset_frames"] == 0 and not c["confident"] for c in offsets.values())
    assert "too few frames" in (tmp_path / "results/report.html").read_text()
    assert not (trial / "lift3d").exists()


def test_a_camera_started_late_is_synchronised_and_a_wrong_offset_is_refused(tmp_path, detect_calls, monkeypatch):
    truth = dots.motion()
    trial = dots.write_trial(tmp_path / "late", truth, dots.rig(), delays={"cam02": 4})
    run(RunConfig(folder=trial, detector=DETECTOR))
    offsets = tomllib.loads((trial / "lift3d/sync/offsets.toml").read_text())
    assert round(offsets["cam02"]["offset_frames"]) == 4 and offsets["cam02"]["confident"]
    kept = manifest(trial)["sync"]["data"]["cameras"]["cam02"]["used_share"]
    assert kept[0] > kept[1]  # the rig agrees: cam02's detections fit the others' with the offset
    error_mm = np.linalg.norm(read_motion(trial / "lift3d/3d/late.trc").points - truth, axis=-1) * 1000
    assert np.isfinite(error_mm).mean() > 0.98  # cam02 lacks the last 4 frames: a few joints seen by 1 camera
    assert np.nanmedian(error_mm) < 1.0 and np.nanpercentile(error_mm, 95) < 6.0
    real_sync = pipeline_stages.sync_cameras

    def wrong(*args, **kwargs):  # a confident peak six frames off for cam03
        found, rates = real_sync(*args, **kwargs)
        found["cam03"] = dataclasses.replace(found["cam03"], offset_frames=6.0, offset_s=0.2)
        return found, rates

    monkeypatch.setattr(pipeline_stages, "sync_cameras", wrong)
    run(RunConfig(folder=trial, detector=DETECTOR, force=True))
    offsets = tomllib.loads((trial / "lift3d/sync/offsets.toml").read_text())
    assert offsets["cam03"]["offset_frames"] == 0 and round(offsets["cam02"]["offset_frames"]) == 4
    assert "offset refused by the rig for cam03 (+6.0 frames" in manifest(trial)["sync"]["data"]["note"]


def test_trials_and_rigs_are_found_in_pose2sim_layouts(template, tmp_path, capsys):
    session = tmp_path / "session"
    (session / "calibration").mkdir(parents=True)
    shutil.copy(template / "calibration/rig.toml", session / "calibration/Calib_board.toml")
    for name in ("P1/walk", "P1/run", "P2/walk"):
        shutil.copytree(template / "videos", session / name / "videos")
    (session / "P1/walk/lift3d/old/videos").mkdir(parents=True)  # outputs are never searched
    assert find_trials(session) == [session / "P1/run", session / "P1/walk", session / "P2/walk"]
    assert find_trials(session / "P1/walk") == [session / "P1/walk"]
    assert find_rig(session / "P2/walk") == (session / "calibration/Calib_board.toml").resolve()
    assert find_rig(session / "P2/walk", Path("mine.toml")) == Path("mine.toml")
    with pytest.raises(PipelineError, match="no trial"):
        find_trials(session / "calibration")
    boards = tmp_path / "boards"
    shutil.copytree(template / "videos", boards / "videos")
    (boards / "calibration/intrinsics").mkdir(parents=True)
    (boards / "calibration/intrinsics/cam01.png").write_bytes(b"")
    (boards / "calibration/notes.toml").write_text("[board]\nrows = 6\n")
    with pytest.raises(PipelineError, match="lift3d calibrate intrinsics"):
        find_rig(boards)
    assert main(["run", str(boards), "--detector", DETECTOR]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lift3d run: error:") and "calibrate" in err and len(err.splitlines()) == 1
    one = tmp_path / "one/videos"
    one.mkdir(parents=True)
    shutil.copy(template / "videos/cam01.avi", one)
    with pytest.raises(PipelineError, match="2 or more cameras"):
        run(RunConfig(folder=one.parent, rig=template / "calibration/rig.toml"))


def session_of(template: Path, where: Path) -> Path:
    """Two good trials and a broken one (a single camera) under session/."""
    session = where / "session"
    shutil.copytree(template / "calibration", session / "calibration")
    for name in ("a/t1", "b/t2"):
        shutil.copytree(template / "videos", session / name / "videos")
    (session / "c/broken/videos").mkdir(parents=True)
    shutil.copy(template / "videos/cam01.avi", session / "c/broken/videos")
    return session


def test_batch_in_two_processes_reports_the_broken_trial(template, tmp_path, capsys):
    session = session_of(template, tmp_path)
    code = main(["run", str(session), "--detector", DETECTOR, "--jobs", "2", "--filter", "none", "-o",
                 str(tmp_path / "out")])  # fmt: skip
    assert code == 2
    captured = capsys.readouterr()
    assert "2 of 3 trials done, 1 failed" in captured.out and "1 video(s)" in captured.out
    assert any(line.startswith("c/broken ") and "failed" in line for line in captured.out.splitlines())
    assert "1 of 3 trials failed" in captured.err
    for name in ("a/t1", "b/t2"):
        assert (tmp_path / "out" / name / "3d/t1.trc".replace("t1", Path(name).name)).exists()


def test_batch_on_a_dask_scheduler(template, tmp_path, detect_calls, capsys, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    session = session_of(template, tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        with pytest.raises(PipelineError, match="1 of 3 trials failed; first .*broken"):
            run(RunConfig(folder=session, detector=DETECTOR, filter="none", scheduler=cluster.scheduler_address))
    printed = capsys.readouterr().out
    assert "2 of 3 trials done, 1 failed" in printed and "1 video(s)" in printed
    assert (session / "a/t1/lift3d/3d/t1.trc").exists() and (session / "b/t2/lift3d/3d/t2.bvh").exists()
    monkeypatch.setattr(pipeline_batch, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(PipelineError, match="cannot reach"):
        run(RunConfig(folder=session, scheduler="tcp://127.0.0.1:9"))

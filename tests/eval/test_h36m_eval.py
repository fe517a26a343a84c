"""Human3.6M-style evaluation on files the synthetic twin writes: tables, matching, bad input, the CLI."""

import json

import jax
import numpy as np
import pytest

from lift3d.cli import main
from lift3d.datasets.h36m import load_h36m, load_learnable_triangulation, load_martinez, load_videopose3d
from lift3d.eval.h36m_eval import EvaluationError, evaluate_h36m, load_predictions, save_predictions
from lift3d.synthetic import twin as synthetic


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """Two test subjects, 3 actions (Greeting has S9's damaged take), written in all three layouts."""
    folder = tmp_path_factory.mktemp("twin")
    ds = synthetic.make_dataset(
        jax.random.key(3),
        subjects=("S9", "S11"),
        actions=("Greeting", "Walking", "Sitting"),
        frames_per_sequence=130,
    )
    synthetic.write_videopose3d(ds, folder)
    synthetic.write_martinez(ds, folder / "martinez")
    synthetic.write_learnable_triangulation_labels(ds, folder / "labels.npy")
    return folder, load_videopose3d(folder / "data_3d_h36m.npz")


def rows(ds, points=None):
    a = ds.arrays()
    names = np.asarray([s.name for s in ds.sequences])
    points = a.points_3d if points is None else points
    return points, np.asarray(a.subjects)[a.subject], names[a.sequence], a.frame


def test_perfect_and_offset_predictions(twin, tmp_path):
    _, ds = twin
    points, subject, action, frame = rows(ds)
    path = save_predictions(tmp_path / "p.npz", points, subject=subject, action=action, frame=frame)
    report = evaluate_h36m(
        load_predictions(path), ds, protocols=("p1", "p2", "abs", "pck", "auc"), progress=False
    )
    assert report.average["p1"] == pytest.approx(0, abs=1e-3)
    assert report.average["p2"] == pytest.approx(0, abs=1e-2)
    assert report.average["pck"] == 100.0
    assert report.average["auc"] == pytest.approx(100 * 30 / 31)  # the 0 mm threshold never passes ("<")
    # S9's damaged Greeting take is left out; its predictions are ignored, not an error
    assert report.ignored_predictions == len(ds.select(subjects=["S9"], names=["Greeting"]).arrays().frame)

    shifted = points + np.array([30.0, -40.0, 0.0])  # 50 mm translation: P1 blind to it, absolute not
    moved = points.copy()
    moved[:, 13] += [10.0, 0, 0]  # one joint (left wrist) 10 mm off in every frame
    for pts, p1, absolute in ((shifted, 0.0, 50.0), (moved, 10 / 17, 10 / 17)):
        save_predictions(tmp_path / "q.npz", pts, subject=subject, action=action, frame=frame)
        report = evaluate_h36m(
            load_predictions(tmp_path / "q.npz"), ds, protocols=("p1", "abs"), progress=False
        )
        assert report.average["p1"] == pytest.approx(p1, abs=1e-3)
        assert report.average["abs"] == pytest.approx(absolute, abs=1e-3)
        assert set(report.per_action) == {"Greeting", "Walking", "Sitting"}
        assert report.per_joint["abs"]["left_wrist"] == pytest.approx(absolute if p1 == 0 else 10.0, abs=1e-3)


def test_every_64_and_metres(twin, tmp_path):
    _, ds = twin
    points, subject, action, frame = rows(ds)
    save_predictions(
        tmp_path / "m.npz", points / 1000.0, subject=subject, action=action, frame=frame, units="m"
    )
    report = evaluate_h36m(load_predictions(tmp_path / "m.npz"), ds, every=64, progress=False)
    # 130 frames per take -> frames 0, 64, 128; 2 subjects x 3 actions x 2 takes, minus S9's damaged Greeting
    assert sum(report.counts.values()) == 3 * (2 * 3 * 2 - 1)
    assert report.average["p1"] == pytest.approx(0, abs=1e-2)


def test_camera_frame_predictions(twin, tmp_path):
    _, ds = twin
    cs = ds.camera_samples()
    names = np.asarray([s.name for s in ds.sequences])
    save_predictions(
        tmp_path / "c.npz",
        cs.points_3d_camera + np.array([0.0, 0.0, 100.0]),
        subject=np.asarray(cs.subjects)[cs.subject],
        action=names[cs.sequence],
        frame=cs.frame,
        camera=np.asarray(cs.camera_names)[cs.camera],
    )
    report = evaluate_h36m(load_predictions(tmp_path / "c.npz"), ds, protocols=("p1", "abs"), progress=False)
    assert report.average["p1"] == pytest.approx(0, abs=1e-2)
    assert report.average["abs"] == pytest.approx(100.0, abs=1e-2)


def test_three_layouts_give_the_same_table(twin, tmp_path):
    folder, ds = twin
    rng = np.random.default_rng(0)
    points, subject, action, frame = rows(ds)
    noisy = points + rng.normal(0, 15, points.shape)
    loaded = {
        "videopose3d": load_h36m(folder),
        "martinez": load_martinez(folder / "martinez"),
        "learnable": load_learnable_triangulation(folder / "labels.npy"),
    }

    # same takes, same arrays: Martinez (float64 mm) and learnable-triangulation (float32 mm) to 1e-6 mm;
    # VideoPose3D stores float32 metres, so it agrees to float32 resolution at 5 m (~5e-4 mm)
    def by_take(data):
        return {
            (s.subject, s.action, round(float(s.points_3d[0, 0, 0]))): s.points_3d for s in data.sequences
        }

    takes = {layout: by_take(data) for layout, data in loaded.items()}
    assert takes["martinez"].keys() == takes["learnable"].keys() == takes["videopose3d"].keys()
    for k, ref in takes["martinez"].items():
        np.testing.assert_allclose(takes["learnable"][k], ref, atol=1e-6, rtol=0)
        np.testing.assert_allclose(takes["videopose3d"][k], ref, atol=1e-3, rtol=0)
    averages = {}
    for layout, data in loaded.items():
        # each layout names takes its own way; predictions use that layout's names for the same frames
        ref = {(s.subject, s.action, len(s), float(s.points_3d[0, 0, 0])): s.name for s in data.sequences}
        lookup = {
            s.name: ref[(s.subject, s.action, len(s), float(s.points_3d[0, 0, 0]))] for s in ds.sequences
        }
        save_predictions(
            tmp_path / f"{layout}.npz",
            noisy,
            subject=subject,
            action=[lookup[a] for a in action],
            frame=frame,
        )
        report = evaluate_h36m(
            load_predictions(tmp_path / f"{layout}.npz"), data, protocols=("p1", "p2"), progress=False
        )
        averages[layout] = report.average
    for layout in ("martinez", "learnable"):
        for p in ("p1", "p2"):
            assert averages[layout][p] == pytest.approx(averages["videopose3d"][p], abs=1e-3)


def test_bad_input_names_what_is_wrong(twin, tmp_path):
    _, ds = twin
    points, subject, action, frame = rows(ds)

    def check(match, **changes):
        fields = dict(points_3d=points, subject=subject, action=action, frame=frame, units=np.asarray("mm"))
        fields.update(changes)
        np.savez(tmp_path / "bad.npz", **fields)
        with pytest.raises(EvaluationError, match=match):
            evaluate_h36m(load_predictions(tmp_path / "bad.npz"), ds, progress=False)

    check("subject 'S10' is not in the ground truth", subject=np.where(subject == "S9", "S10", subject))
    check("action 'Dancing' of subject", action=np.where(action == action[0], "Dancing", action))
    check("'points_3d' has 16 joints", points_3d=points[:, :16])
    check("look like metres", points_3d=points / 1000.0)
    check("field 'frame' has shape", frame=frame[:-5])
    keep = np.arange(len(frame)) != np.flatnonzero(action == "Walking")[0]  # a take that is evaluated
    check(
        "no prediction for 1 of",
        points_3d=points[keep],
        subject=subject[keep],
        action=action[keep],
        frame=frame[keep],
    )
    check("two predictions for", frame=np.where(frame == 1, 0, frame))
    np.savez(tmp_path / "nokey.npz", points_3d=points)
    with pytest.raises(EvaluationError, match="missing field 'subject'"):
        load_predictions(tmp_path / "nokey.npz")
    with pytest.raises(EvaluationError, match="unknown protocol 'p9'"):
        evaluate_h36m(load_predictions(tmp_path / "bad.npz"), ds, protocols=("p9",), progress=False)


def test_cli_eval_prints_and_writes_the_table(twin, tmp_path, capsys):
    folder, ds = twin
    points, subject, action, frame = rows(ds)
    noisy = points + np.random.default_rng(1).normal(0, 10, points.shape)
    save_predictions(tmp_path / "pred.npz", noisy, subject=subject, action=action, frame=frame)
    code = main(
        ["eval", "--pred", str(tmp_path / "pred.npz"), "--data", str(folder), "--protocol", "p1,p2,pck"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "| Walking |" in out and "**Average**" in out and "P-MPJPE" in out
    report = json.loads((tmp_path / "pred_eval.json").read_text())
    assert 15 < report["average"]["p1"] < 30  # 10 mm per axis: ~16 mm per joint, ~23 mm after root alignment
    assert (tmp_path / "pred_eval.md").read_text().count("|") > 20
    assert (
        main(["eval", "--pred", str(tmp_path / "pred.npz"), "--data", str(folder), "--subjects", "S9,S12"])
        == 2
    )
    err = capsys.readouterr().err
    assert "S12" in err and len(err.strip().splitlines()) == 1

"""`lift3d eval` never scores wrong input silently: units from bone lengths, missing joints by a stated rule
(before: centimetre predictions gave 389 mm instead of 59 mm; the worst half of the joints left out scored
38 mm instead of 59 mm; all joints missing printed a table of NaN)."""

import warnings

import jax
import numpy as np
import pytest

from lift3d.cli import main
from lift3d.errors import EvaluationError, EvaluationWarning
from lift3d.eval.h36m_eval import MISSING_RULE, evaluate_h36m, load_predictions, save_predictions
from lift3d.synthetic import twin as synthetic


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twin")
    ds = synthetic.make_dataset(jax.random.key(5), subjects=("S9", "S11"), actions=("Walking", "Sitting"),
                                frames_per_sequence=40)  # fmt: skip
    synthetic.write_videopose3d(ds, folder)
    a = ds.arrays()
    names = np.asarray([s.name for s in ds.sequences])
    keys = {"subject": np.asarray(a.subjects)[a.subject], "action": names[a.sequence], "frame": a.frame}
    noisy = a.points_3d + np.random.default_rng(0).normal(0, 25.0, a.points_3d.shape)
    return folder, ds, noisy, keys


def evaluate(tmp_path, points, keys, ds, protocols=("p1", "p2", "pck"), units="mm"):
    path = save_predictions(tmp_path / "pred.npz", points, units=units, **keys)
    return evaluate_h36m(load_predictions(path), ds, protocols=protocols, progress=False)


def test_units_from_bone_lengths(twin, tmp_path):
    _, ds, noisy, keys = twin
    good = evaluate(tmp_path, noisy, keys, ds)
    assert 30 < good.average["p1"] < 60 and good.complete
    with pytest.raises(EvaluationError, match=r"bones are 0.1\d* times as long.*they look like centimetres: set "
                                              r"units='cm' in the file or pass --pred-units cm"):  # fmt: skip
        evaluate(tmp_path, noisy / 10, keys, ds)
    with pytest.raises(EvaluationError, match="they look like metres"):
        evaluate(tmp_path, noisy / 1000, keys, ds)
    as_cm = evaluate(tmp_path, noisy / 10, keys, ds, units="cm")  # declared: the same numbers
    assert as_cm.average["p1"] == pytest.approx(good.average["p1"], rel=1e-4)
    # P2 and N fit a scale: a wrong unit does not change them, so they are not refused
    assert evaluate(tmp_path, noisy / 10, keys, ds, protocols=("p2",)).average["p2"] == pytest.approx(
        good.average["p2"], rel=1e-3
    )


def test_missing_joints_follow_the_stated_rule(twin, tmp_path):
    _, ds, noisy, keys = twin
    full = evaluate(tmp_path, noisy, keys, ds, protocols=("p1", "pck"))
    partial = noisy.copy()
    partial[::2, 13] = np.nan  # every other pose misses its left wrist
    with pytest.warns(EvaluationWarning, match=r"\d+ of \d+ poses miss joints.*left out of the error protocols"):
        report = evaluate(tmp_path, partial, keys, ds, protocols=("p1", "pck"))
    assert report.coverage["complete_poses"] == len(noisy) // 2 and not report.complete
    assert report.average["pck"] < full.average["pck"]  # a missing joint is a failure, never a free pass
    table = report.to_markdown()
    assert "| complete |" in table and "| 50 % |" in table and MISSING_RULE in table
    assert "complete" not in full.to_markdown()  # complete predictions keep the usual table


def test_nothing_to_score_is_refused(twin, tmp_path):
    _, ds, noisy, keys = twin
    with pytest.raises(EvaluationError, match="every predicted joint of the \\d+ evaluated poses is missing"):
        evaluate(tmp_path, np.full_like(noisy, np.nan), keys, ds)
    half = noisy.copy()
    half[:, 1::2] = np.nan  # half of the joints of every pose
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        with pytest.raises(EvaluationError, match="no pose of action '\\w+' .* has all 17 joints"):
            evaluate(tmp_path, half, keys, ds)
        pck = evaluate(tmp_path, half, keys, ds, protocols=("pck",))  # PCK counts the missing joints as failures
    assert pck.average["pck"] < 60


def test_cli_refuses_centimetres_and_accepts_the_fix(twin, tmp_path, capsys):
    folder, _, noisy, keys = twin
    save_predictions(tmp_path / "cm.npz", noisy / 10, **keys)
    args = ["eval", "--pred", str(tmp_path / "cm.npz"), "--data", str(folder), "--subjects", "S9,S11"]
    assert main(args) == 2
    assert "--pred-units cm" in capsys.readouterr().err
    assert not (tmp_path / "cm_eval.md").exists()
    assert main([*args, "--pred-units", "cm"]) == 0
    assert "MPJPE" in capsys.readouterr().out

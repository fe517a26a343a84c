"""`lift3d train lifter --data`: the twin written in each Human3.6M layout, motion files, and bad input."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from lift3d.core.skeleton import COCO_17, H36M_17
from lift3d.datasets import h36m
from lift3d.datasets.motion_dataset import (
    SkeletonMappingError,
    TrainingDataError,
    data_kind,
    motion_world,
    read_motions,
)
from lift3d.io.motion import read_motion, write_motion
from lift3d.synthetic import twin
from lift3d.train.data_pipeline import train_samples
from lift3d.train.lifter_trainer import LifterConfig, load_data, train_and_evaluate

TINY = LifterConfig(train_subjects=("S1",), test_subjects=("S9",), width=16, num_blocks=1, batch_size=32,
                    num_epochs=1, max_steps=3, test_every=5, log_every=1, checkpoint_every=1000,
                    eval_batch_size=64, progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_twin() -> h36m.H36MDataset:
    return twin.make_dataset(jax.random.key(0), subjects=("S1", "S9"), actions=("Walking",), trials=1,
                             frames_per_sequence=40)  # fmt: skip


@pytest.fixture(scope="module")
def layouts(tiny_twin, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("layouts")
    h36m.write_videopose3d(tiny_twin, root / "vp3d")
    h36m.write_martinez(tiny_twin, root / "martinez")
    lt = h36m.write_learnable_triangulation_labels(tiny_twin, root / "lt" / "human36m-multiview-labels-GTbboxes.npy")
    return {"videopose3d": root / "vp3d", "martinez": root / "martinez", "learnable-triangulation": lt}


@pytest.mark.parametrize("layout", ["videopose3d", "martinez", "learnable-triangulation"])
def test_train_on_the_twin_in_each_layout(layout, layouts, tiny_twin, tmp_path):
    config = dataclasses.replace(TINY, data=str(layouts[layout]))
    assert data_kind(config.data) == "h36m"
    train, test = load_data(config)
    expected = train_samples(tiny_twin.select(subjects=["S1"]))
    np.testing.assert_allclose(train.points_camera, expected.points_camera, atol=0.05)  # mm
    assert len(test) == 40 // 5 * 4 and set(test.subject) == {"S9"}  # S9's frames in 4 cameras
    assert np.isfinite(test.rays).all()
    res = train_and_evaluate(config, tmp_path / layout)
    assert res["step"] == 3 and np.isfinite(res["p1_mm"]) and res["train_samples"] == 40 * 4


def _coco_from_h36m(points: np.ndarray) -> np.ndarray:
    """COCO-17 joints made from H36M-17 ones (face joints at the nose / head: enough to map back)."""
    h = H36M_17.index
    out = np.empty((len(points), 17, 3))
    for k, name in enumerate(COCO_17.joints):
        src = name if name in H36M_17.joints else "neck_nose" if name in ("nose", "left_eye", "right_eye") else "head"
        out[:, k] = points[:, h(src)]
    return out


def test_motion_file_mapped_upright_and_trained_on(tiny_twin, tmp_path):
    world_m = tiny_twin.select(subjects=["S1"]).sequences[0].points_3d.astype(np.float64) / 1000.0
    path = tmp_path / "trial.trc"
    write_motion(path, _coco_from_h36m(world_m), joint_names=COCO_17.joints, fps=50, units="m", y_up=True)
    assert data_kind(path) == "motion" and read_motion(path).y_up is None  # TRC records no vertical axis
    got = read_motions(path)["trial"]  # COCO names mapped, Y-up found from the body and undone
    limbs = [H36M_17.index(j) for j in H36M_17.joints if j in COCO_17.joints]
    np.testing.assert_allclose(got[:, limbs], world_m[:, limbs], atol=1e-5)
    np.testing.assert_allclose(got[:, 0], world_m[:, 0], atol=1e-5)  # pelvis = mid-hips, as the twin's
    config = dataclasses.replace(TINY, data=str(path), virtual_views=3, test_every=1, batch_size=16)
    train, test = load_data(config)
    assert len(train) == 32 * 3 and len(test) == 8 * 3  # the last 20 % of frames held out, 3 cameras each
    assert set(test.camera) == {"virtual_0", "virtual_1", "virtual_2"}
    assert np.all(train.points_camera[..., 2] > 1000)  # everyone metres in front of the cameras
    res = train_and_evaluate(config, tmp_path / "run")
    assert res["step"] == 3 and np.isfinite(res["p2_mm"])
    small_twin = dict(actions=("Walking",), trials=1, frames_per_sequence=40)
    mixed, mixed_test = load_data(dataclasses.replace(config, with_twin=True, **small_twin))
    assert len(mixed) == 40 * 4 + len(train) and len(mixed_test) == len(test)  # the twin's S1 added to training
    np.testing.assert_array_equal(mixed.points_camera[-len(train) :], train.points_camera)


def test_motion_with_the_rig_it_came_from(tiny_twin, tmp_path):
    world_mm = tiny_twin.select(subjects=["S1"]).sequences[0].points_3d.astype(np.float64)
    path = tmp_path / "trial.npz"
    write_motion(path, world_mm, joint_names=H36M_17.joints, fps=50, units="mm")
    rig = h36m.write_h36m_rigs(tmp_path / "rigs")[0]
    assert rig.name == "S1.toml"
    config = dataclasses.replace(TINY, data=str(path), rig=str(rig), virtual_views=2, test_every=1)
    train, test = load_data(config)
    assert len(train) == 32 * (2 + 4)
    real = test.camera == h36m.h36m_cameras("S1").names[0]
    assert real.sum() == 8  # the rig's first camera sees each test frame, perfect 2D
    direct = (np.einsum("ab,tjb->tja", np.asarray(h36m.h36m_cameras("S1").cameras.R[0]), world_mm[32:])
              + np.asarray(h36m.h36m_cameras("S1").cameras.t[0]))  # fmt: skip
    np.testing.assert_allclose(test.rays[real], direct[..., :2] / direct[..., 2:], atol=1e-5)


def test_bad_data_names_the_file(tmp_path, tiny_twin):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("nothing here")
    with pytest.raises(TrainingDataError, match=r"empty: not data lift3d can train on; expected a Human3\.6M"):
        load_data(dataclasses.replace(TINY, data=str(empty)))
    with pytest.raises(TrainingDataError, match="no such file or folder"):
        data_kind(tmp_path / "missing")
    odd = tmp_path / "odd.csv"
    write_motion(odd, np.zeros((5, 3, 3)) + [0, 0, 1.0], joint_names=("a", "b", "c"), fps=30, units="m")
    with pytest.raises(SkeletonMappingError, match=r"odd\.csv: joints a, b, c\.\.\. cannot be mapped to H36M-17"):
        read_motions(odd)
    lying = tiny_twin.sequences[0].points_3d[..., [2, 1, 0]] / 1000.0  # the body along x
    flat = tmp_path / "lying.trc"
    write_motion(flat, lying, joint_names=H36M_17.joints, fps=50, units="m")
    with pytest.raises(TrainingDataError, match=r"lying\.trc: the file does not record its vertical axis"):
        motion_world(read_motion(flat))
    assert np.isfinite(motion_world(read_motion(flat), up="z")).all()  # told: used as given
    only_s1 = tmp_path / "s1"
    h36m.write_videopose3d(tiny_twin.select(subjects=["S1"]), only_s1)
    with pytest.raises(TrainingDataError, match=r"s1: no test subject \(S9\) among S1"):
        load_data(dataclasses.replace(TINY, data=str(only_s1)))


def test_cli_data_option(tiny_twin, tmp_path, capsys):
    from lift3d.cli import main

    world_mm = tiny_twin.select(subjects=["S1"]).sequences[0].points_3d.astype(np.float64)
    path = tmp_path / "trial.npz"
    write_motion(path, world_mm, joint_names=H36M_17.joints, fps=50, units="mm")
    config = "experiments/lifter_real_data.py:smoke"
    assert main(["train", "lifter", "--config", config, "--workdir", str(tmp_path / "run"), "--data", str(path)]) == 0
    assert '"step": 10' in capsys.readouterr().out
    empty = tmp_path / "nothing"
    empty.mkdir()
    assert main(["train", "lifter", "--config", config, "--workdir", str(tmp_path / "r2"), "--data", str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing: not data lift3d can train on" in err[0]

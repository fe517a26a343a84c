"""Learnable-triangulation training: tiny overfit, resume after an interruption, config checks, predictions file.

The dataset is an in-memory fake with the data contract of `lift3d.train.lt_trainer`: 4 cameras on a circle
around a random pose, 32 x 32 crops centred on the pelvis, each joint drawn as a coloured Gaussian blob.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from lift3d.errors import CheckpointError
from lift3d.eval.h36m_eval import load_predictions
from lift3d.train.lt_eval import load_model, predict
from lift3d.train.lt_trainer import load_config, train_and_evaluate

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "experiments" / "lt_synthetic.py"


def look_at(center: np.ndarray, eye: np.ndarray, f: float, size: int) -> np.ndarray:
    """A 3x4 projection matrix of a camera at `eye` looking at `center` (z-up world), principal point centred."""
    z = center - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
    return K @ np.c_[R, -R @ eye]


class FakeDataset:
    """Random poses seen by 4 cameras, images with a blob per joint (the trainer's data contract).

    Test batches: with ``padded`` (as `lift3d.datasets.multiview`), full size with ``sample_mask`` and ``index``
    into ``test_keys``; otherwise a short last batch and keys from ``test_samples``.
    """

    num_joints = 17

    def __init__(self, n_train: int, n_test: int, *, size: int = 32, views: int = 4, seed: int = 0,
                 test_is_train: bool = False, padded: bool = True):  # fmt: skip
        rng = np.random.default_rng(seed)
        self.image_size = (size, size)
        n = n_train + (0 if test_is_train else n_test)
        pelvis = np.c_[rng.uniform(-500, 500, (n, 2)), np.full(n, 1000.0)]
        joints = pelvis[:, None] + rng.normal(0, 300, (n, 17, 3))
        joints[:, 0] = pelvis
        proj = np.empty((n, views, 3, 4))
        for s in range(n):
            for v in range(views):
                a = 2 * np.pi * v / views + 0.3
                proj[s, v] = look_at(pelvis[s], np.array([4000 * np.cos(a), 4000 * np.sin(a), 1600.0]), 60.0, size)
        h = np.einsum("nvik,njk->nvji", proj[..., :3], joints) + proj[..., None, :, 3]
        uv = h[..., :2] / h[..., 2:]
        colors = rng.uniform(-2, 2, (17, 3))
        yy, xx = np.mgrid[:size, :size]
        d2 = (xx[None, None, None] - uv[..., 0, None, None]) ** 2 + (yy[None, None, None] - uv[..., 1, None, None]) ** 2
        blobs = np.exp(-d2 / 2.0)  # (n, v, j, H, W)
        images = np.einsum("nvjhw,jc->nvhwc", blobs, colors) + rng.normal(0, 0.05, (n, views, size, size, 3))
        self.data = {
            "images": images.astype(np.float32), "proj": proj.astype(np.float32),
            "view_mask": np.ones((n, views), bool), "joints_3d": joints.astype(np.float32),
            "joints_valid": np.ones((n, 17), bool), "joints_2d": uv.astype(np.float32),
            "pelvis": pelvis.astype(np.float32), "occluded": rng.uniform(size=(n, views, 17)) < 0.2,
        }  # fmt: skip
        self.train_rows = np.arange(n_train)
        self.test_rows = np.arange(n_train) if test_is_train else np.arange(n_train, n)
        self.padded = padded
        self.test_keys = [("S9", "Walking", i) for i in range(len(self.test_rows))]
        self.test_samples = None if padded else [{"subject": s, "action": a, "frame": f} for s, a, f in self.test_keys]

    def iterate(self, key, batch_size: int, *, train: bool):
        if train:
            rows = self.train_rows[np.asarray(jax.random.permutation(key, len(self.train_rows)))]
            for s in range(0, len(rows) - batch_size + 1, batch_size):
                yield {k: v[rows[s : s + batch_size]] for k, v in self.data.items()}
        else:
            for s in range(0, len(self.test_rows), batch_size):
                pos = np.arange(s, min(s + batch_size, len(self.test_rows)))
                if self.padded:
                    pos = np.concatenate([pos, np.full(batch_size - len(pos), -1)])
                batch = {k: v[self.test_rows[np.maximum(pos, 0)]] for k, v in self.data.items()}
                if self.padded:
                    batch.update(sample_mask=pos >= 0, index=pos)
                yield batch


@pytest.fixture(scope="module")
def smoke():
    return dataclasses.replace(load_config(f"{CONFIG}:smoke"), progress=False)


def _lines(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_config_variants():
    assert load_config(f"{CONFIG}:paper_volumetric").volume_size == 64
    assert load_config(f"{CONFIG}:paper_algebraic").depth == 152
    assert load_config(CONFIG).model == "algebraic"
    assert not load_config(f"{CONFIG}:algebraic_noconf").use_confidences
    with pytest.raises(ValueError, match="unknown variant"):
        load_config(f"{CONFIG}:nope")


@pytest.mark.parametrize("variant, factor", [("smoke", 0.5), ("smoke_volumetric", 0.85)])
def test_overfit_two_samples(variant, factor, tmp_path):
    """Two samples, train = test, 40 steps: the error falls (algebraic: to under half; the volumetric
    model's flat start moves slower) and the test error (running BatchNorm statistics) follows."""
    ds = FakeDataset(2, 0, test_is_train=True, padded=False)
    config = dataclasses.replace(load_config(f"{CONFIG}:{variant}"), progress=False, max_steps=40, log_every=5,
                                 eval_every=40, checkpoint_every=40)  # fmt: skip
    res = train_and_evaluate(config, tmp_path / "overfit", dataset=ds)
    lines = _lines(tmp_path / "overfit")
    train = [e["mpjpe_mm"] for e in lines if e["split"] == "train"]
    assert train[-1] < factor * train[0], train
    assert res["mpjpe_abs_mm"] < factor * train[0], (res, train)
    assert all(np.isfinite(e["grad_norm"]) and e["grad_norm"] > 0 for e in lines if e["split"] == "train")


def test_smoke_resume_predictions_and_mismatch(smoke, tmp_path):
    ds = FakeDataset(6, 3)
    full = tmp_path / "full"
    res = train_and_evaluate(smoke, full, dataset=ds)
    assert res["step"] == 6 and np.isfinite(res["mpjpe_abs_mm"]) and np.isfinite(res["mpjpe_rel_occluded_mm"])
    lines = _lines(full)
    assert [e["step"] for e in lines if e["split"] == "train"] == [2, 4, 6]
    assert [e["step"] for e in lines if e["split"] == "test"] == [6]
    pred = load_predictions(full / "predictions_test.npz")
    assert pred.points_3d.shape == (3, 17, 3) and list(pred.frame) == [0, 1, 2] and pred.camera is None
    # the inference checkpoint reproduces the run's test predictions
    model, meta = load_model(full / "model")
    assert meta["model"] == "algebraic" and meta["step"] == 6
    from flax import nnx

    graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    batch = {k: v[ds.test_rows] for k, v in ds.data.items()}
    np.testing.assert_allclose(predict(graphdef, params, stats, batch), pred.points_3d, rtol=1e-5, atol=1e-2)

    class Kill(RuntimeError):
        pass

    def kill_at_5(step):
        if step == 5:
            raise Kill

    cut = tmp_path / "cut"
    with pytest.raises(Kill):
        train_and_evaluate(smoke, cut, dataset=ds, hooks=[kill_at_5])
    resumed = train_and_evaluate(smoke, cut, dataset=ds)  # from the checkpoint of step 4
    assert resumed["mpjpe_abs_mm"] == res["mpjpe_abs_mm"]
    key = lambda e: (e["step"], e["split"], e.get("loss"), e.get("mpjpe_abs_mm"))  # noqa: E731
    assert [key(e) for e in _lines(cut)] == [key(e) for e in lines]
    np.testing.assert_array_equal(load_predictions(cut / "predictions_test.npz").points_3d, pred.points_3d)
    with pytest.raises(CheckpointError, match=r"width: 8 -> 16"):
        train_and_evaluate(dataclasses.replace(smoke, width=16), cut, dataset=ds)


def test_volumetric_centres_from_predictions(tmp_path):
    """The volumetric model at test time takes cuboid centres from an (algebraic) predictions file."""
    from lift3d.eval.h36m_eval import save_predictions

    ds = FakeDataset(2, 3)
    config = dataclasses.replace(load_config(f"{CONFIG}:smoke_volumetric"), progress=False, max_steps=2,
                                 log_every=1, eval_every=2, checkpoint_every=2)  # fmt: skip
    rows = ds.test_rows
    pts = np.repeat(ds.data["pelvis"][rows][:, None], 17, 1)
    save_predictions(tmp_path / "alg.npz", pts, subject=["S9"] * 3, action=["Walking"] * 3, frame=[0, 1, 2])
    a = train_and_evaluate(config, tmp_path / "gt_centre", dataset=ds)
    b = train_and_evaluate(dataclasses.replace(config, center_predictions=str(tmp_path / "alg.npz")),
                           tmp_path / "pred_centre", dataset=ds)  # fmt: skip
    assert a["mpjpe_abs_mm"] == pytest.approx(b["mpjpe_abs_mm"], rel=1e-5)
    save_predictions(tmp_path / "short.npz", pts[:2], subject=["S9"] * 2, action=["Walking"] * 2, frame=[0, 1])
    with pytest.raises(ValueError, match=r"short.npz: no prediction for test sample \('S9', 'Walking', 2\)"):
        train_and_evaluate(dataclasses.replace(config, center_predictions=str(tmp_path / "short.npz")),
                           tmp_path / "short", dataset=ds)  # fmt: skip


def test_cli_renders_the_synthetic_set_trains_and_evaluates(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from lift3d.cli import main

    monkeypatch.setenv("LIFT3D_CACHE", str(tmp_path / "cache"))
    config = str(Path(__file__).resolve().parents[2] / "experiments" / "lt_synthetic.py")
    assert main(["train", "volumetric", "--config", f"{config}:smoke", "--workdir", str(tmp_path / "w")]) == 2
    assert "not 'volumetric'" in capsys.readouterr().err
    assert main(["train", "algebraic", "--config", f"{config}:smoke", "--workdir", str(tmp_path / "run")]) == 0
    labels = tmp_path / "cache" / "lt_synthetic_32" / "extra" / "human36m-multiview-labels-GTbboxes.npy"
    assert labels.is_file()  # rendered on first use, in learnable-triangulation's layout
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert any("mpjpe_rel_mm" in line for line in lines)
    assert (tmp_path / "run" / "predictions_test.npz").is_file()  # `lift3d eval`'s predictions format
    assert json.loads((tmp_path / "run" / "results.json").read_text())["num_samples"] > 0

"""Learnable triangulation on learnable-triangulation's processed Human3.6M layout (``--data ROOT``), data-parallel
over fake CPU devices, the backbone started from a trained model, and the errors of bad input.

The layout is the synthetic set written by `make_synthetic_multiview` (S1 for training, S9 for testing, 4 frames
each, 32 px crops: the ``smoke`` variants' size).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from lift3d.datasets.multiview import LABELS_NAME, lt_layout_dataset, open_lt_root
from lift3d.errors import CheckpointError, ConfigError, Lift3DError, LTDataError
from lift3d.synthetic.multiview_dataset import make_synthetic_multiview
from lift3d.train.lt_config import model_kwargs, with_data_root
from lift3d.train.lt_eval import save_model
from lift3d.train.lt_trainer import init_backbone, init_state, load_config, train_and_evaluate

ROOT = Path(__file__).resolve().parents[2]
H36M = ROOT / "experiments" / "lt_h36m.py"
SYNTHETIC = ROOT / "experiments" / "lt_synthetic.py"


@pytest.fixture(scope="module")
def h36m_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h36m")
    make_synthetic_multiview(root, subjects=("S1", "S9"), actions=("Walking",), trials=1, frames_per_action=4,
                             frame_step=10, image_size=32, seed=4, chunk=4)  # fmt: skip
    return root


def test_paper_configs():
    alg, vol = load_config(f"{H36M}:algebraic"), load_config(f"{H36M}:volumetric")
    assert (alg.depth, dict(alg.dataset_options)["image_size"], alg.dataset) == (152, 384, "h36m_lt")
    assert (vol.depth, vol.volume_size, vol.v2v_levels, vol.model) == (152, 64, 5, "volumetric")
    assert vol.init_backbone_from and alg.num_devices is None and vol.num_devices is None  # all devices
    assert "lift3d train volumetric --config experiments/lt_h36m.py:volumetric --data" in H36M.read_text()


def test_cli_trains_on_the_layout(h36m_root, tmp_path, capsys):
    from lift3d.cli import main

    work = tmp_path / "run"
    assert main(["train", "algebraic", "--config", f"{H36M}:smoke", "--data", str(h36m_root),
                 "--workdir", str(work)]) == 0  # fmt: skip
    saved = json.loads((work / "config.json").read_text())
    assert "h36m_lt" in json.dumps(saved) and str(h36m_root) in json.dumps(saved)
    res = json.loads((work / "results.json").read_text())
    assert res["num_samples"] == 4 and res["step"] == 4 and np.isfinite(res["mpjpe_abs_mm"])
    assert (work / "predictions_test.npz").is_file()
    # the synthetic variants read the same layout through --data (their rendering options dropped)
    config = with_data_root(load_config(f"{SYNTHETIC}:smoke"), str(h36m_root))
    assert config.dataset == "h36m_lt" and dict(config.dataset_options) == {"root": str(h36m_root), "image_size": 32}


def test_layout_errors_name_what_is_missing(h36m_root, tmp_path):
    with pytest.raises(LTDataError, match="no such folder"):
        open_lt_root(tmp_path / "nowhere")
    with pytest.raises(LTDataError, match="needs a root"):
        lt_layout_dataset(load_config(f"{H36M}:smoke"))
    root = tmp_path / "copy"
    shutil.copytree(h36m_root, root)
    assert len(open_lt_root(root, image_size=32).keys(train=True)) == 4
    # labels for a camera the images do not have
    camera = open_lt_root(root, image_size=32).camera_names[2]
    shutil.rmtree(root / "processed" / "S9" / "Walking-1" / "imageSequence" / camera)
    with pytest.raises(LTDataError, match=rf"labels for camera\(s\) \['{camera}'\].*S9/Walking-1/imageSequence"):
        open_lt_root(root, image_size=32)
    assert open_lt_root(root, image_size=32, missing_images="mask").num_test == 4  # masked views: allowed
    with pytest.raises(LTDataError, match="imageSequence-undistorted"):
        open_lt_root(root, image_size=32, undistorted=True)
    shutil.rmtree(root / "processed")
    with pytest.raises(LTDataError, match=r"images folder missing: .*processed"):
        open_lt_root(root)
    (root / "extra" / LABELS_NAME).unlink()
    with pytest.raises(LTDataError, match=rf"labels file missing: .*extra/{LABELS_NAME}"):
        open_lt_root(root)
    assert issubclass(LTDataError, Lift3DError)


def test_volumetric_cuboid_must_hold_the_person(h36m_root, tmp_path):
    small = with_data_root(dataclasses.replace(load_config(f"{H36M}:smoke_volumetric"), cuboid_side_mm=1200.0),
                           str(h36m_root))  # fmt: skip
    message = r"cuboid_side_mm=1200 cannot hold the person: a joint of train sample \('S1', 'Walking"
    with pytest.raises(ConfigError, match=message + r".* lies \d+ mm .* use cuboid_side_mm >= \d+"):
        train_and_evaluate(small, tmp_path / "small")
    assert not (tmp_path / "small" / "checkpoints").exists() or not any((tmp_path / "small" / "checkpoints").iterdir())


def test_init_backbone_copies_the_trained_backbone(tmp_path):
    alg = load_config(f"{SYNTHETIC}:smoke")
    vol = load_config(f"{SYNTHETIC}:smoke_volumetric")
    _, src = init_state(dataclasses.replace(alg, seed=7), 17)
    save_model(tmp_path / "alg" / "model", model="algebraic", kwargs=model_kwargs(alg, 17), params=src["params"],
               batch_stats=src["batch_stats"], info={})  # fmt: skip
    _, state = init_state(vol, 17)
    new = init_backbone(state, tmp_path / "alg")  # a workdir: its model/

    def equal(a, b, group):  # the volumetric backbone has no confidence head
        b = {k: v for k, v in b[group]["backbone"].items() if k != "confidence"}
        return all(jax.tree.leaves(jax.tree.map(np.array_equal, a[group]["backbone"], b)))

    assert equal(new, src, "params") and equal(new, src, "batch_stats") and not equal(state, src, "params")
    for key in ("process_features", "v2v"):  # the 3D head stays fresh
        assert all(jax.tree.leaves(jax.tree.map(np.array_equal, new["params"][key], state["params"][key])))
    _, wide = init_state(dataclasses.replace(vol, width=16), 17)
    with pytest.raises(CheckpointError, match=r"backbone params do not fit .*backbone/resnet/.* \(\d+, \d+, \d+, 16\)"):
        init_backbone(wide, tmp_path / "alg" / "model")
    with pytest.raises(CheckpointError, match="no trained model there"):
        init_backbone(state, tmp_path / "nothing")


_SHARDED = textwrap.dedent(
    """
    import dataclasses, json, sys
    import jax
    from lift3d.train.lt_config import with_data_root
    from lift3d.train.lt_trainer import load_config, train_and_evaluate

    assert len(jax.devices()) == 2, jax.devices()
    config = with_data_root(load_config(sys.argv[1] + ":smoke"), sys.argv[2])
    out = {}
    for n in (1, None):  # None: every device
        res = train_and_evaluate(dataclasses.replace(config, num_devices=n), f"{sys.argv[3]}/d{n}")
        lines = [json.loads(x) for x in open(f"{sys.argv[3]}/d{n}/metrics.jsonl")]
        out[str(n)] = {"loss": [e["loss"] for e in lines if e["split"] == "train"], "devices": res["devices"],
                       "mpjpe": res["mpjpe_abs_mm"]}
    print(json.dumps(out))
    """
)


def test_data_parallel_over_fake_devices(h36m_root, tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDED, str(H36M), str(h36m_root), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    one, two = out["1"], out["None"]
    assert one["devices"] == 1 and two["devices"] == 2 and len(one["loss"]) == 4
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=2e-3)
    np.testing.assert_allclose(two["mpjpe"], one["mpjpe"], rtol=2e-2)

"""Lifter training: a tiny overfit, the smoke run, resume after an interruption, config checks, sharding."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from lift3d.errors import CheckpointError
from lift3d.predict.lifter import lift_rays, load_lifter
from lift3d.train.lifter_trainer import (
    LifterConfig,
    load_config,
    make_model,
    make_train_step,
    train_and_evaluate,
)

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "experiments" / "lifter_synthetic.py"


@pytest.fixture(scope="module")
def smoke() -> LifterConfig:
    return dataclasses.replace(load_config(f"{CONFIG}:smoke"), progress=False, num_epochs=1, max_steps=30)


def _lines(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_load_config_variants():
    assert load_config(CONFIG).width == 512
    assert load_config(f"{CONFIG}:martinez").width == 1024
    with pytest.raises(ValueError, match="unknown variant"):
        load_config(f"{CONFIG}:nope")
    with pytest.raises(FileNotFoundError):
        load_config("experiments/missing.py")


def test_tiny_overfit():
    """One fixed batch, no augmentation, no dropout: the loss falls by 20x."""
    config = LifterConfig(width=64, num_blocks=1, dropout=0.0, max_norm=None, learning_rate=3e-3)
    graphdef, params, stats = nnx.split(make_model(config, jax.random.key(0)), nnx.Param, nnx.BatchStat)
    params, stats = nnx.to_pure_dict(params), nnx.to_pure_dict(stats)
    tx = optax.adam(3e-3)
    state = {"params": params, "batch_stats": stats, "opt_state": tx.init(params),
             "step": jnp.asarray(0), "key": jax.random.key_data(jax.random.key(1))}  # fmt: skip
    step = jax.jit(make_train_step(graphdef, tx))
    rng = np.random.default_rng(0)
    pts = (rng.normal(0, 300, (32, 17, 3)) + [0, 0, 5000]).astype(np.float32)
    up = np.tile([0.0, -1.0, 0.0], (32, 1)).astype(np.float32)
    losses = []
    for _ in range(150):
        state, out = step(state, pts, up)
        losses.append(float(out["loss"]))
    assert losses[-1] < losses[0] / 20, (losses[0], losses[-1])


def test_smoke_run_and_resume_is_exact(smoke, tmp_path):
    full = tmp_path / "full"
    res = train_and_evaluate(smoke, full)
    assert res["step"] == 30 and np.isfinite(res["p1_mm"]) and res["p2_mm"] <= res["p1_mm"] + 1e-3
    lines = _lines(full)
    assert {"train", "test"} == {e["split"] for e in lines}
    assert [e["step"] for e in lines if e["split"] == "train"] == [5, 10, 15, 20, 25, 30]
    assert (full / "lifter" / "lifter.json").is_file() and (full / "results.json").is_file()
    results = json.loads((full / "results.json").read_text())
    assert "Walking" in results["tables"]["p1"]["per_action"]

    class Kill(RuntimeError):
        pass

    def kill_at_25(step):
        if step == 25:
            raise Kill

    cut = tmp_path / "cut"
    with pytest.raises(Kill):
        train_and_evaluate(smoke, cut, hooks=[kill_at_25])
    assert sorted(int(p.name) for p in (cut / "checkpoints").iterdir() if p.name.isdigit())[-1] == 20
    resumed = train_and_evaluate(smoke, cut)
    assert resumed["p1_mm"] == res["p1_mm"] and resumed["p2_mm"] == res["p2_mm"]
    a, b = load_lifter(full / "lifter"), load_lifter(cut / "lifter")
    for x, y in zip(jax.tree_util.tree_leaves(a.params), jax.tree_util.tree_leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    train_a = [e["loss"] for e in _lines(full) if e["split"] == "train"]
    train_b = [e["loss"] for e in _lines(cut) if e["split"] == "train"]
    assert train_a == train_b  # the killed run's lines past the checkpoint were dropped, then rewritten
    rays = np.zeros((2, 17, 2), np.float32) + np.linspace(-0.1, 0.1, 17)[:, None]
    np.testing.assert_array_equal(lift_rays(a, rays, min_visible=1), lift_rays(b, rays, min_visible=1))
    # a finished run restarted: nothing to train, same result
    assert train_and_evaluate(smoke, cut)["p1_mm"] == res["p1_mm"]
    key = lambda e: (e["step"], e["split"], e.get("loss"), e.get("p1_mm"))  # noqa: E731
    assert [key(e) for e in _lines(cut)] == [key(e) for e in _lines(full)]  # ... and no duplicate lines
    with pytest.raises(CheckpointError, match=r"width: 32 -> 48"):
        train_and_evaluate(dataclasses.replace(smoke, width=48), cut)


_SHARDED = textwrap.dedent(
    """
    import dataclasses, json, sys
    import jax
    from lift3d.train.lifter_trainer import load_config, train_and_evaluate
    assert len(jax.devices()) == 4, jax.devices()
    config = dataclasses.replace(load_config(sys.argv[1] + ":smoke"), progress=False, num_epochs=1,
                                 max_steps=12, log_every=1, checkpoint_every=1000)
    out = {}
    for n in (1, 4):
        res = train_and_evaluate(dataclasses.replace(config, num_devices=n), f"{sys.argv[2]}/d{n}")
        lines = [json.loads(x) for x in open(f"{sys.argv[2]}/d{n}/metrics.jsonl")]
        out[n] = {"loss": [e["loss"] for e in lines if e["split"] == "train"], "p1": res["p1_mm"],
                  "devices": res["devices"]}
    print(json.dumps(out))
    """
)


def test_data_parallel_matches_one_device(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _SHARDED, str(CONFIG), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    one, four = out["1"], out["4"]
    assert one["devices"] == 1 and four["devices"] == 4 and len(one["loss"]) == 12
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=2e-3)
    np.testing.assert_allclose(four["p1"], one["p1"], rtol=2e-2)  # 12 Adam steps amplify float reordering

"""The residual MLP lifter in lift3d (JAX / Flax NNX) against the same network in PyTorch, on this CPU.

Run: ``.venv/bin/python benchmarks/lifter.py [--repeats 5] [--quick] [--torch-threads N]`` (PyTorch:
``.venv/bin/pip install torch==2.13.0``, the CPU build, or PyPI's ``torch``; it is not a dependency of lift3d).

Network: Martinez et al. 2017 (51 inputs = 17 joints x (x, y, visible), width 1024, 2 residual blocks,
BatchNorm, ReLU, dropout 0.5, 48 outputs), Adam 1e-3, MSE loss, no max-norm on either side.
Measured, each as the best of ``--repeats`` timed runs (others share this machine: the best run is the one
least disturbed; the load average is printed before and after):

- training steps/s at batch 64 and 1024 (lift3d: the trainer's jitted step, `make_train_step` with
  `optax.adam`, without augmentation; it also makes the rays and features from 3D on the fly, PyTorch gets
  ready features); at batch 64 also 10 steps per jitted call (`jax.lax.scan` over pre-gathered batches), what
  the host's per-call work costs;
- inference poses/s at batch 1024 (lift3d: BatchNorm folded into the linears, `apply_folded`), and the
  float32 matmul rate of a chain of `jnp.dot` of exactly the network's shapes, the practical peak;
- single-pose latency (batch 1): float32 and bfloat16 weights (lift3d), float32 (PyTorch); the shipped
  checkpoint (width 512) through `lift3d.predict.lifter.lift_rays`, what ``lift3d lift`` runs; and the
  floor set by memory: the time to read the network's float32 weights once (`jnp.sum` over as many bytes).
"""

from __future__ import annotations

import argparse
import os
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.models.lifter import Lifter, apply_folded, fold_batch_norm
from lift3d.predict.lifter import lift_rays, load_lifter
from lift3d.train.lifter_trainer import make_train_step

WIDTH, BLOCKS, J = 1024, 2, 17
FEATURES, OUT = 3 * J, 3 * (J - 1)


def flops_per_pose() -> int:
    """Multiply-adds x 2 of the network's matmuls, forward."""
    return 2 * (FEATURES * WIDTH + 2 * BLOCKS * WIDTH * WIDTH + WIDTH * OUT)


def best_times(fns: dict, *, n: int, repeats: int) -> dict:
    """Best mean seconds per call of each function over `repeats` rounds of `n` calls.

    The functions take turns within each round (lift3d, PyTorch, lift3d, ...), so a burst of load from
    other users of the machine hits both sides alike; each is warmed up (compiled) first.
    """
    for fn in fns.values():
        jax.block_until_ready(fn())
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(n):
                out = fn()
            jax.block_until_ready(out)
            best[name] = min(best[name], (time.perf_counter() - t) / n)
    return best


def machine() -> str:
    import torch

    return machine_info(
        jax=jax.__version__, flax=flax.__version__, torch=f"{torch.__version__} ({torch.get_num_threads()} threads)"
    )


# ----------------------------------------------------------------------------------------------- PyTorch


def torch_model():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(
                nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH), nn.ReLU(), nn.Dropout(0.5),
                nn.Linear(WIDTH, WIDTH), nn.BatchNorm1d(WIDTH), nn.ReLU(), nn.Dropout(0.5),
            )  # fmt: skip

        def forward(self, x):
            return x + self.f(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Sequential(nn.Linear(FEATURES, WIDTH), nn.BatchNorm1d(WIDTH), nn.ReLU(), nn.Dropout(0.5))
            self.blocks = nn.Sequential(*[Block() for _ in range(BLOCKS)])
            self.out = nn.Linear(WIDTH, OUT)

        def forward(self, x):
            return self.out(self.blocks(self.inp(x)))

    torch.manual_seed(0)
    return Net()


def torch_train_step(batch: int):
    import torch

    model = torch_model().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, FEATURES), torch.randn(batch, OUT)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return jnp.zeros(())

    return step


def torch_inference(batch: int):
    import torch

    model = torch_model().eval()
    x = torch.randn(batch, FEATURES)

    def run():
        with torch.inference_mode():
            model(x)
        return jnp.zeros(())

    return run


# ------------------------------------------------------------------------------------------------- lift3d


def _lift3d_state(batch: int, tx=None):
    model = Lifter(width=WIDTH, num_blocks=BLOCKS, dropout=0.5, rngs=nnx.Rngs(0))
    graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    params, stats = nnx.to_pure_dict(params), nnx.to_pure_dict(stats)
    tx = optax.adam(1e-3) if tx is None else tx
    state = {"params": params, "batch_stats": stats, "opt_state": tx.init(params),
             "step": jnp.asarray(0), "key": jax.random.key_data(jax.random.key(0))}  # fmt: skip
    return graphdef, tx, state


def scan_steps(step_fn):
    """k steps in one call: ``(state, points (k, b, j, 3), up (k, b, 3)) -> (state, metrics (k,))``."""
    return lambda state, pts, up: jax.lax.scan(lambda s, xs: step_fn(s, *xs), state, (pts, up))


def lift3d_train_step(batch: int, tx=None, scan: int = 0):
    """One jitted step per call; or, with `scan` = k, k steps per call (`scan_steps` over k batches)."""
    graphdef, tx, state = _lift3d_state(batch, tx)
    step = make_train_step(graphdef, tx)
    step = jax.jit(scan_steps(step) if scan else step, donate_argnums=0)
    rng = np.random.default_rng(0)
    lead = (scan, batch) if scan else (batch,)
    pts = jnp.asarray((rng.normal(0, 300, (*lead, J, 3)) + [0, 0, 5000]).astype(np.float32))
    up = jnp.asarray(np.tile([0.0, -1.0, 0.0], (*lead, 1)).astype(np.float32))
    box = [state]

    def run():
        box[0], out = step(box[0], pts, up)
        return out["loss"]

    return run


def shipped_lift_rays():
    """One pose through `lift_rays` with the shipped checkpoint (what ``lift3d lift`` runs per pose)."""
    lifter = load_lifter()
    rays = np.asarray(jax.random.normal(jax.random.key(1), (J, 2)) * 0.1, np.float32)
    return lifter.meta["model"]["width"], lambda: lift_rays(lifter, rays)


def weights_read():
    """Read as many bytes as the width-1024 network's float32 weights once (the batch-1 memory floor)."""
    nbytes = sum(w.nbytes + b.nbytes for w, b in _folded())
    flat = jnp.ones(nbytes // 4, jnp.float32)
    total = jax.jit(jnp.sum)
    return nbytes, lambda: total(flat)


def _folded(dtype=jnp.float32):
    graphdef, _, state = _lift3d_state(1)
    layers = fold_batch_norm(state["params"], state["batch_stats"])
    return [(w.astype(dtype), b) for w, b in layers]


def lift3d_inference(batch: int, dtype=jnp.float32):
    layers = _folded(dtype)
    rays = jax.random.normal(jax.random.key(1), (batch, J, 2)) * 0.1
    f = jax.jit(apply_folded)
    return lambda: f(layers, rays)


def dot_chain(batch: int):
    """The network's matmuls alone (float32 jnp.dot, same shapes): the practical peak."""
    ws = [w for w, _ in _folded()]
    x = jnp.ones((batch, FEATURES), jnp.float32)

    @jax.jit
    def chain(x, ws):
        for w in ws:
            x = jnp.dot(x, w)
        return x

    return lambda: chain(x, ws)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="lift3d lifter vs PyTorch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a rough look)")
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1,
                        help="PyTorch threads (default: all cores; 1 is fairer while others load them)")  # fmt: skip
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.torch_threads)
    q, r = (0.25 if args.quick else 1.0), args.repeats
    it = lambda k: max(2, int(k * q))  # noqa: E731
    print(machine())
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    k = 10  # steps per call with scan_steps
    t = best_times({"lift3d": lift3d_train_step(64), "torch": torch_train_step(64),
                    "scan": lift3d_train_step(64, scan=k)}, n=it(100), repeats=r)  # fmt: skip
    rows.append(("training steps/s, batch 64", 1 / t["lift3d"], 1 / t["torch"]))
    rows.append((f"training steps/s, batch 64, {k} steps per call (scan_steps)", k / t["scan"], 1 / t["torch"]))
    t = best_times({"lift3d": lift3d_train_step(1024), "torch": torch_train_step(1024)}, n=it(10), repeats=r)
    rows.append(("training steps/s, batch 1024", 1 / t["lift3d"], 1 / t["torch"]))
    t = best_times({"lift3d": lift3d_inference(1024), "torch": torch_inference(1024), "dot": dot_chain(1024)},
                   n=it(20), repeats=r)  # fmt: skip
    ti, tt, td = t["lift3d"], t["torch"], t["dot"]
    rows.append(("inference poses/s, batch 1024", 1024 / ti, 1024 / tt))
    nbytes, read = weights_read()
    width, shipped = shipped_lift_rays()
    t = best_times({"f32": lift3d_inference(1), "bf16": lift3d_inference(1, jnp.bfloat16), "torch": torch_inference(1),
                    "read": read, "shipped": shipped}, n=it(400), repeats=r)  # fmt: skip
    lat32, lat16, latt = t["f32"], t["bf16"], t["torch"]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| measure | lift3d | PyTorch | lift3d / PyTorch |")
    print("|---|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a:,.1f} | {b:,.1f} | {a / b:.2f}x |")
    print(f"| single-pose latency, float32 weights (ms) | {lat32 * 1e3:.3f} | {latt * 1e3:.3f} | {latt / lat32:.2f}x |")
    print(f"| single-pose latency, bfloat16 weights (ms) | {lat16 * 1e3:.3f} | | {latt / lat16:.2f}x |")
    print(f"| single-pose latency, shipped width {width}, `lift_rays` (ms) | {t['shipped'] * 1e3:.3f} | | |")
    print(
        f"\nbatch-1 memory floor: reading {nbytes / 1e6:.1f} MB (the float32 weights) takes "
        f"{t['read'] * 1e3:.3f} ms ({nbytes / t['read'] / 1e9:.1f} GB/s); float32 latency = "
        f"{lat32 / t['read']:.2f}x that read; 0.3 ms would need {nbytes / 0.3e-3 / 1e9:.0f} GB/s"
    )
    fl = flops_per_pose() * 1024
    print(f"\ninference at batch 1024: {fl / ti / 1e9:.0f} GFLOP/s; jnp.dot chain of the same shapes: "
          f"{fl / td / 1e9:.0f} GFLOP/s ({td / ti:.0%} of it); "
          f"PyTorch {fl / tt / 1e9:.0f} GFLOP/s")  # fmt: skip


if __name__ == "__main__":
    main()

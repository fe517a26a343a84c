"""Forward time per 4-view sample and peak memory of the learnable-triangulation models.

Run: ``.venv/bin/python benchmarks/lt_models.py`` (the CPU and paper-size variants of
``experiments/lt_synthetic.py``), or ``--config FILE:VARIANT [--image-size N]`` for one config.

Measured per config (inference: eval-mode BatchNorm, no gradients, the trainer's jitted `predict` program,
batch `--batch` samples of `--views` views, random images and a 4-camera ring around the cuboid):

- compile time of the forward program (s);
- forward time per sample: the best over `--repeats` timed calls, divided by the batch (others share this
  machine: the best run is the one least disturbed);
- peak memory: on GPU the device's ``peak_bytes_in_use``; on CPU XLA's buffer assignment of the compiled
  program (arguments + outputs + the largest set of live temporaries, ``memory_analysis()``), which is what
  the program needs beyond the Python process; plus the parameter count.

`measure` is the function to call from Python.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import flax
import jax
import numpy as np
from flax import nnx
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.train.lt_config import LTConfig
from lift3d.train.lt_eval import forward
from lift3d.train.lt_trainer import load_config, make_model

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_VARIANTS = ("algebraic", "volumetric", "paper_algebraic", "paper_volumetric")


def _ring(views: int, size: int, center: np.ndarray) -> np.ndarray:
    """Projection matrices of `views` cameras 4 m around `center`, framing a 2 m person in `size` px."""
    f = size * 4000.0 / 2200.0
    out = []
    for a in 2 * np.pi * np.arange(views) / views:
        eye = center + [4000 * np.cos(a), 4000 * np.sin(a), 600.0]
        z = (center - eye) / np.linalg.norm(center - eye)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
        out.append(K @ np.c_[R, -R @ eye])
    return np.stack(out)


def image_size_of(config: LTConfig, default: int = 64) -> int:
    """The crop size a config expects (its ``dataset_options`` entry ``image_size``)."""
    return int(dict(config.dataset_options).get("image_size", default))


def measure(config: LTConfig, *, image_size: int | None = None, views: int = 4, batch: int = 1, repeats: int = 3,
            num_joints: int = 17) -> dict:  # fmt: skip
    """Forward time per sample and peak memory of a config's model (see the module doc).

    Args:
        config: An `LTConfig`.
        image_size: Square crop size (default: the config's).
        views: Views per sample.
        batch: Samples per call.
        repeats: Timed calls (the best counts).
        num_joints: Joints.

    Returns:
        ``{"params", "compile_s", "forward_s_per_sample", "peak_mb", "peak_source"}``.
    """
    size = image_size or image_size_of(config)
    key = jax.random.key(0, impl="rbg")

    def init(k):
        _, params, stats = nnx.split(make_model(config, k, num_joints), nnx.Param, nnx.BatchStat)
        return nnx.to_pure_dict(params), nnx.to_pure_dict(stats)

    graphdef = nnx.split(nnx.eval_shape(lambda: make_model(config, key, num_joints)), nnx.Param, nnx.BatchStat)[0]
    params, stats = jax.jit(init)(key)
    n_params = sum(int(np.size(x)) for x in jax.tree.leaves(params))
    rng = np.random.default_rng(0)
    center = np.array([0.0, 0.0, 1000.0])
    images = rng.normal(size=(batch, views, size, size, 3)).astype(np.float32)
    proj = np.broadcast_to(_ring(views, size, center), (batch, views, 3, 4)).astype(np.float32)
    mask = np.ones((batch, views), bool)
    centers = np.broadcast_to(center, (batch, 3)).astype(np.float32)
    args = (params, stats, images, proj, mask, centers)
    t = time.perf_counter()
    compiled = forward.lower(graphdef, *args).compile()
    compile_s = time.perf_counter() - t
    jax.block_until_ready(compiled(*args))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t)
    device = jax.devices()[0]
    stats_dev = device.memory_stats() if device.platform != "cpu" else None
    if stats_dev and "peak_bytes_in_use" in stats_dev:
        peak, source = stats_dev["peak_bytes_in_use"], f"{device.platform} peak_bytes_in_use"
    else:
        mem = compiled.memory_analysis()
        peak = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
        source = "XLA buffer assignment (args + outputs + temporaries)"
    return {"params": n_params, "compile_s": compile_s, "forward_s_per_sample": best / batch,
            "peak_mb": peak / 2**20, "peak_source": source}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", action="append", help="FILE:VARIANT (repeatable); default: the four variants")
    p.add_argument("--image-size", type=int, default=None, help="crop size (default: the config's)")
    p.add_argument("--views", type=int, default=4)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    specs = args.config or [f"{ROOT / 'experiments' / 'lt_synthetic.py'}:{v}" for v in DEFAULT_VARIANTS]
    print(machine_info(jax=jax.__version__, flax=flax.__version__), f"; device {jax.devices()[0].device_kind}")
    print("| config | model | backbone | crop | grid | params | compile (s) | forward / sample (s) | peak (MB) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for spec in specs:
        config = load_config(spec)
        r = measure(config, image_size=args.image_size, views=args.views, batch=args.batch, repeats=args.repeats)
        grid = f"{config.volume_size}^3" if config.model == "volumetric" else "-"
        size = args.image_size or image_size_of(config)
        print(f"| {spec.rsplit(':', 1)[-1]} | {config.model} | ResNet-{config.depth} w{config.width} | {size} | {grid} "
              f"| {r['params'] / 1e6:.2f} M | {r['compile_s']:.1f} | {r['forward_s_per_sample']:.3f} "
              f"| {r['peak_mb']:.0f} |", flush=True)  # fmt: skip
    print(f"peak memory: {r['peak_source']}; batch {args.batch} x {args.views} views, best of {args.repeats}")


if __name__ == "__main__":
    main()

"""Evaluate a lifter checkpoint on the synthetic twin's test subjects (S9, S11) under detector-like noise.

Run: ``.venv/bin/python experiments/lifter_synthetic_eval.py [--checkpoint DIR] [--config FILE[:variant]]``

Conditions: the test split's 2D as given (projections of the 3D, through the real cameras' distortion);
with Gaussian pixel noise of 5 and 10 px (H36M's focal length is ~1145 px: 5 px is a good detector's typical
error on a ~400 px tall person); with 2 random joints missing per pose; with bfloat16 weights. The test data
is rebuilt from the config (default: the shipped checkpoint's ``lifter.json`` config).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    """Print a markdown table of P1 / P2 / PCK3D per condition; returns it."""
    import dataclasses

    import jax

    from lift3d.predict.lifter import lift_rays, load_lifter
    from lift3d.train.lifter_trainer import LifterConfig, evaluate, load_config, load_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="lifter folder (default: the shipped one)")
    parser.add_argument("--config", default=None, help="config for the test data (default: the checkpoint's)")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    lifter = load_lifter(args.checkpoint)
    if args.config:
        config = load_config(args.config)
    else:
        fields = {f.name for f in dataclasses.fields(LifterConfig)}
        stored = {k: tuple(v) if isinstance(v, list) else v for k, v in lifter.meta["config"].items() if k in fields}
        config = LifterConfig(**stored)
    t0 = time.perf_counter()
    _, test = load_data(config)
    print(f"checkpoint {lifter.path}; {len(test)} test samples (every {config.test_every}th frame x 4 cameras)")
    rng = np.random.default_rng(0)
    focal = 1145.0  # H36M cameras' ~fx, px: converts pixel noise to ray units
    noisy = lambda px: test.rays + rng.normal(0, px / focal, test.rays.shape).astype(np.float32)  # noqa: E731
    dropped = test.rays.copy()
    for row in range(len(dropped)):
        dropped[row, rng.choice(17, 2, replace=False)] = np.nan
    half = load_lifter(args.checkpoint, weights_dtype="bfloat16")
    conditions = {
        "2D as given": (lifter, test.rays),
        "2D + 5 px noise": (lifter, noisy(5.0)),
        "2D + 10 px noise": (lifter, noisy(10.0)),
        "2 joints missing per pose": (lifter, dropped),
        "bfloat16 weights, 2D as given": (half, test.rays),
    }
    out = {}
    for name, (model, rays) in conditions.items():
        pred = lift_rays(model, rays, min_visible=1, batch_size=4096)
        scalars, tables = evaluate(pred, test)
        out[name] = {**scalars, "p1_mean_over_actions": tables["p1"]["mean_over_action"]}
    print("| condition | P1 mm | P2 mm | PCK3D@150 | AUC | P1 mean over actions |")
    print("|---|---|---|---|---|---|")
    for name, r in out.items():
        print(
            f"| {name} | {r['p1_mm']:.1f} | {r['p2_mm']:.1f} | {r['pck3d']:.3f} | {r['auc']:.3f} "
            f"| {r['p1_mean_over_actions']:.1f} |"
        )
    print(f"({time.perf_counter() - t0:.0f} s; jax {jax.__version__})")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()

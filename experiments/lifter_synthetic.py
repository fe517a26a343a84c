"""The residual MLP lifter on the synthetic Human3.6M twin (train S1, S5-S8; test S9, S11).

Run: ``lift3d train lifter --config experiments/lifter_synthetic.py --workdir runs/lifter_synthetic``
(append ``:smoke`` to the file name for a run of seconds). Variants:

- default (also ``"ship"``, the checkpoint in ``lift3d/checkpoints/lifter_synthetic``): Martinez et al.
  2017's network at width 512 (2 blocks, dropout 0.5, max-norm 1, Adam 1e-3), batch 256, the learning rate
  decaying 10x over the run; 12k steps (~5 epochs of 600k samples), sized to ~15-20 minutes on 2 shared CPU
  cores. Width 512 keeps the shipped weights at 4.3 MB and trains 3x more samples per second than 1024.
- ``"robust"``: the same with detector-sized 2D noise (6 % of the pose's RMS image radius, ~5 px on a
  400 px tall H36M person, against 2 %) and 10 % of joints dropped (against 5 %).
- ``"martinez"``: the paper's width 1024 and batch 64 (not run to convergence here: ~13 steps/s on this CPU).
- ``"smoke"``: tiny widths and data, a few steps (tests, CI).
"""

import dataclasses

from lift3d.train.lifter_trainer import LifterConfig


def get_config(variant: str | None = None) -> LifterConfig:
    """The config of `variant` (None: the default experiment)."""
    base = LifterConfig(name="lifter_synthetic", trials=4, frames_per_sequence=500, train_every=1,
                        test_every=4, width=512, batch_size=256, num_epochs=100, max_steps=12_000,
                        learning_rate=1e-3, decay_steps=12_000, decay_rate=0.1,
                        log_every=200, checkpoint_every=2000)  # fmt: skip
    if variant is None or variant == "ship":
        return base
    if variant == "robust":
        return dataclasses.replace(base, name="lifter_robust", noise_std=0.06, drop_prob=0.1)
    if variant == "martinez":
        return dataclasses.replace(base, name="lifter_martinez", width=1024, batch_size=64, max_steps=200_000,
                                   decay_steps=100_000, decay_rate=0.96)  # fmt: skip
    if variant == "smoke":
        return dataclasses.replace(
            base,
            name="lifter_smoke",
            actions=("Walking", "Sitting"),
            trials=1,
            frames_per_sequence=40,
            test_every=10,
            width=32,
            num_blocks=1,
            num_epochs=2,
            max_steps=None,
            batch_size=32,
            decay_steps=1000,
            log_every=5,
            checkpoint_every=10,
            eval_batch_size=256,
        )
    raise ValueError(f"unknown variant {variant!r}; use None, 'ship', 'robust', 'martinez' or 'smoke'")

"""The residual MLP lifter trained on real data instead of the synthetic twin (`lift3d train lifter --data`).

Run: ``lift3d train lifter --config experiments/lifter_real_data.py:deepmimic --workdir runs/lifter_deepmimic``
(after ``lift3d fetch deepmimic``), or any variant with ``--data PATH`` (a Human3.6M layout, motion files).
Variants:

- ``"deepmimic"``: DeepMimic's real motion-capture clips (`lift3d.datasets.deepmimic`): train on
  `TRAIN_CLIPS` (10 clips, 1141 frames), test on `VALIDATION_CLIPS` (walk, run, dance_a, dance_b, cartwheel;
  479 frames, never trained on), each frame seen by 8 virtual cameras (heights 0.3-2.8 m above the floor,
  2-6 m away, aimed within 0.3 m of the pelvis) plus the trainer's augmentation. The shipped network's size
  (width 512, 2 blocks), 4000 steps of batch 256 (~7 minutes on 2 shared CPU cores).
- ``"twin+deepmimic"``: the shipped model's twin data (4 takes x 500 frames per action and subject, 600k
  samples) plus DeepMimic's training clips seen by 64 virtual cameras per frame (73k samples, 11 % of the
  mix); tested on DeepMimic's validation clips; 8000 steps (~7-12 minutes). ``"twin+deepmimic-12k"``: the
  same on the shipped model's schedule (12k steps); ``"twin+deepmimic-16k"``, with 16k steps, is the control of
  ``experiments/lifter_prior.py``'s 16k-step variants.
- ``"twin8k"``: its control, the twin alone with the same steps (tested on the twin); compare the two with
  ``experiments/lifter_real_motion_eval.py`` and ``experiments/lifter_synthetic_eval.py``.
- ``"h36m"``: a Human3.6M layout given with ``--data`` (S1, S5-S8 train; S9, S11 test, every 4th frame), the
  shipped network's recipe (12k steps).
- ``"smoke"``: tiny network, a few steps (tests, CI); give ``--data``.
"""

import dataclasses

from lift3d.train.lifter_trainer import LifterConfig


def get_config(variant: str | None = None) -> LifterConfig:
    """The config of `variant` (None: ``"deepmimic"``)."""
    base = LifterConfig(name="lifter_real_data", width=512, batch_size=256, learning_rate=1e-3,
                        log_every=200, checkpoint_every=2000)  # fmt: skip
    if variant is None or variant == "deepmimic":
        return dataclasses.replace(base, name="lifter_deepmimic", data="deepmimic", virtual_views=8, test_every=2,
                                   num_epochs=1000, max_steps=4000, decay_steps=4000, decay_rate=0.1)  # fmt: skip
    if variant == "twin+deepmimic":
        return dataclasses.replace(base, name="lifter_twin_deepmimic", data="deepmimic", with_twin=True,
                                   trials=4, frames_per_sequence=500, virtual_views=64, test_every=2,
                                   num_epochs=100, max_steps=8000, decay_steps=8000, decay_rate=0.1)  # fmt: skip
    if variant == "twin+deepmimic-12k":  # the shipped model's schedule (12k steps), for a like-for-like comparison
        return dataclasses.replace(get_config("twin+deepmimic"), name="lifter_twin_deepmimic_12k", max_steps=12_000,
                                   decay_steps=12_000)  # fmt: skip
    if variant == "twin+deepmimic-16k":  # the control of experiments/lifter_prior.py's 16k-step variants
        return dataclasses.replace(get_config("twin+deepmimic"), name="lifter_twin_deepmimic_16k", max_steps=16_000,
                                   decay_steps=16_000)  # fmt: skip
    if variant == "twin8k":  # the control of "twin+deepmimic": the twin alone, same steps
        return dataclasses.replace(get_config("twin+deepmimic"), name="lifter_twin8k", data=None, with_twin=False,
                                   test_every=4)  # fmt: skip
    if variant == "h36m":
        return dataclasses.replace(base, name="lifter_h36m", test_every=4, num_epochs=100, max_steps=12_000,
                                   decay_steps=12_000, decay_rate=0.1)  # fmt: skip
    if variant == "smoke":
        return dataclasses.replace(base, name="lifter_real_smoke", width=32, num_blocks=1, batch_size=32,
                                   num_epochs=3, max_steps=10, log_every=5, checkpoint_every=10,
                                   eval_batch_size=256)  # fmt: skip
    raise ValueError(f"unknown variant {variant!r}; use None, 'deepmimic', 'h36m' or 'smoke'")

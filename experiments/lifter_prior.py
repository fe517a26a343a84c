"""The lifter trained with the broad pose prior (issue 18 item 3): twin + DeepMimic's training clips + prior poses.

Run: ``lift3d train lifter --config experiments/lifter_prior.py:prior --workdir runs/lifter_prior`` (after
``lift3d fetch deepmimic``). Variants:

- ``"prior"``: the shipped model's twin data (S1, S5-S8, 4 takes x 500 frames) + DeepMimic's 10 training clips
  (64 virtual cameras per frame) + 100k poses of `lift3d.synthetic.pose_prior` (10 % children, 4 virtual
  cameras each, 0.3-3.5 m high, 1.5-7 m away) + the detector patterns of `lift3d.train.data_pipeline.augment`
  (occluded limbs 10 %, left/right swaps 3 %, extremity noise x2); width 512, 16k steps of batch 256.
  Tested on DeepMimic's validation clips (walk, run, dance_a, dance_b, cartwheel: never trained on).
- ``"prior-clean"``: the same data without the detector patterns (their ablation).
- ``"prior-clean-32k"``: ``"prior-clean"`` with twice the steps (32k).
- ``"prior-detector"``: the prior's bodies with a mapped detector's joint definitions (nose, head top,
  mid-shoulder thorax, detector hips: `lift3d.synthetic.pose_prior.DETECTOR_OFFSETS_MM`), the rest as ``"prior"``.
- ``"prior-detector-wide"``: detector definitions, no detector patterns, body proportions jittered 2.5x wider
  (std 9 % per bone group, 17.5 % for hip and shoulder widths).
- ``"prior-detector-wide-48k"``: the same for 48k steps: the shipped checkpoint (`lift3d/checkpoints/lifter`).
- ``"prior-only"``: the twin + the prior, no DeepMimic (what the synthetic data alone gives).
- ``"smoke"``: tiny network and data, a few steps (tests).
Score on real motion with ``experiments/lifter_real_motion_eval.py`` and ``experiments/lifter_pose2sim.py``.
"""

import dataclasses

from lift3d.train.lifter_trainer import LifterConfig


def get_config(variant: str | None = None) -> LifterConfig:
    """The config of `variant` (None: ``"prior"``)."""
    base = LifterConfig(name="lifter_prior", width=512, batch_size=256, learning_rate=1e-3, log_every=200,
                        checkpoint_every=2000, data="deepmimic", with_twin=True, trials=4, frames_per_sequence=500,
                        virtual_views=64, test_every=2, num_epochs=100, max_steps=16_000, decay_steps=16_000,
                        decay_rate=0.1, prior_poses=100_000, limb_drop_prob=0.1, swap_prob=0.03,
                        extremity_noise=1.0)  # fmt: skip
    if variant is None or variant == "prior":
        return base
    if variant == "prior-clean":
        return dataclasses.replace(base, name="lifter_prior_clean", limb_drop_prob=0.0, swap_prob=0.0,
                                   extremity_noise=0.0)  # fmt: skip
    if variant == "prior-clean-32k":  # twice the steps: does the twin's own test recover?
        return dataclasses.replace(get_config("prior-clean"), name="lifter_prior_clean_32k", max_steps=32_000,
                                   decay_steps=32_000)  # fmt: skip
    if variant == "prior-detector":
        return dataclasses.replace(base, name="lifter_prior_detector", prior_definitions="detector")
    if variant == "prior-detector-wide":  # no detector patterns, proportions jittered 2.5x wider
        return dataclasses.replace(get_config("prior-clean"), name="lifter_prior_detector_wide",
                                   prior_definitions="detector", prior_proportion_spread=2.5)  # fmt: skip
    if variant == "prior-detector-wide-48k":  # the shipped checkpoint's config
        return dataclasses.replace(get_config("prior-detector-wide"), name="lifter_prior_detector_wide_48k",
                                   max_steps=48_000, decay_steps=48_000)  # fmt: skip
    if variant == "prior-only":
        return dataclasses.replace(base, name="lifter_prior_only", data=None, with_twin=False, test_every=4)
    if variant == "smoke":
        return dataclasses.replace(base, name="lifter_prior_smoke", data=None, with_twin=False, width=32,
                                   num_blocks=1, batch_size=32, trials=1, frames_per_sequence=50,
                                   train_subjects=("S1",), test_subjects=("S9",), actions=("Walking",),
                                   num_epochs=3, max_steps=10, log_every=5, checkpoint_every=10, prior_poses=200,
                                   eval_batch_size=256)  # fmt: skip
    raise ValueError(f"unknown variant {variant!r}; use None, 'prior', 'prior-clean', 'prior-clean-32k', "
                     "'prior-detector', 'prior-detector-wide', 'prior-detector-wide-48k', 'prior-only' or 'smoke'")

"""Learnable triangulation (Iskakov et al. 2019) on the synthetic multi-view image set.

Run: ``lift3d train algebraic --config experiments/lt_synthetic.py:algebraic --workdir runs/lt_alg`` (likewise
``volumetric``; ``--data ROOT`` trains on another root in the same layout, see ``experiments/lt_h36m.py``).
Variants:

- ``"algebraic"`` (default): CPU-sized algebraic model with learnable confidences: ResNet-18 blocks at width
  16, 3 stages (stride 16) + 2 deconvolutions of 64 channels -> heatmaps at stride 4, trained from scratch
  with an L1 3D loss plus 10 x an L1 (px) on the 2D soft-argmax (the paper starts from a pretrained 2D network
  and uses its soft MSE, which barely moves a network that starts far off; untuned weights).
- ``"algebraic_noconf"``: the same, all views weighed 1.
- ``"volumetric"``: CPU-sized volumetric model, softmax aggregation, a 16^3 grid (167 mm voxels in the 2500 mm
  cube; the 3D soft-argmax interpolates between them), V2V width 8 with 2 levels and a 3^3 first conv (XLA's
  CPU 3D convolutions run at 1-4 GFLOP/s: a 32^3 grid costs ~0.4 s per sample forward), 16 feature
  channels, batch 4. ``"volumetric_sum"`` / ``"volumetric_conf"``: the other aggregations. Test-time cuboid
  centres: the ground-truth pelvis unless ``center_predictions``
  points at an algebraic run's ``predictions_test.npz`` (the paper's protocol).
- ``"algebraic_short"``: ``"algebraic"`` for 1500 steps (the backbone donor of ``"volumetric_init"`` when there is
  no time for 6000).
- ``"volumetric_init"``: the paper's recipe: the backbone (and its BatchNorm statistics) of a trained algebraic
  run (``init_backbone_from``, default ``runs/lt_alg``; ``--init-backbone-from WORKDIR`` overrides it),
  fine-tuned at 1e-4 while the new 3D head learns at 1e-3, both decaying 10x over 450 steps; a 16^3 grid in a
  2200 mm cube (137 mm voxels; the synthetic people reach 1000 mm from the pelvis, the grid's outer voxel
  centres 1031 mm), batch 4.
- ``"volumetric_sharp"``: ``"volumetric_init"`` with the 3D soft-argmax's multiplier 10 (as the 2D soft-argmax's
  100) and the cross-entropy weighted 0.1: at multiplier 1 the volumes stayed nearly uniform.
  ``"volumetric_sharp_long"``: the same for 900 steps.
- ``"paper_algebraic"`` / ``"paper_volumetric"``: the paper's Human3.6M settings (ResNet-152, 3 x 256
  deconvolutions, 384 x 384 crops, 64^3 grid, V2V width 32 with 5 levels, Adam 1e-5 / 1e-4 and 1e-3 for
  the volumetric head, batch 8 over 4 views); accelerator-sized. Without the paper's pretrained backbone
  these settings would also need the 2D loss and a higher backbone learning rate.
- ``"smoke"`` / ``"smoke_volumetric"``: tiny everything, a few steps (tests, CI): 32 x 32 crops, a ResNet
  stem + one basic block of width 8 (heatmaps at stride 4), L1 loss, the eigh DLT (compiles faster), an 8^3
  grid in a 1600 mm cube (the test poses are small), V2V width 4 with one level; XLA optimisation level 0
  (compiles ~40 % faster).

Measured on this 2-core CPU (load ~3, fake 64 x 64 data): a training step takes 0.55 s for ``algebraic`` (batch
8: 6000 steps ~ 55 min) and 2.0 s for ``volumetric`` (batch 4: 900 steps ~ 30 min; the 2026-12 table ran it so, beside
two 6000-step algebraic runs, in one session); compiling a step 30-60 s.
The image size belongs to the data (``dataset_options``); the CPU variants expect 64 x 64 crops (stride 16
and 4 both divide them), the paper's 384 x 384.
"""

import dataclasses

from lift3d.train.lt_config import LTConfig

_CPU_BACKBONE = dict(depth=18, width=16, num_stages=3, deconv_channels=64, num_deconv=2, confidence_width=32)
_TINY_BACKBONE = dict(depth=10, width=8, num_stages=1, deconv_channels=8, num_deconv=0, confidence_width=8)
_PAPER_BACKBONE = dict(depth=152, width=64, num_stages=4, deconv_channels=256, num_deconv=3, confidence_width=256)


def get_config(variant: str | None = None) -> LTConfig:
    """The config of `variant` (None: ``"algebraic"``)."""
    cpu = LTConfig(name="lt_algebraic", model="algebraic", **_CPU_BACKBONE, dataset_options=(("image_size", 64),),
                   batch_size=8, learning_rate=1e-3, head_learning_rate=1e-3, lr_decay_rate=0.1, loss="l1",
                   lr_decay_steps=6000, keypoint_2d_weight=10.0, max_steps=6000, eval_every=1000, log_every=50,
                   checkpoint_every=500, eval_batch_size=16)  # fmt: skip
    cpu_vol = dataclasses.replace(cpu, name="lt_volumetric", model="volumetric", volume_size=16, volume_channels=16,
                                  v2v_width=8, v2v_levels=2, v2v_front_kernel=3, aggregation="softmax",
                                  loss="l1", batch_size=4, max_steps=900, lr_decay_steps=900,
                                  eval_every=900, checkpoint_every=150)  # fmt: skip
    alg_short = dataclasses.replace(cpu, name="lt_algebraic_short", max_steps=1500, lr_decay_steps=1500,
                                    eval_every=1500)  # fmt: skip
    # the paper's recipe: the backbone of a trained algebraic run, fine-tuned 10x slower than the new 3D head
    vol_init = dataclasses.replace(cpu_vol, name="lt_volumetric_init", init_backbone_from="runs/lt_alg",
                                   cuboid_side_mm=2200.0, learning_rate=1e-4, head_learning_rate=1e-3,
                                   max_steps=450, lr_decay_steps=450, eval_every=450, checkpoint_every=75)  # fmt: skip
    paper_alg = LTConfig(name="lt_paper_algebraic", model="algebraic", **_PAPER_BACKBONE,
                         dataset_options=(("image_size", 384),), batch_size=8, learning_rate=1e-5,
                         loss="mse_smooth", max_steps=100_000, eval_every=5000, checkpoint_every=5000)  # fmt: skip
    paper_vol = dataclasses.replace(paper_alg, name="lt_paper_volumetric", model="volumetric", learning_rate=1e-4,
                                    head_learning_rate=1e-3, volume_size=64, volume_channels=32, v2v_width=32,
                                    v2v_levels=5, aggregation="softmax", loss="l1", ce_weight=0.01)  # fmt: skip
    smoke_data = (("image_size", 32), ("subjects", ("S1", "S9")), ("frames_per_action", 2), ("trials", 1))
    smoke = dataclasses.replace(cpu, name="lt_smoke", **_TINY_BACKBONE, dataset_options=smoke_data,
                                loss="l1", solver="eigh", batch_size=2, learning_rate=3e-3, head_learning_rate=1e-2,
                                max_steps=6, eval_every=6, log_every=2, checkpoint_every=4, eval_batch_size=2,
                                lr_decay_steps=1000, lr_decay_rate=1.0, keypoint_2d_weight=1.0,
                                xla_options=(("xla_backend_optimization_level", 0),))  # fmt: skip
    smoke_vol = dataclasses.replace(smoke, name="lt_smoke_volumetric", model="volumetric", volume_size=8,
                                    cuboid_side_mm=1600.0, volume_channels=8, v2v_width=4, v2v_levels=1,
                                    keypoint_2d_weight=0.0)  # fmt: skip
    variants = {
        "algebraic": cpu,
        "algebraic_noconf": dataclasses.replace(cpu, name="lt_algebraic_noconf", use_confidences=False),
        "algebraic_short": alg_short,
        "volumetric": cpu_vol,
        "volumetric_init": vol_init,
        # a sharper 3D soft-argmax (volumes stayed near uniform at multiplier 1: cross-entropy 8.2 vs 8.32 uniform)
        "volumetric_sharp": dataclasses.replace(vol_init, name="lt_volumetric_sharp", volume_multiplier=10.0,
                                                ce_weight=0.1),
        "volumetric_sharp_long": dataclasses.replace(vol_init, name="lt_volumetric_sharp_long", volume_multiplier=10.0,
                                                     ce_weight=0.1, max_steps=900, lr_decay_steps=900,
                                                     eval_every=900, checkpoint_every=150),  # fmt: skip
        "volumetric_sum": dataclasses.replace(cpu_vol, name="lt_volumetric_sum", aggregation="sum"),
        "volumetric_conf": dataclasses.replace(cpu_vol, name="lt_volumetric_conf", aggregation="conf"),
        "paper_algebraic": paper_alg,
        "paper_volumetric": paper_vol,
        "smoke": smoke,
        "smoke_volumetric": smoke_vol,
    }
    key = variant or "algebraic"
    if key not in variants:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(variants)}")
    return variants[key]

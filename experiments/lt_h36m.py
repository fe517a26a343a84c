"""Learnable triangulation on Human3.6M in learnable-triangulation's processed layout (the paper's settings).

The data: a root holding ``extra/human36m-multiview-labels-GTbboxes.npy`` and ``processed/<subject>/<action>/
imageSequence/<camera>/img_%06d.jpg`` (``imageSequence-undistorted/`` with ``("undistorted", True)`` in
``dataset_options``), as learnable-triangulation's ``mvn/datasets/human36m_preprocessing`` writes it; the
synthetic set (``~/.cache/lift3d/lt_synthetic_64``, written by ``experiments/lt_synthetic.py``) has the same
layout. The root comes from ``--data ROOT`` (or ``$LIFT3D_H36M_ROOT``).

Variants:

- ``"algebraic"`` / ``"volumetric"`` (paper-size, accelerator-sized): ResNet-152 with 3 x 256 deconvolutions,
  384 x 384 crops, batch 8 samples x 4 views; the volumetric model a 64^3 grid in a 2500 mm cube, V2V width 32
  with 5 levels, softmax aggregation, L1 + 0.01 x volumetric cross-entropy, Adam 1e-4 (backbone) / 1e-3 (head),
  its backbone started from the algebraic run (``init_backbone_from``, the paper's recipe). Both run
  data-parallel over every device (`lift3d.train.sharding`: replicated state, the batch split along its first
  axis; 8 divides by 1, 2, 4 or 8 devices; on 8 devices raise ``batch_size`` for throughput). Without the
  paper's ImageNet / MPII-pretrained backbone (not shipped here) they keep the 2D soft-argmax loss on.
- ``"smoke"`` / ``"smoke_volumetric"``: tiny models on 32 x 32 crops, a few steps (tests, fake devices).

Accelerator run (not run on this CPU; ~80 M parameters, 7.9 s per sample forward on the 2-core CPU, see
experiments/RESULTS.md "model cost")::

    lift3d train algebraic  --config experiments/lt_h36m.py:algebraic  --data /data/h36m --workdir runs/h36m_alg
    lift3d train volumetric --config experiments/lt_h36m.py:volumetric --data /data/h36m --workdir runs/h36m_vol \\
        --init-backbone-from runs/h36m_alg

Every visible device is used (``CUDA_VISIBLE_DEVICES`` picks them); an interrupted run resumes from its
workdir's latest checkpoint.
"""

import dataclasses
import os

from lift3d.train.lt_config import LTConfig

_PAPER_BACKBONE = dict(depth=152, width=64, num_stages=4, deconv_channels=256, num_deconv=3, confidence_width=256)
_TINY_BACKBONE = dict(depth=10, width=8, num_stages=1, deconv_channels=8, num_deconv=0, confidence_width=8)


def get_config(variant: str | None = None) -> LTConfig:
    """The config of `variant` (None: ``"algebraic"``)."""
    root = os.environ.get("LIFT3D_H36M_ROOT")
    data = (("root", root),) if root else ()
    alg = LTConfig(name="lt_h36m_algebraic", model="algebraic", dataset="h36m_lt", **_PAPER_BACKBONE,
                   dataset_options=(*data, ("image_size", 384)), batch_size=8, learning_rate=1e-4,
                   head_learning_rate=1e-4, loss="l1", keypoint_2d_weight=1.0, max_steps=100_000,
                   eval_every=5000, checkpoint_every=1000, eval_batch_size=8)  # fmt: skip
    vol = dataclasses.replace(alg, name="lt_h36m_volumetric", model="volumetric", init_backbone_from="runs/h36m_alg",
                              volume_size=64, cuboid_side_mm=2500.0, volume_channels=32, v2v_width=32, v2v_levels=5,
                              v2v_front_kernel=7, aggregation="softmax", ce_weight=0.01, learning_rate=1e-4,
                              head_learning_rate=1e-3, keypoint_2d_weight=0.0)  # fmt: skip
    smoke = dataclasses.replace(alg, name="lt_h36m_smoke", **_TINY_BACKBONE,
                                dataset_options=(*data, ("image_size", 32)),
                                solver="eigh", batch_size=2, learning_rate=3e-3, head_learning_rate=1e-2, max_steps=4,
                                eval_every=4, log_every=1, checkpoint_every=4, eval_batch_size=2, progress=False,
                                xla_options=(("xla_backend_optimization_level", 0),))  # fmt: skip
    smoke_vol = dataclasses.replace(smoke, name="lt_h36m_smoke_volumetric", model="volumetric", volume_size=8,
                                    cuboid_side_mm=2500.0, volume_channels=8, v2v_width=4, v2v_levels=1,
                                    v2v_front_kernel=3, keypoint_2d_weight=0.0)  # fmt: skip
    variants = {"algebraic": alg, "volumetric": vol, "smoke": smoke, "smoke_volumetric": smoke_vol}
    key = variant or "algebraic"
    if key not in variants:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(variants)}")
    return variants[key]

"""The algebraic model on real frames: the sample's four videos with multi-view-consistent pseudo-labels (issue 19
item 3, "Real people").

First ``python experiments/lt_real_videos_labels.py`` (BlazePose in every view, robust triangulation through the rig:
``runs/lt_real_labels/labels.npz``). Then
``lift3d train algebraic --config experiments/lt_real_videos.py:real --workdir runs/lt_real`` (or
`lift3d.train.lt_trainer.train_and_evaluate`), and ``python experiments/lt_real_videos_eval.py`` for the comparison
with the OpenPose-based 3D. Dataset ``"real_videos"`` (`lift3d.train.lt_video_data`): 64 x 64 undistorted crops of
the 4 views, frames 70-99 held out (never in training), 4 jittered crops per training frame, colour jitter;
training batches drawn half from the real frames, half from the synthetic set (the backbone keeps what it learnt
there). The test split (what the trainer's evaluation reports) is the held-out block against the pseudo-labels.

Variants:

- ``"real"`` (default): fine-tune ``runs/lt_alg_short`` (the 1500-step synthetic algebraic model: its backbone and
  confidence head, `LTConfig.init_backbone_from`) for 1200 steps at 3e-4 decaying 10x, L1 3D loss + 10 x L1 (px)
  2D loss on the reprojected pseudo-labels, batch 8.
- ``"real_only"``: the same without the synthetic set.
- ``"real_more"``: ``"real"`` plus the other person of ``video_MultiPerson`` (all 100 frames, training only;
  ``lt_real_videos_labels.py --multi``; its balancing subject is the very take of the held-out frames and is left
  out), 6 crops per training frame turned by N(0, 15 deg) and shifted / scaled by 10 %.
- ``"real_first_block"``: ``"real"`` holding out frames 0-29 instead (training on 30-99).
- ``"smoke"``: tiny backbone, real frames only, a few steps (tests); ``labels`` must be replaced by the caller.
"""

import dataclasses

from lift3d.train.lt_config import LTConfig

_CPU_BACKBONE = dict(depth=18, width=16, num_stages=3, deconv_channels=64, num_deconv=2, confidence_width=32)
_TINY_BACKBONE = dict(depth=10, width=8, num_stages=1, deconv_channels=8, num_deconv=0, confidence_width=8)
LABELS = "runs/lt_real_labels/labels.npz"
EXTRA = "runs/lt_real_labels/labels_multi_p1.npz"


def get_config(variant: str | None = None) -> LTConfig:
    """The config of `variant` (None: ``"real"``)."""
    data = (("labels", LABELS), ("image_size", 64), ("test_frames", (70, 100)), ("real_fraction", 0.5))
    real = LTConfig(name="lt_real_videos", model="algebraic", **_CPU_BACKBONE, dataset="real_videos",
                    dataset_options=data, init_backbone_from="runs/lt_alg_short", batch_size=8,
                    learning_rate=3e-4, head_learning_rate=3e-4, lr_decay_rate=0.1, lr_decay_steps=1200, loss="l1",
                    keypoint_2d_weight=10.0, max_steps=1200, eval_every=400, log_every=50, checkpoint_every=200,
                    eval_batch_size=8)  # fmt: skip
    real_only = dataclasses.replace(real, name="lt_real_videos_only",
                                    dataset_options=(*data[:3], ("real_fraction", 1.0)))  # fmt: skip
    smoke = dataclasses.replace(real, name="lt_real_smoke", **_TINY_BACKBONE, init_backbone_from=None,
                                dataset_options=(("labels", LABELS), ("image_size", 32), ("test_frames", (4, 6)),
                                                 ("real_fraction", 1.0), ("augment", 2)),
                                solver="eigh", batch_size=2, learning_rate=3e-3, head_learning_rate=3e-3,
                                lr_decay_rate=1.0, max_steps=6, eval_every=6, log_every=1, checkpoint_every=6,
                                eval_batch_size=2, keypoint_2d_weight=1.0,
                                xla_options=(("xla_backend_optimization_level", 0),))  # fmt: skip
    more = (*data, ("extra_labels", (EXTRA,)), ("rotate_deg", 15.0), ("jitter", 0.1), ("augment", 6))
    real_more = dataclasses.replace(real, name="lt_real_videos_more", dataset_options=more)
    first_block = dataclasses.replace(real, name="lt_real_videos_first_block",
                                      dataset_options=(*data[:2], ("test_frames", (0, 30)), data[3]))  # fmt: skip
    variants = {"real": real, "real_only": real_only, "real_more": real_more, "real_first_block": first_block,
                "smoke": smoke}  # fmt: skip
    key = variant or "real"
    if key not in variants:
        raise ValueError(f"unknown variant {variant!r}; use one of {', '.join(variants)}")
    return variants[key]

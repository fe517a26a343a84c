"""Self-supervised fine-tuning of the lifter from 2D alone (`lift3d train lifter-selfsup`, issue 18 item 2).

Each view is lifted, carried into the other cameras with the rig (root triangulated from the 2D), projected and
compared with their detections (robust, confidence-weighted), with bone-length symmetry / constancy and temporal
smoothness as priors (`lift3d.train.lifter_selfsup`). No 3D is used for training.

Run:

- ``lift3d train lifter-selfsup --config experiments/lifter_selfsup.py:real --workdir runs/selfsup_real
  --keypoints ../shared/data/pose2sim_trials/single_BalancingTrial/pose --skeleton body_25b
  --rig ../shared/data/pose2sim_trials/Calib_qualisys_from_v0.4.15.toml`` (the variant names the frames: 0-69
  train, 70-99 held out), then ``lift3d lift --checkpoint runs/selfsup_real/lifter ...``.
- ``lift3d train lifter-selfsup --config experiments/lifter_selfsup.py:twin --workdir runs/selfsup_twin``.

Variants:

- ``"real"``: Pose2Sim's balancing trial (give ``--keypoints --rig --skeleton``), shipped checkpoint, frames 0-69
  train, 70-99 held out; judged against the 4-view triangulation of the same detections.
- ``"real-all"``: the same, training on all 100 frames (transductive: the judged frames are trained on).
  The twin's supervised loss is mixed in (weight 0.5) against drift; Geman-McClure at 80 px; 800 steps.
- ``"real-2d-only"``: ``"real"`` without the twin's supervised loss (2D of the capture alone).
- ``"twin"``: the synthetic twin's S9 (which the shipped model never trained on), 2D only with 5 px noise, take 0
  of each action trains, take 1 is held out; judged against the twin's 3D truth.
- ``"smoke"``: a tiny fresh network on a few twin takes (tests, CI).
"""

import dataclasses

from lift3d.train.lifter_selfsup import SelfSupConfig


def get_config(variant: str | None = None) -> SelfSupConfig:
    """The config of `variant` (None: ``"real"``)."""
    if variant is None or variant == "real":
        return SelfSupConfig(name="lifter_selfsup_real", source="keypoints", skeleton="body_25b",
                             train_frames=(0, 70), scale_px=80.0, w_supervised=0.5, steps=800, learning_rate=1e-4,
                             windows=8, window=8, log_every=50)  # fmt: skip
    if variant == "real-all":
        return dataclasses.replace(get_config("real"), name="lifter_selfsup_real_all", train_frames=None)
    if variant == "real-2d-only":
        return dataclasses.replace(get_config("real"), name="lifter_selfsup_real_2d_only", w_supervised=0.0)
    if variant == "twin":
        return SelfSupConfig(name="lifter_selfsup_twin", source="twin", twin_subject="S9", twin_frames=200,
                             twin_noise_px=5.0, scale_px=80.0, steps=800, learning_rate=1e-4, windows=16, window=8,
                             log_every=50)  # fmt: skip
    if variant == "smoke":
        return SelfSupConfig(name="lifter_selfsup_smoke", source="twin", init="scratch", width=64, num_blocks=1,
                             twin_actions=("Walking", "Eating"), twin_frames=32, steps=80, learning_rate=3e-3,
                             windows=4, window=8, log_every=40, progress=False)  # fmt: skip
    raise ValueError(f"unknown variant {variant!r}; use None, 'real', 'real-all', 'real-2d-only', 'twin' or 'smoke'")

"""What a learnable-triangulation run depends on: `LTConfig`, and the model hyper-parameters it implies.

Shared by the trainer (`lift3d.train.lt_trainer`) and the evaluation of its models (`lift3d.train.lt_eval`);
config files (``experiments/lt_synthetic.py``) build an `LTConfig` per variant.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lift3d.models.algebraic import AlgebraicTriangulation
from lift3d.models.volumetric import VolumetricTriangulation

__all__ = ["LTConfig", "MODELS", "model_kwargs", "with_data_root"]

MODELS = {"algebraic": AlgebraicTriangulation, "volumetric": VolumetricTriangulation}
"""The model classes by `LTConfig.model` name."""


@dataclasses.dataclass(frozen=True)
class LTConfig:
    """Everything a learnable-triangulation run depends on (defaults: the paper's Human3.6M settings).

    Model: `model` "algebraic" | "volumetric"; backbone `depth` / `width` / `num_stages` / `deconv_channels`
    / `num_deconv` / `confidence_width` (see `lift3d.models.backbone`); algebraic `use_confidences`,
    `heatmap_multiplier`, `solver`; volumetric `volume_size`, `cuboid_side_mm`, `volume_channels`,
    `v2v_width`, `v2v_levels`, `v2v_front_kernel`, `aggregation`, `volume_multiplier`, `up_axis`,
    `rotate_cuboid` (random rotation in training), `center_predictions` (test-time cuboid centres: the root
    joint of a predictions ``.npz``, e.g. an algebraic run's ``predictions_test.npz``; None: the ground-truth
    pelvis).
    Loss: `loss` "mse_smooth" (the paper's algebraic loss, `mse_smooth_threshold` mm^2) or "l1" (volumetric;
    plus `ce_weight` x the volumetric cross-entropy); `keypoint_2d_weight` x L1 (px) between the heatmaps'
    soft-argmax and ``joints_2d`` (0 in the paper, which starts from a pretrained 2D network).
    Initialisation: `init_backbone_from` (the paper's volumetric recipe): a finished run's ``WORKDIR`` (its
    ``model/`` inference checkpoint) or a ``model/`` folder itself whose backbone parameters and BatchNorm
    statistics replace the fresh ones at step 0 (a resume keeps its checkpoint); the shapes must match
    (same backbone hyper-parameters), the confidence head is copied only where both have one of one shape.
    Optimiser: Adam; `learning_rate` for the backbone, `head_learning_rate` for the volumetric 1x1 conv and
    V2V; both times ``lr_decay_rate ** (step / lr_decay_steps)``; optional `grad_clip_norm`.
    Run: `max_steps` (may grow between resumes), `eval_every`, `log_every`, `checkpoint_every` (steps),
    `prefetch` (training batches read ahead in a thread), `num_devices` (None: all), `xla_options` (XLA
    compiler options of the training step and initialisation, e.g. ``(("xla_backend_optimization_level",
    0),)`` trades step speed for compile time in the smoke variants).
    """

    name: str = "lt"
    model: str = "algebraic"
    seed: int = 0
    data_seed: int = 0
    dataset: str = "synthetic_multiview"
    dataset_options: tuple[tuple[str, Any], ...] = ()
    skeleton: str | None = "h36m_17"
    depth: int = 152
    width: int = 64
    num_stages: int = 4
    deconv_channels: int = 256
    num_deconv: int = 3
    confidence_width: int = 256
    bn_momentum: float = 0.9
    use_confidences: bool = True
    heatmap_multiplier: float = 100.0
    solver: str = "svd"
    volume_size: int = 64
    cuboid_side_mm: float = 2500.0
    volume_channels: int = 32
    v2v_width: int = 32
    v2v_levels: int = 5
    v2v_front_kernel: int = 7
    aggregation: str = "softmax"
    volume_multiplier: float = 1.0
    up_axis: int = 2
    rotate_cuboid: bool = True
    center_predictions: str | None = None
    init_backbone_from: str | None = None
    loss: str | None = None
    mse_smooth_threshold: float = 400.0
    ce_weight: float = 0.01
    keypoint_2d_weight: float = 0.0
    batch_size: int = 8
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    lr_decay_rate: float = 1.0
    lr_decay_steps: int = 10_000
    grad_clip_norm: float | None = None
    max_steps: int = 10_000
    eval_every: int = 1000
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    eval_batch_size: int = 8
    prefetch: int = 2
    num_devices: int | None = None
    progress: bool = True
    xla_options: tuple[tuple[str, Any], ...] = ()

    @property
    def loss_kind(self) -> str:
        """The 3D loss: `loss`, or the paper's choice for the model."""
        return self.loss or ("mse_smooth" if self.model == "algebraic" else "l1")

    def backbone_kwargs(self) -> dict:
        """`PoseResNet` keyword arguments (the confidence head is the model's business)."""
        return dict(depth=self.depth, width=self.width, num_stages=self.num_stages,
                    deconv_channels=self.deconv_channels, num_deconv=self.num_deconv,
                    confidence_width=self.confidence_width, bn_momentum=self.bn_momentum)  # fmt: skip


_RENDER_OPTIONS = ("root", "subjects", "frames_per_action", "trials", "seed")  # the synthetic set's, not the reader's


def with_data_root(config: LTConfig, root: str) -> LTConfig:
    """`config` reading learnable-triangulation's Human3.6M layout at `root` (dataset ``"h36m_lt"``).

    The reader's options of the config (``image_size``, ``every_n_train``, ...) carry over; the synthetic
    set's rendering options are dropped.
    """
    kept = tuple((k, v) for k, v in config.dataset_options if k not in _RENDER_OPTIONS)
    return dataclasses.replace(config, dataset="h36m_lt", dataset_options=(("root", str(root)), *kept))


def model_kwargs(config: LTConfig, num_joints: int) -> dict:
    """The model constructor's hyper-parameters (JSON-serialisable; stored with the weights)."""
    if config.model == "algebraic":
        return dict(num_joints=num_joints, backbone=config.backbone_kwargs(), use_confidences=config.use_confidences,
                    heatmap_multiplier=config.heatmap_multiplier, solver=config.solver)  # fmt: skip
    if config.model == "volumetric":
        return dict(num_joints=num_joints, backbone=config.backbone_kwargs(), volume_size=config.volume_size,
                    cuboid_side_mm=config.cuboid_side_mm, volume_channels=config.volume_channels,
                    v2v_width=config.v2v_width, v2v_levels=config.v2v_levels,
                    v2v_front_kernel=config.v2v_front_kernel, aggregation=config.aggregation,
                    volume_multiplier=config.volume_multiplier, up_axis=config.up_axis,
                    bn_momentum=config.bn_momentum)  # fmt: skip
    raise ValueError(f"unknown model {config.model!r}; use 'algebraic' or 'volumetric'")

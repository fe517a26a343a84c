"""Volumetric learnable triangulation (Iskakov et al. 2019): unprojected features -> V2V -> 3D soft-argmax.

Per view, the `PoseResNet`'s deconvolution features (256 channels in the paper) go through a 1x1 conv to
`volume_channels` (32); a cube of side `cuboid_side_mm` (2500) around `center` (the pelvis: ground truth in
training, the algebraic model's estimate at test time) holds a ``d^3`` grid (64 in the paper), rotated about
the vertical axis by a random angle when a `key` is given (training augmentation); every view's features
are sampled at the projected grid points (`lift3d.geometry.volume.unproject`), merged over the views
(`aggregate`: sum, confidence-weighted, or softmax), turned into one volume per joint by `V2V`, and read
out by a 3D soft-argmax over the grid's world coordinates.

Losses (`volumetric_loss`): L1 on the joints plus ``ce_weight`` (0.01 in the paper) times the volumetric
cross-entropy ``-log(p + 1e-6)`` of each joint's probability at the voxel nearest its ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp
from flax import nnx
from jax import Array

from lift3d.geometry.volume import (
    Aggregation,
    aggregate,
    cuboid_grid,
    grid_indices,
    random_vertical_rotation,
    rescale_projection,
    unproject,
)
from lift3d.models.algebraic import sanitize_images
from lift3d.models.backbone import PoseResNet
from lift3d.models.heatmaps import soft_argmax_3d
from lift3d.models.v2v import V2V

__all__ = ["VolumetricTriangulation", "l1_loss", "volumetric_ce_loss", "volumetric_loss"]


class VolumetricTriangulation(nnx.Module):
    """Multi-view images -> 3D joints through a voxel volume of unprojected features (see the module doc).

    Args:
        num_joints: j.
        backbone: `PoseResNet` keyword arguments; a confidence head of `volume_channels` outputs is added for
            ``aggregation="conf"``.
        volume_size: d, voxels per edge (64 in the paper); divisible by ``2^v2v_levels``.
        cuboid_side_mm: Edge of the cube, mm (2500).
        volume_channels: Feature channels unprojected (32).
        v2v_width: V2V width (32).
        v2v_levels: V2V encoder-decoder levels (5 for d = 64).
        v2v_front_kernel: Kernel side of V2V's first conv (7).
        aggregation: "sum", "conf" or "softmax".
        volume_multiplier: 3D soft-argmax sharpness (1).
        up_axis: The world's vertical axis for the random rotation (2: z-up).
        bn_momentum: BatchNorm decay of the V2V.
        rngs: Initialisation keys.
    """

    def __init__(self, *, num_joints: int = 17, backbone: Mapping | None = None, volume_size: int = 64,
                 cuboid_side_mm: float = 2500.0, volume_channels: int = 32, v2v_width: int = 32,
                 v2v_levels: int = 5, v2v_front_kernel: int = 7, aggregation: Aggregation = "softmax",
                 volume_multiplier: float = 1.0,
                 up_axis: int = 2, bn_momentum: float = 0.9, rngs: nnx.Rngs):  # fmt: skip
        if aggregation not in ("sum", "conf", "softmax"):
            raise ValueError(f"unknown aggregation {aggregation!r}; use 'sum', 'conf' or 'softmax'")
        if volume_size % 2**v2v_levels:
            raise ValueError(f"volume_size {volume_size} must be divisible by 2^v2v_levels = {2**v2v_levels}")
        bb = dict(backbone or {})
        if aggregation == "conf":
            bb["confidence_outputs"] = volume_channels
        self.backbone = PoseResNet(num_joints=num_joints, **bb, rngs=rngs)
        self.process_features = nnx.Conv(self.backbone.feature_channels, volume_channels, (1, 1), rngs=rngs)
        self.v2v = V2V(volume_channels, num_joints, width=v2v_width, levels=v2v_levels, front_kernel=v2v_front_kernel,
                       bn_momentum=bn_momentum, rngs=rngs)  # fmt: skip
        self.num_joints, self.volume_size, self.cuboid_side_mm = num_joints, volume_size, cuboid_side_mm
        self.aggregation, self.volume_multiplier, self.up_axis = aggregation, volume_multiplier, up_axis

    def __call__(self, images: Array, proj: Array, view_mask: Array | None = None, center: Array | None = None,
                 *, train: bool = False, key: Array | None = None) -> tuple[Array, dict[str, Array]]:  # fmt: skip
        """Estimate 3D joints of a batch of multi-view samples.

        Args:
            images: (b, v, H, W, 3) normalised images.
            proj: (b, v, 3, 4) projection matrices into the images' pixels (mm world).
            view_mask: Optional (b, v) bool; False marks a missing view.
            center: (b, 3) cuboid centres, mm (required).
            train: Batch statistics (True) or running averages (False).
            key: Random key of the cuboid's rotation about the vertical; None: no rotation.

        Returns:
            ``(joints_3d (b, j, 3) mm, aux)``: ``probabilities`` (b, d, d, d, j) (softmax of the V2V output),
            ``grid`` (b, d, d, d, 3) mm, ``center`` (b, 3), ``rotation`` (b, 3, 3), ``heatmaps``
            (b, v, h, w, j) (the backbone's, unused by the 3D output), ``views_used`` (b, v).
        """
        if center is None:
            raise ValueError("the volumetric model needs cuboid centres (b, 3), e.g. the pelvis")
        b, v, H, W, _ = images.shape
        mask = jnp.ones((b, v), bool) if view_mask is None else jnp.asarray(view_mask, bool)
        x = sanitize_images(images, mask).reshape(b * v, H, W, 3)
        heatmaps, aux = self.backbone(x, train=train, mask=mask.reshape(-1))
        feats = self.process_features(aux["features"])
        h, w = feats.shape[1:3]
        feats = feats.reshape(b, v, h, w, -1)
        center = jnp.asarray(center, feats.dtype)
        if key is None:
            rotation = jnp.broadcast_to(jnp.eye(3, dtype=feats.dtype), (b, 3, 3))
        else:
            rotation = random_vertical_rotation(key, (b,), axis=self.up_axis).astype(feats.dtype)
        grid = cuboid_grid(center, side_mm=self.cuboid_side_mm, size=self.volume_size, rotation=rotation)
        proj_f = rescale_projection(jnp.asarray(proj, feats.dtype), (H, W), (h, w))
        volumes, valid = unproject(feats, proj_f, grid, mask)
        conf = aux["confidences"].reshape(b, v, -1) if self.aggregation == "conf" else None
        volume = aggregate(volumes, valid, self.aggregation, conf)
        out = self.v2v(volume, train=train)
        joints, probs = soft_argmax_3d(out, grid, self.volume_multiplier)
        return joints, {
            "probabilities": probs, "grid": grid, "center": center, "rotation": rotation,
            "heatmaps": heatmaps.reshape(b, v, *heatmaps.shape[1:]), "views_used": valid,
        }  # fmt: skip


def l1_loss(pred: Array, target: Array, valid: Array) -> Array:
    """Mean absolute error over the valid coordinates (the paper's ``KeypointsMAELoss``).

    Args:
        pred, target: Shape (..., j, 3), mm.
        valid: Shape (..., j) bool; non-finite predictions or targets do not count either.

    Returns:
        Scalar, mm.
    """
    ok = valid & jnp.all(jnp.isfinite(pred), -1) & jnp.all(jnp.isfinite(target), -1)
    diff = jnp.where(ok[..., None], pred - target, 0.0)
    return jnp.sum(jnp.abs(diff)) / jnp.maximum(3.0 * jnp.sum(ok), 1.0)


def volumetric_ce_loss(probabilities: Array, target: Array, valid: Array, *, center: Array, rotation: Array,
                       side_mm: float) -> Array:  # fmt: skip
    """Volumetric cross-entropy: ``-log(p + 1e-6)`` at the voxel nearest each valid joint, averaged.

    Args:
        probabilities: (b, d, d, d, j), each volume summing to 1 (`soft_argmax_3d`'s second output).
        target: (b, j, 3) ground-truth joints, mm.
        valid: (b, j) bool.
        center, rotation: The cuboids' (b, 3) centres and (b, 3, 3) rotations.
        side_mm: Their edge.

    Returns:
        Scalar.
    """
    b, d = probabilities.shape[:2]
    j = probabilities.shape[-1]
    ok = valid & jnp.all(jnp.isfinite(target), -1)
    idx = grid_indices(jnp.where(ok[..., None], target, 0.0), center, side_mm=side_mm, size=d, rotation=rotation)
    flat = (idx[..., 0] * d + idx[..., 1]) * d + idx[..., 2]  # (b, j)
    p = jnp.take_along_axis(probabilities.reshape(b, d**3, j), flat[:, None, :], axis=1)[:, 0]
    ce = -jnp.log(p + 1e-6)
    return jnp.sum(jnp.where(ok, ce, 0.0)) / jnp.maximum(jnp.sum(ok), 1)


def volumetric_loss(pred: Array, aux: Mapping[str, Array], target: Array, valid: Array, *, side_mm: float,
                    ce_weight: float = 0.01) -> tuple[Array, dict[str, Array]]:  # fmt: skip
    """The paper's volumetric training loss: L1 + ``ce_weight`` x volumetric cross-entropy.

    Args:
        pred: (b, j, 3) predicted joints, mm.
        aux: The model's aux dict (``probabilities``, ``center``, ``rotation``).
        target: (b, j, 3) ground truth, mm.
        valid: (b, j) bool.
        side_mm: The model's cuboid side.
        ce_weight: Weight of the cross-entropy term (0.01).

    Returns:
        ``(loss, parts)`` with ``parts = {"l1_mm", "ce"}``.
    """
    l1 = l1_loss(pred, target, valid)
    ce = volumetric_ce_loss(aux["probabilities"], target, valid, center=aux["center"], rotation=aux["rotation"],
                            side_mm=side_mm)  # fmt: skip
    return l1 + ce_weight * ce, {"l1_mm": l1, "ce": ce}

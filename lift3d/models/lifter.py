"""The residual MLP lifter (Martinez et al. 2017): one view's 2D joints to root-relative 3D in that camera.

Network (Martinez' ``linear_model.py``): ``Linear(in, width)``, BatchNorm, ReLU, dropout, then ``num_blocks``
residual blocks of two ``(Linear(width, width), BatchNorm, ReLU, dropout)`` with a skip connection, then
``Linear(width, 3 (j - 1))``. Width 1024, 2 blocks, dropout 0.5 and max-norm 1 are the paper's values.
Dropout is `byte_dropout` (one random byte per unit: a quarter of the random bits, same distribution
for rates that are multiples of 1/256).

Flax API: `flax.nnx` (the API Flax recommends for new code since 0.11; Linen stays supported). Modules are
plain Python objects holding their parameters, which keeps the learnable-triangulation models (backbones
with frozen parts, several heads) simple to write and to inspect. The trainers stay functional all the
same: `nnx.split` gives a static graph definition and pure pytrees (``nnx.Param``, ``nnx.BatchStat``) that
`jax.jit`, `jax.sharding` and orbax handle directly, and `nnx.merge` rebuilds the module inside the jitted
step (trace time only, no per-step Python cost). Dropout keys are passed at call time, so the module owns
no RNG state and a step is a pure function of (state, batch, key).

Input normalisation (`encode_inputs`) -- chosen so that one checkpoint works with any camera:

1. Rays. 2D detections in distorted pixels are undistorted and mapped through K^-1 (`pixels_to_rays`):
   ``(x, y) = (X/Z, Y/Z)`` of the joint in the camera frame. This removes the focal length, the principal
   point and the lens, which differ between Human3.6M (1000x1002 px, f ~ 1145 px) and e.g. the Pose2Sim
   portrait cameras (1088x1920 px, f ~ 1680 px). Martinez z-scored pixels with the dataset's mean / std,
   which ties a model to its training cameras' intrinsics and image placement.
2. Perspective crop (virtual camera). The rays are rotated by ``R_v``, the smallest rotation taking the
   centroid ray of the valid joints onto the optical axis, and re-projected: the pose as a camera looking
   straight at the person would see it (Yu et al. 2021, "PCLs"). Where the person stands in the image then
   no longer matters (portrait cameras see people up to ~30 degrees off-axis, H36M's ~20).
3. Centre and scale. Subtract the mean of the valid joints and divide by their RMS distance to it. Image
   size and subject distance drop out: the network infers body size from its training data (the usual
   scale ambiguity of monocular lifting; root-relative mm are about H36M-sized adults).
4. Missing joints. Each joint feeds ``(x, y, visible)``; a missing joint (NaN, or masked) is ``(0, 0, 0)``
   and takes no part in the centroid and scale. Training drops joints at random the same way, so the
   network has learned what a 0 flag means; nothing is imputed.

Output: root-relative joints (root = `root_index`, exactly 0) in the *real* camera frame, mm: the network
predicts them in the virtual camera (in metres, times `output_scale_mm`) and ``R_v^T`` rotates them back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array
from jax.typing import ArrayLike

from lift3d.geometry.camera import Camera, undistort_points

__all__ = ["Lifter", "ResidualBlock", "pixels_to_rays", "virtual_camera_rotation", "encode_inputs"]
__all__ += ["max_norm_project", "num_features", "fold_batch_norm", "apply_folded", "byte_dropout"]


def pixels_to_rays(camera: Camera, points_px: ArrayLike) -> Array:
    """Distorted pixel coordinates to normalised rays ``(X/Z, Y/Z)`` (undistortion + K^-1).

    Args:
        camera: Cameras with batch shape broadcastable to the points' leading axes (*b).
        points_px: Shape (*b, j, 2), px; NaN stays NaN.

    Returns:
        Shape (*b, j, 2), dimensionless.
    """
    return undistort_points(camera, points_px, normalized=True)


def virtual_camera_rotation(direction: Array) -> Array:
    """The smallest rotation taking ``direction`` to the optical axis (0, 0, 1).

    Args:
        direction: Shape (*b, 3), any length, pointing in front of the camera (z > 0).

    Returns:
        ``R_v`` of shape (*b, 3, 3) with ``R_v @ d / |d| = (0, 0, 1)``.
    """
    d = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
    x, y, c = d[..., 0], d[..., 1], d[..., 2]
    # Rodrigues with axis d x z = (y, -x, 0): R = I + [v]_x + [v]_x^2 / (1 + c); stable for c > 0
    k = 1.0 / (1.0 + c)
    zero = jnp.zeros_like(x)
    rows = [
        [1.0 - k * x * x, -k * x * y, -x],
        [-k * x * y, 1.0 - k * y * y, -y],
        [x, y, c],
    ]
    return jnp.stack([jnp.stack([r + zero for r in row], -1) for row in rows], -2)


def encode_inputs(rays: ArrayLike, visible: ArrayLike | None = None) -> tuple[Array, Array, Array]:
    """The lifter's input features from rays of one view (see the module doc for the steps).

    Args:
        rays: Shape (*b, j, 2), ``(X/Z, Y/Z)``; NaN marks a missing joint.
        visible: Optional (*b, j) bool; joints False here are missing too.

    Returns:
        ``(features (*b, 3 j), R_v (*b, 3, 3), num_visible (*b,))``: per joint ``(x, y, visible)``, zeros
        for missing joints. Poses with fewer than 2 visible joints give finite (meaningless) features; the
        caller masks them (`lift3d.predict.lifter` returns NaN for them).
    """
    rays = jnp.asarray(rays)
    vis = jnp.all(jnp.isfinite(rays), -1)
    if visible is not None:
        vis = vis & jnp.asarray(visible, bool)
    w = vis.astype(rays.dtype)
    r = jnp.where(vis[..., None], rays, 0.0)
    n = jnp.sum(w, -1)
    safe_n = jnp.maximum(n, 1.0)[..., None]
    centroid = jnp.sum(r * w[..., None], -2) / safe_n
    Rv = virtual_camera_rotation(jnp.concatenate([centroid, jnp.ones_like(centroid[..., :1])], -1))
    h = jnp.concatenate([r, jnp.ones_like(r[..., :1])], -1)  # homogeneous rays
    q = jnp.einsum("...ik,...jk->...ji", Rv, h)
    p = q[..., :2] / q[..., 2:]  # virtual-camera rays (centroid ray on the axis: |p| stays small)
    p = jnp.where(vis[..., None], p, 0.0)
    mean = jnp.sum(p * w[..., None], -2) / safe_n
    p = (p - mean[..., None, :]) * w[..., None]
    scale = jnp.sqrt(jnp.sum(p * p, (-2, -1)) / safe_n[..., 0])
    p = p / jnp.maximum(scale, 1e-6)[..., None, None]
    feats = jnp.concatenate([p, w[..., None]], -1)
    return feats.reshape(*feats.shape[:-2], -1), Rv, n


def byte_dropout(x: Array, rate: float, key: Array | None, *, train: bool) -> Array:
    """Inverted dropout drawing one random byte per unit (a quarter of `jax.random.bernoulli`'s random bits).

    On CPU the random numbers dominate dropout's cost (threefry is computed, not read); using each byte of a
    32-bit draw for one unit cuts that 4x. The rate is rounded to a multiple of 1/256 (0.5 is exact).

    Args:
        x: Activations (..., w).
        rate: Drop probability in [0, 1).
        key: Random key (needed when training with rate > 0).
        train: False (or rate 0): identity.

    Returns:
        ``x * keep / P(keep)``, same shape.
    """
    if not train or rate == 0.0:
        return x
    threshold = round(rate * 256)
    if not 0 <= threshold < 256:
        raise ValueError(f"dropout rate {rate} must be in [0, 1)")
    if key is None:
        raise ValueError("dropout needs a key when training (pass key=...)")
    w = x.shape[-1]
    words = jax.random.bits(key, (*x.shape[:-1], -(-w // 4)), jnp.uint32)
    byte = jax.lax.bitcast_convert_type(words, jnp.uint8).reshape(*x.shape[:-1], -1)[..., :w]
    return jnp.where(byte >= threshold, x * (256.0 / (256 - threshold)), 0.0)


def num_features(num_joints: int) -> int:
    """Input width of the network for `num_joints` joints (x, y, visible each)."""
    return 3 * num_joints


class ResidualBlock(nnx.Module):
    """Two ``(Linear, BatchNorm, ReLU, Dropout)`` layers with a skip connection (Martinez' ``two_linear``)."""

    def __init__(self, width: int, dropout: float, *, momentum: float, rngs: nnx.Rngs):
        self.linear1 = nnx.Linear(width, width, rngs=rngs)
        self.bn1 = nnx.BatchNorm(width, momentum=momentum, rngs=rngs)
        self.linear2 = nnx.Linear(width, width, rngs=rngs)
        self.bn2 = nnx.BatchNorm(width, momentum=momentum, rngs=rngs)
        self.rate = dropout

    def __call__(self, x: Array, *, train: bool, key: Array | None) -> Array:
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        y = nnx.relu(self.bn1(self.linear1(x), use_running_average=not train))
        y = byte_dropout(y, self.rate, k1, train=train)
        y = nnx.relu(self.bn2(self.linear2(y), use_running_average=not train))
        y = byte_dropout(y, self.rate, k2, train=train)
        return x + y


class Lifter(nnx.Module):
    """Residual MLP from one view's rays to root-relative 3D joints in that camera (mm).

    Args:
        num_joints: j, joints in and out (17 for H36M-17).
        root_index: The root joint (H36M pelvis: 0); its output is exactly 0.
        width: Hidden width (1024 in the paper).
        num_blocks: Residual blocks (2).
        dropout: Dropout rate (0.5).
        bn_momentum: BatchNorm running-average decay.
        output_scale_mm: The network predicts ``mm / output_scale_mm`` (metres by default).
        rngs: Parameter initialisation keys (``nnx.Rngs(params=key)``).
    """

    def __init__(
        self,
        *,
        num_joints: int = 17,
        root_index: int = 0,
        width: int = 1024,
        num_blocks: int = 2,
        dropout: float = 0.5,
        bn_momentum: float = 0.99,
        output_scale_mm: float = 1000.0,
        rngs: nnx.Rngs,
    ):
        if not 0 <= root_index < num_joints:
            raise ValueError(f"root_index {root_index} outside 0..{num_joints - 1}")
        self.num_joints, self.root_index, self.output_scale_mm = num_joints, root_index, output_scale_mm
        self.input_layer = nnx.Linear(num_features(num_joints), width, rngs=rngs)
        self.input_bn = nnx.BatchNorm(width, momentum=bn_momentum, rngs=rngs)
        self.rate = dropout
        self.blocks = nnx.List(
            [ResidualBlock(width, dropout, momentum=bn_momentum, rngs=rngs) for _ in range(num_blocks)]
        )
        self.output_layer = nnx.Linear(width, 3 * (num_joints - 1), rngs=rngs)

    def __call__(
        self,
        rays: ArrayLike,
        visible: ArrayLike | None = None,
        *,
        train: bool = False,
        key: Array | None = None,
    ) -> tuple[Array, dict[str, Array]]:
        """Lift a batch of poses.

        Args:
            rays: Shape (b, j, 2), normalised rays ``(X/Z, Y/Z)`` (`pixels_to_rays`); NaN = missing joint.
            visible: Optional (b, j) bool; False marks a missing joint as well.
            train: Batch statistics and dropout (True) or running averages and no dropout (False).
            key: Dropout key, needed when training with dropout > 0.

        Returns:
            ``(points_3d (b, j, 3) mm, root-relative, camera frame; aux)``, aux holding ``"features"``
            (b, 3 j), ``"rotation"`` (b, 3, 3) = R_v and ``"num_visible"`` (b,).
        """
        feats, Rv, n = encode_inputs(rays, visible)
        keys = [None] * (len(self.blocks) + 1) if key is None else list(jax.random.split(key, len(self.blocks) + 1))
        x = self.input_layer(feats)
        x = byte_dropout(nnx.relu(self.input_bn(x, use_running_average=not train)), self.rate, keys[0], train=train)
        for block, k in zip(self.blocks, keys[1:], strict=True):
            x = block(x, train=train, key=k)
        y = self.output_layer(x).reshape(*x.shape[:-1], self.num_joints - 1, 3) * self.output_scale_mm
        y = jnp.insert(y, self.root_index, 0.0, axis=-2)
        pred = jnp.einsum("...ki,...jk->...ji", Rv, y)  # R_v^T y: back to the real camera
        return pred, {"features": feats, "rotation": Rv, "num_visible": n}


def max_norm_project(params, max_norm: float):
    """Martinez' max-norm constraint: rescale each kernel column (one output unit) to norm <= `max_norm`.

    Args:
        params: An ``nnx.Param`` state (or any pytree); leaves whose path ends in ``kernel`` are projected.
        max_norm: The bound.

    Returns:
        The same pytree with projected kernels.
    """

    def project(path, leaf):
        if getattr(path[-1], "key", None) != "kernel" and str(getattr(path[-1], "name", "")) != "kernel":
            return leaf
        norm = jnp.linalg.norm(leaf, axis=0, keepdims=True)
        return leaf * jnp.minimum(1.0, max_norm / jnp.maximum(norm, 1e-12))

    return jax.tree_util.tree_map_with_path(project, params)


def fold_batch_norm(params: dict, batch_stats: dict, *, epsilon: float = 1e-5) -> list[tuple[Array, Array]]:
    """The inference network as plain affine layers: every eval-mode BatchNorm folded into its Linear.

    Eval-mode BatchNorm is ``(x - mean) / sqrt(var + eps) * scale + bias``, an affine map, so
    ``Linear -> BatchNorm`` is one Linear with ``W' = W * s`` and ``b' = (b - mean) * s + bias``
    (``s = scale / sqrt(var + eps)``). Dropout is the identity at inference.

    Args:
        params, batch_stats: Pure-dict states of a `Lifter` (``nnx.to_pure_dict``).
        epsilon: BatchNorm's epsilon (nnx default 1e-5).

    Returns:
        ``[(W, b), ...]``: the input layer, two per residual block, the output layer (see `apply_folded`).
    """

    def fold(linear, bn, stats):
        s = bn["scale"] / jnp.sqrt(stats["var"] + epsilon)
        return linear["kernel"] * s, (linear["bias"] - stats["mean"]) * s + bn["bias"]

    layers = [fold(params["input_layer"], params["input_bn"], batch_stats["input_bn"])]
    for k in sorted(params["blocks"], key=int):
        p, st = params["blocks"][k], batch_stats["blocks"][k]
        layers += [fold(p["linear1"], p["bn1"], st["bn1"]), fold(p["linear2"], p["bn2"], st["bn2"])]
    out = params["output_layer"]
    return layers + [(out["kernel"], out["bias"])]


def apply_folded(
    layers: list[tuple[Array, Array]], rays: ArrayLike, visible: ArrayLike | None = None, *,
    root_index: int = 0, output_scale_mm: float = 1000.0,
) -> Array:  # fmt: skip
    """`Lifter` inference (``train=False``) from `fold_batch_norm`'s layers: same result, fewer operations.

    Weights may be bfloat16 (half the bytes to read: what bounds single-pose latency); activations and
    accumulation stay float32.

    Args:
        layers: `fold_batch_norm` output.
        rays, visible: As for `Lifter.__call__`.
        root_index, output_scale_mm: The `Lifter`'s.

    Returns:
        (b, j, 3) root-relative joints in the camera frame, mm.
    """
    feats, Rv, _ = encode_inputs(rays, visible)

    def dense(x, wb):
        w, b = wb
        y = jnp.dot(x.astype(w.dtype), w, preferred_element_type=jnp.float32)
        return y + b.astype(jnp.float32)

    x = nnx.relu(dense(feats, layers[0]))
    for i in range(1, len(layers) - 1, 2):
        x = x + nnx.relu(dense(nnx.relu(dense(x, layers[i])), layers[i + 1]))
    y = dense(x, layers[-1])
    y = y.reshape(*y.shape[:-1], -1, 3) * output_scale_mm
    y = jnp.insert(y, root_index, 0.0, axis=-2)
    return jnp.einsum("...ki,...jk->...ji", Rv, y)

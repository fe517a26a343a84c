"""The 2D part of learnable triangulation: a ResNet, a deconvolution heatmap head and a confidence head.

This is Xiao et al. 2018's "simple baseline" (``pose_resnet``) as Iskakov et al. 2019 use it:

- ResNet (He et al. 2016; torchvision's v1.5 layout: the stride of a bottleneck sits on its 3x3 conv).
  `depth` picks the block counts of ResNet-10/18/34/50/101/152, `width` the channels of the first stage
  (64 in the standard networks; e.g. 8 for CPU tests), `num_stages` how many of the four stages are used
  (fewer stages: a smaller output stride, for tiny images). Output stride ``4 * 2^(num_stages - 1)``.
- Deconvolution head: `num_deconv` x (4x4 transposed conv, stride 2, BatchNorm, ReLU) with
  `deconv_channels` channels (3 x 256 in the paper: stride 32 -> 4), then a 1x1 conv to one heatmap per joint.
  The deconvolution output is also the feature map the volumetric model unprojects.
- Confidence head (the paper's ``GlobalAveragePoolingHead`` on the last ResNet stage): two (3x3 conv,
  BatchNorm, 2x2 max-pool, ReLU), global average pooling, an MLP and a softplus; `confidence_outputs`
  positive numbers per image: one per joint (algebraic) or per feature channel (volumetric ``conf``
  aggregation). Widths ``2 c, c`` with ``c = confidence_width`` (256 in the paper).

Images are NHWC, float32, normalised with the ImageNet mean and std. BatchNorm statistics in training are
taken over the images where ``mask`` is True (missing views in a multi-view batch do not bias them).
No pretrained weights are loaded (the paper starts from COCO / MPII-trained weights).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

__all__ = ["RESNET_SPECS", "ResNet", "PoseResNet", "ConfidenceHead", "output_stride", "heatmap_size"]

# depth -> (blocks per stage, bottleneck)
RESNET_SPECS: dict[int, tuple[tuple[int, ...], bool]] = {
    10: ((1, 1, 1, 1), False),
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}


def _bn_mask(x: Array, mask: Array | None) -> Array | None:
    return None if mask is None else jnp.broadcast_to(mask[:, None, None, None], x.shape)


class _ConvBN(nnx.Module):
    """Conv (no bias) + BatchNorm (+ ReLU)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, relu: bool = True,
                 momentum: float, rngs: nnx.Rngs):  # fmt: skip
        pad = kernel // 2
        self.conv = nnx.Conv(cin, cout, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)),
                             use_bias=False, rngs=rngs)  # fmt: skip
        self.bn = nnx.BatchNorm(cout, momentum=momentum, rngs=rngs)
        self.relu = relu

    def __call__(self, x: Array, *, train: bool, mask: Array | None) -> Array:
        y = self.conv(x)
        y = self.bn(y, use_running_average=not train, mask=_bn_mask(y, mask) if train else None)
        return nnx.relu(y) if self.relu else y


class _Block(nnx.Module):
    """A basic (two 3x3) or bottleneck (1x1, 3x3, 1x1 x4) residual block."""

    def __init__(self, cin: int, planes: int, stride: int, bottleneck: bool, *, momentum: float, rngs: nnx.Rngs):
        kw = dict(momentum=momentum, rngs=rngs)
        cout = planes * (4 if bottleneck else 1)
        if bottleneck:
            self.layers = nnx.List([_ConvBN(cin, planes, 1, **kw), _ConvBN(planes, planes, 3, stride, **kw),
                                    _ConvBN(planes, cout, 1, relu=False, **kw)])  # fmt: skip
        else:
            self.layers = nnx.List([_ConvBN(cin, planes, 3, stride, **kw), _ConvBN(planes, cout, 3, relu=False, **kw)])
        self.shortcut = _ConvBN(cin, cout, 1, stride, relu=False, **kw) if (stride != 1 or cin != cout) else None
        self.out_channels = cout

    def __call__(self, x: Array, *, train: bool, mask: Array | None) -> Array:
        y = x
        for layer in self.layers:
            y = layer(y, train=train, mask=mask)
        skip = x if self.shortcut is None else self.shortcut(x, train=train, mask=mask)
        return nnx.relu(y + skip)


def output_stride(num_stages: int) -> int:
    """Stride of the ResNet's last stage: 4 after the stem, x2 per further stage."""
    return 4 * 2 ** (num_stages - 1)


def heatmap_size(image_size: tuple[int, int], num_stages: int, num_deconv: int) -> tuple[int, int]:
    """(h, w) of the heatmaps for an (H, W) input (each must divide evenly)."""
    stride = output_stride(num_stages) // 2**num_deconv
    H, W = image_size
    if stride < 1 or H % output_stride(num_stages) or W % output_stride(num_stages):
        raise ValueError(
            f"image size {image_size} must be divisible by the output stride {output_stride(num_stages)} "
            f"and num_deconv {num_deconv} must not upsample beyond the input"
        )
    return H // stride, W // stride


class ResNet(nnx.Module):
    """ResNet trunk without the classifier (see the module doc).

    Args:
        depth: 10, 18, 34, 50, 101 or 152.
        width: Channels of the first stage (64 standard).
        num_stages: 1 to 4 stages used.
        bn_momentum: BatchNorm running-average decay.
        rngs: Initialisation keys.
    """

    def __init__(self, *, depth: int = 50, width: int = 64, num_stages: int = 4, bn_momentum: float = 0.9,
                 rngs: nnx.Rngs):  # fmt: skip
        if depth not in RESNET_SPECS:
            raise ValueError(f"ResNet depth {depth} not supported; use one of {sorted(RESNET_SPECS)}")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"num_stages must be 1..4, got {num_stages}")
        blocks, bottleneck = RESNET_SPECS[depth]
        kw = dict(momentum=bn_momentum, rngs=rngs)
        self.stem = _ConvBN(3, width, 7, 2, **kw)
        stages, cin = [], width
        for s in range(num_stages):
            stage = []
            for i in range(blocks[s]):
                block = _Block(cin, width * 2**s, 2 if (i == 0 and s > 0) else 1, bottleneck, **kw)
                stage.append(block)
                cin = block.out_channels
            stages.append(nnx.List(stage))
        self.stages = nnx.List(stages)
        self.out_channels = cin

    def __call__(self, x: Array, *, train: bool = False, mask: Array | None = None) -> Array:
        """(N, H, W, 3) images -> (N, H / stride, W / stride, out_channels) features."""
        x = self.stem(x, train=train, mask=mask)
        x = nnx.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for stage in self.stages:
            for block in stage:
                x = block(x, train=train, mask=mask)
        return x


class ConfidenceHead(nnx.Module):
    """Positive confidences per image from a feature map (the paper's ``GlobalAveragePoolingHead``).

    Args:
        cin: Input channels.
        outputs: Confidences per image.
        width: c (convs 2c, c; MLP 2c, c).
        bn_momentum: BatchNorm decay.
        rngs: Initialisation keys.
    """

    def __init__(self, cin: int, outputs: int, *, width: int = 256, bn_momentum: float = 0.9, rngs: nnx.Rngs):
        kw = dict(momentum=bn_momentum, rngs=rngs)
        self.convs = nnx.List([_ConvBN(cin, 2 * width, 3, **kw), _ConvBN(2 * width, width, 3, **kw)])
        self.mlp = nnx.List([nnx.Linear(width, 2 * width, rngs=rngs), nnx.Linear(2 * width, width, rngs=rngs),
                             nnx.Linear(width, outputs, rngs=rngs)])  # fmt: skip

    def __call__(self, x: Array, *, train: bool = False, mask: Array | None = None) -> Array:
        """(N, h, w, cin) -> (N, outputs) positive."""
        for conv in self.convs:  # conv, BN, max-pool, ReLU (ReLU and max-pool commute)
            x = nnx.max_pool(conv(x, train=train, mask=mask), (2, 2), (2, 2), padding="SAME")
        x = jnp.mean(x, (1, 2))
        x = nnx.relu(self.mlp[0](x))
        x = nnx.relu(self.mlp[1](x))
        return jax.nn.softplus(self.mlp[2](x))


class PoseResNet(nnx.Module):
    """ResNet + deconvolution heatmap head (+ optional confidence head).

    Args:
        num_joints: j heatmaps.
        depth, width, num_stages: The `ResNet`.
        deconv_channels: Channels of the deconvolution layers (256).
        num_deconv: Deconvolution layers (3), each upsampling x2.
        confidence_outputs: Outputs of the confidence head; 0: no head.
        confidence_width: Its width c.
        bn_momentum: BatchNorm running-average decay (PyTorch's momentum 0.1 = 0.9 here).
        rngs: Initialisation keys.
    """

    def __init__(self, *, num_joints: int = 17, depth: int = 50, width: int = 64, num_stages: int = 4,
                 deconv_channels: int = 256, num_deconv: int = 3, confidence_outputs: int = 0,
                 confidence_width: int = 256, bn_momentum: float = 0.9, rngs: nnx.Rngs):  # fmt: skip
        self.num_stages, self.num_deconv = num_stages, num_deconv
        self.resnet = ResNet(depth=depth, width=width, num_stages=num_stages, bn_momentum=bn_momentum, rngs=rngs)
        cin, deconvs = self.resnet.out_channels, []
        for _ in range(num_deconv):
            conv = nnx.ConvTranspose(cin, deconv_channels, (4, 4), (2, 2), padding="SAME", use_bias=False, rngs=rngs)
            deconvs.append((conv, nnx.BatchNorm(deconv_channels, momentum=bn_momentum, rngs=rngs)))
            cin = deconv_channels
        self.deconvs = nnx.List([nnx.List(pair) for pair in deconvs])
        self.feature_channels = cin
        # near-zero heatmaps at the start (Xiao et al.'s init, std 0.001): a flat soft-argmax, live gradients
        self.final = nnx.Conv(cin, num_joints, (1, 1), kernel_init=nnx.initializers.normal(0.001), rngs=rngs)
        self.confidence = (
            ConfidenceHead(self.resnet.out_channels, confidence_outputs, width=confidence_width,
                           bn_momentum=bn_momentum, rngs=rngs)
            if confidence_outputs > 0 else None
        )  # fmt: skip

    def __call__(self, images: Array, *, train: bool = False, mask: Array | None = None
                 ) -> tuple[Array, dict[str, Array]]:  # fmt: skip
        """Heatmaps of a batch of images.

        Args:
            images: (N, H, W, 3), H and W divisible by the ResNet's output stride.
            train: Batch statistics (True) or running averages (False).
            mask: Optional (N,) bool: images used for the batch statistics in training.

        Returns:
            ``(heatmaps (N, h, w, j), aux)`` with ``aux["features"]`` (N, h, w, deconv_channels) and
            ``aux["confidences"]`` (N, confidence_outputs) when the head exists.
        """
        x = self.resnet(images, train=train, mask=mask)
        aux = {}
        if self.confidence is not None:
            aux["confidences"] = self.confidence(x, train=train, mask=mask)
        for conv, bn in self.deconvs:
            x = conv(x)
            x = nnx.relu(bn(x, use_running_average=not train, mask=_bn_mask(x, mask) if train else None))
        aux["features"] = x
        return self.final(x), aux

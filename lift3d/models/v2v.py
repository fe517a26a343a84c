"""V2V: the 3D encoder-decoder of Moon et al. 2018 as learnable triangulation uses it (``v2v.py`` there).

Layout (``w`` = `width`, 32 in the paper; volumes channels last, ``(b, d, d, d, c)``):

- front: a `front_kernel`^3 conv (7 in the paper) to ``w/2`` (BatchNorm, ReLU), residual blocks
  ``w/2 -> w``, ``w -> w``, ``w -> w``;
- encoder-decoder with `levels` levels (5 in the paper, for d = 64): at level ``i`` a skip residual block,
  a 2^3 max-pool and a residual block to ``c_i`` channels (``2w`` at the first level, ``4w`` below); a
  residual block at the bottom; going up, a residual block, a 2^3 transposed conv (stride 2, BatchNorm,
  ReLU) back to the channels of the level above, and the skip added;
- back: a residual block, two 1^3 conv blocks, a 1^3 conv to the output channels (one per joint).

A residual block is ``conv3 BN ReLU conv3 BN`` plus the input (through ``conv1 BN`` when the channels
change), then ReLU. The volume side d must be divisible by ``2^levels``.
"""

from __future__ import annotations

from flax import nnx
from jax import Array

__all__ = ["V2V", "Res3D"]


class _Basic3D(nnx.Module):
    def __init__(self, cin: int, cout: int, kernel: int, *, momentum: float, rngs: nnx.Rngs):
        self.conv = nnx.Conv(cin, cout, (kernel,) * 3, padding="SAME", rngs=rngs)
        self.bn = nnx.BatchNorm(cout, momentum=momentum, rngs=rngs)

    def __call__(self, x: Array, *, train: bool) -> Array:
        return nnx.relu(self.bn(self.conv(x), use_running_average=not train))


class Res3D(nnx.Module):
    """3D residual block ``cin -> cout`` (see the module doc)."""

    def __init__(self, cin: int, cout: int, *, momentum: float = 0.9, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(cin, cout, (3, 3, 3), padding="SAME", rngs=rngs)
        self.bn1 = nnx.BatchNorm(cout, momentum=momentum, rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3, 3), padding="SAME", rngs=rngs)
        self.bn2 = nnx.BatchNorm(cout, momentum=momentum, rngs=rngs)
        if cin != cout:
            self.skip_conv = nnx.Conv(cin, cout, (1, 1, 1), rngs=rngs)
            self.skip_bn = nnx.BatchNorm(cout, momentum=momentum, rngs=rngs)
        else:
            self.skip_conv = self.skip_bn = None

    def __call__(self, x: Array, *, train: bool) -> Array:
        ura = not train
        y = nnx.relu(self.bn1(self.conv1(x), use_running_average=ura))
        y = self.bn2(self.conv2(y), use_running_average=ura)
        skip = x if self.skip_conv is None else self.skip_bn(self.skip_conv(x), use_running_average=ura)
        return nnx.relu(y + skip)


class _Up3D(nnx.Module):
    def __init__(self, cin: int, cout: int, *, momentum: float, rngs: nnx.Rngs):
        self.conv = nnx.ConvTranspose(cin, cout, (2, 2, 2), (2, 2, 2), padding="VALID", rngs=rngs)
        self.bn = nnx.BatchNorm(cout, momentum=momentum, rngs=rngs)

    def __call__(self, x: Array, *, train: bool) -> Array:
        return nnx.relu(self.bn(self.conv(x), use_running_average=not train))


class V2V(nnx.Module):
    """Volume-to-volume network (see the module doc).

    Args:
        in_channels: Channels of the input volume (32 in the paper: the unprojected features).
        out_channels: Output channels (joints).
        width: w (32 in the paper).
        levels: Encoder-decoder levels (5 in the paper).
        front_kernel: Kernel side of the first conv (7 in the paper; on CPU a 7^3 kernel with few output
            channels runs at a fraction of the other convs' speed, 3 is ~10x cheaper).
        bn_momentum: BatchNorm running-average decay.
        rngs: Initialisation keys.
    """

    def __init__(self, in_channels: int, out_channels: int, *, width: int = 32, levels: int = 5,
                 front_kernel: int = 7, bn_momentum: float = 0.9, rngs: nnx.Rngs):  # fmt: skip
        if width % 2:
            raise ValueError(f"V2V width must be even, got {width}")
        kw = dict(momentum=bn_momentum, rngs=rngs)
        w = width
        self.levels = levels
        self.front = nnx.List([_Basic3D(in_channels, w // 2, front_kernel, **kw), Res3D(w // 2, w, **kw),
                               Res3D(w, w, **kw), Res3D(w, w, **kw)])  # fmt: skip
        chans = [w] + [2 * w if i == 0 else 4 * w for i in range(levels)]  # channels above / at each level
        self.skips = nnx.List([Res3D(chans[i], chans[i], **kw) for i in range(levels)])
        self.down = nnx.List([Res3D(chans[i], chans[i + 1], **kw) for i in range(levels)])
        self.mid = Res3D(chans[-1], chans[-1], **kw)
        self.up_res = nnx.List([Res3D(chans[i + 1], chans[i + 1], **kw) for i in range(levels)])
        self.up = nnx.List([_Up3D(chans[i + 1], chans[i], **kw) for i in range(levels)])
        self.back = nnx.List([Res3D(w, w, **kw), _Basic3D(w, w, 1, **kw), _Basic3D(w, w, 1, **kw)])
        # near-zero output at the start (std 0.001 as in learnable-triangulation): a flat 3D soft-argmax
        self.output = nnx.Conv(w, out_channels, (1, 1, 1), kernel_init=nnx.initializers.normal(0.001), rngs=rngs)

    def __call__(self, x: Array, *, train: bool = False) -> Array:
        """(b, d, d, d, in_channels) -> (b, d, d, d, out_channels)."""
        d = x.shape[1:4]
        if any(s % 2**self.levels for s in d):
            raise ValueError(f"volume side {d} must be divisible by 2^levels = {2**self.levels}")
        for layer in self.front:
            x = layer(x, train=train)
        skips = []
        for skip, down in zip(self.skips, self.down, strict=True):
            skips.append(skip(x, train=train))
            x = down(nnx.max_pool(x, (2, 2, 2), (2, 2, 2)), train=train)
        x = self.mid(x, train=train)
        for i in reversed(range(self.levels)):
            x = self.up[i](self.up_res[i](x, train=train), train=train) + skips[i]
        for layer in self.back:
            x = layer(x, train=train)
        return self.output(x)

"""Progressive growing around the shipped layouts.

``GrowingGenerator`` and ``GrowingDiscriminator`` wrap a ``ProgressiveGenerator``
and a ``Discriminator`` with the extra toRGB/fromRGB layers that lower
resolutions need while training.  The wrapped networks are what ships; the
extra layers are dropped at the end, as in the original Progressive GAN.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.networks.discriminator import Discriminator, EqConv
from ganpaint_core.networks.proggan import GenBlock, ProgressiveGenerator


def _last_layer_at(g: ProgressiveGenerator, res: int) -> str:
    """The last ``layerN`` whose output has ``res`` pixels."""
    names = [n for n in g.layer_names if n.startswith("layer")]
    return [n for n in names if g.resolution_of(n) == res][-1]


class GrowingGenerator(nn.Module):
    def __init__(self, g: ProgressiveGenerator):
        super().__init__()
        self.g = g
        self.resolutions = [4 * 2**i for i in range(len(g.sizes) - 1)]
        self.to_rgb = nn.ModuleDict(
            {str(r): GenBlock(g.sizes[1 + i], 3, 1, 0, output=True) for i, r in enumerate(self.resolutions[:-1])}
        )

    def _rgb(self, x, res):
        if res == self.g.resolution:
            return self.g._modules[self.g.layer_names[-1]](x)
        return self.to_rgb[str(res)](x)

    def forward(self, z, res: int, alpha: float = 1.0):
        x = z.reshape(z.shape[0], -1, 1, 1)
        stop = _last_layer_at(self.g, res)
        prev = _last_layer_at(self.g, res // 2) if res > 4 else None
        skip = None
        for name in self.g.layer_names:
            x = self.g._modules[name](x)
            if name == prev and alpha < 1:
                skip = F.interpolate(self._rgb(x, res // 2), scale_factor=2, mode="nearest")
            if name == stop:
                break
        out = self._rgb(x, res)
        return out if skip is None else torch.lerp(skip, out, alpha)


class GrowingDiscriminator(nn.Module):
    def __init__(self, d: Discriminator):
        super().__init__()
        self.d = d
        top = int(math.log2(d.resolution))
        self.from_rgb = nn.ModuleDict(
            {str(2 ** (top - k)): EqConv(3, d.widths[k], 1) for k in range(1, len(d.widths))}
        )

    def _from_rgb(self, img, res):
        conv = self.d.from_rgb if res == self.d.resolution else self.from_rgb[str(res)]
        return F.leaky_relu(conv(img), 0.2)

    def forward(self, img, res: int, alpha: float = 1.0):
        first = int(math.log2(self.d.resolution // res))
        x = self._from_rgb(img, res)
        for k in range(first, len(self.d.stages)):
            conv_a, conv_b = self.d.stages[k]
            x = F.avg_pool2d(F.leaky_relu(conv_b(F.leaky_relu(conv_a(x), 0.2)), 0.2), 2)
            if k == first and alpha < 1:
                skip = self._from_rgb(F.avg_pool2d(img, 2), res // 2)
                x = torch.lerp(skip, x, alpha)
        return self.d.head(x)

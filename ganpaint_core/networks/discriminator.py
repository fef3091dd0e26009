"""The discriminator that trains the default generator (a mirror of its layout).

fromRGB (1x1) -> per resolution: two 3x3 convs then 2x2 average pooling ->
minibatch standard deviation -> 3x3 conv -> dense -> score.  Convolutions use
the equalised learning rate like the generator.  ``features(x)`` exposes the
intermediate activations, usable as a perceptual feature space.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class EqConv(nn.Module):
    """A conv whose N(0,1) weights are scaled by He's constant at run time."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.scale = 1 / math.sqrt(c_in * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class Discriminator(nn.Module):
    """``widths`` from the highest resolution down to 4x4, e.g. [16, 32, 64, 128, 256, 256] for 128 px."""

    def __init__(self, widths: list[int], resolution: int):
        super().__init__()
        if 4 * 2 ** (len(widths) - 1) != resolution:
            raise ValueError(f"{len(widths)} widths do not fit resolution {resolution}")
        self.widths = list(widths)
        self.resolution = resolution
        self.from_rgb = EqConv(3, widths[0], 1)
        self.stages = nn.ModuleList(
            nn.ModuleList([EqConv(c, c, 3), EqConv(c, c_next, 3)])
            for c, c_next in zip(widths[:-1], widths[1:], strict=False)
        )
        c = widths[-1]
        self.final_conv = EqConv(c + 1, c, 3)
        self.dense = nn.Linear(c * 16, c)
        self.out = nn.Linear(c, 1)

    def features(self, x) -> list[torch.Tensor]:
        """Activations after each resolution stage (before pooling)."""
        feats = []
        x = F.leaky_relu(self.from_rgb(x), 0.2)
        for conv_a, conv_b in self.stages:
            x = F.leaky_relu(conv_a(x), 0.2)
            x = F.leaky_relu(conv_b(x), 0.2)
            feats.append(x)
            x = F.avg_pool2d(x, 2)
        feats.append(x)
        return feats

    def head(self, x, deviation: torch.Tensor | float | None = None):
        """Score 4x4 features: minibatch stddev -> conv -> dense -> logit.  ``deviation`` fixes the minibatch
        standard deviation feature (e.g. its value over real pictures), so that a picture's score does not depend
        on the others in its batch; by default it is measured on the batch, as in training."""
        std = x.float().std(dim=0, unbiased=False).mean() if deviation is None else torch.as_tensor(deviation)
        std = std.to(x.dtype)
        x = torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], dim=1)
        x = F.leaky_relu(self.final_conv(x), 0.2)
        x = F.leaky_relu(self.dense(x.flatten(1)), 0.2)
        return self.out(x)

    def forward(self, x):
        return self.head(self.features(x)[-1])

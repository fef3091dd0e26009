"""The inversion encoder: a convolutional network that predicts z from an image.

Trained on generator samples (``train encoder``); its guess z0 is where the
per-photo optimisation starts.
"""

from __future__ import annotations

import math

from torch import nn


class Encoder(nn.Module):
    """Stride-2 conv stages from ``resolution`` down to 4x4, then a linear map to z."""

    def __init__(self, resolution: int, z_dim: int, widths: list[int] | None = None):
        super().__init__()
        n = int(math.log2(resolution // 4))
        if 4 * 2**n != resolution:
            raise ValueError(f"resolution must be 4 times a power of two, got {resolution}")
        widths = widths or [min(32 * 2**i, 256) for i in range(n)]
        self.resolution, self.z_dim, self.widths = resolution, z_dim, list(widths)
        layers, c_in = [], 3
        for w in widths:
            layers += [nn.Conv2d(c_in, w, 3, 1, 1), nn.LeakyReLU(0.2, inplace=True),
                       nn.Conv2d(w, w, 4, 2, 1), nn.GroupNorm(8, w), nn.LeakyReLU(0.2, inplace=True)]
            c_in = w
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * 16, z_dim)

    def forward(self, x):
        return self.head(self.trunk(x).flatten(1))

"""Photometric augmentations that make scene-trained networks robust to GAN samples."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of (B,C,H,W) with its own sigma (B,), separable 7-tap kernels."""
    taps = torch.arange(-3, 4, dtype=x.dtype, device=x.device)
    k = torch.exp(-(taps[None] ** 2) / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)                              # (B, 7)
    b, c, h, w = x.shape
    y = x.reshape(1, b * c, h, w)
    kh = k.repeat_interleave(c, 0)[:, None, None, :]             # (B*C, 1, 1, 7)
    y = F.conv2d(F.pad(y, (3, 3, 0, 0), mode="replicate"), kh, groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, 3, 3), mode="replicate"), kh.transpose(2, 3), groups=b * c)
    return y.reshape(b, c, h, w)


def degrade(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random blur, colour gain, brightness and noise on images in [-1, 1] (draws from ``generator``'s device)."""
    b = x.shape[0]

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(x.device)

    x = gaussian_blur(x, rand(b) * 1.2)
    gain = 1 + (rand(b, 3, 1, 1) - 0.5) * 0.3
    shift = (rand(b, 1, 1, 1) - 0.5) * 0.2
    x = (x + 1) * gain - 1 + shift
    x = x + torch.randn(x.shape, generator=generator).to(x.device) * rand(b, 1, 1, 1) * 0.06
    return x.clamp(-1, 1)

"""What inversion and adaptation share: the reconstruction loss and a short Adam loop.

``ReconstructionLoss(x, perceptual, weight)(y, keep)`` = pixel L1 + ``weight`` x
the perceptual distance, both averaged over the ``keep`` map (1 = must match the
photo) when one is given.  ``adam_loop`` runs Adam with a cosine decay to 5% of
the learning rate, optionally under bf16 autocast, and reports progress; with
``patience`` it stops once the loss has not improved on its best by ``min_gain``
(relative) for that many steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ganpaint_core.editing.perceptual import FeatureLoss
from ganpaint_core.precision import autocast

Progress = Callable[[float, str], None] | None


class ReconstructionLoss:
    def __init__(self, x: torch.Tensor, perceptual: FeatureLoss | None, weight: float):
        self.x, self.perceptual, self.weight = x, perceptual, weight

    def __call__(self, y: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        diff = (y.float() - self.x).abs()
        pixel = diff.mean() if keep is None else (diff * keep).mean() / keep.mean().clamp_min(1e-6)
        if self.perceptual is None or self.weight == 0:
            return pixel
        return pixel + self.weight * self.perceptual(y, keep)


def adam_loop(params: list[torch.Tensor], closure: Callable[[], torch.Tensor], steps: int, lr: float,
              bf16: bool = False, progress: Progress = None, label: str = "", span: tuple[float, float] = (0, 1),
              min_lr_share: float = 0.05, patience: int = 0, min_gain: float = 1e-3,
              taken: list | None = None) -> float:
    """Up to ``steps`` Adam steps on ``closure()``'s loss with a cosine schedule; the last loss.

    ``patience`` > 0: stop after that many steps in a row without a loss below ``best * (1 - min_gain)``.
    ``taken`` (a list) gets the number of steps run appended.
    """
    if steps <= 0:
        return float("nan")
    best, stale = float("inf"), 0
    opt = torch.optim.Adam(params, lr=lr)
    every = max(1, steps // 20)
    for step in range(steps):
        cos = 0.5 * (1 + math.cos(math.pi * step / max(1, steps - 1)))
        for group in opt.param_groups:
            group["lr"] = lr * (min_lr_share + (1 - min_lr_share) * cos)
        opt.zero_grad(set_to_none=True)
        with autocast(bf16, params[0].device):
            loss = closure()
        loss.backward()
        opt.step()
        if progress is not None and (step % every == 0 or step == steps - 1):
            progress(span[0] + (span[1] - span[0]) * (step + 1) / steps, f"{label} {step + 1}/{steps}")
        if patience > 0:
            value = float(loss.detach())
            best, stale = (value, 0) if value < best * (1 - min_gain) else (best, stale + 1)
            if stale >= patience:
                break
    if taken is not None:
        taken.append(step + 1)
    return float(loss.detach())

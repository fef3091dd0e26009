"""Inversion: find the generator's features r at the edit layer that reproduce a photo.

Three stages: a starting z (the encoder's guess, or where there is no encoder
the best of a few random z), a short optimisation of z through the whole
generator, then a short optimisation of the layer features r themselves through
the blocks after the layer (cheaper, and free to leave the span of G's layer-h
outputs), with a small pull towards G's own features so that dissection-based
edits keep working.
"""

from __future__ import annotations

import torch

from ganpaint_core.editing.fitting import Progress, ReconstructionLoss, adam_loop
from ganpaint_core.networks.proggan import ProgressiveGenerator


@torch.no_grad()
def initial_z(generator: ProgressiveGenerator, x: torch.Tensor, encoder=None, candidates: int = 16,
              seed: int = 0) -> torch.Tensor:
    """The encoder's z for ``x``; without an encoder, the random z whose image has the lowest L1 to ``x``.

    With ganseeing's ``HybridLayerNormEncoder`` (the paper's models) z0 = inv(resnet(x)), and the layer
    features then start at G_h(z0), as its layer-wise inversion (``optimize_residuals``) starts.
    """
    if encoder is not None:
        return encoder(x).detach()
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(candidates, generator.z_dim, generator=g).to(generator.device)
    errors = (generator(zs) - x).abs().flatten(1).mean(1)
    return zs[errors.argmin()][None].clone()


def optimise_z(generator: ProgressiveGenerator, z0: torch.Tensor, loss: ReconstructionLoss, steps: int,
               lr: float, bf16: bool = False, progress: Progress = None, span=(0.0, 1.0), **stop) -> torch.Tensor:
    """Optimise z through the whole generator from ``z0`` (``stop``: adam_loop's patience, min_gain, taken)."""
    z = z0.clone().requires_grad_(True)
    adam_loop([z], lambda: loss(generator(z)), steps, lr, bf16, progress, "inverting z", span, **stop)
    return z.detach()


def optimise_features(generator: ProgressiveGenerator, layer: str, r0: torch.Tensor, loss: ReconstructionLoss,
                      steps: int, lr: float, anchor: float = 0.01, bf16: bool = False, progress: Progress = None,
                      span=(0.0, 1.0), **stop) -> torch.Tensor:
    """Optimise the layer features r from ``r0`` (loss + ``anchor`` x mean squared relative change)."""
    r = r0.clone().requires_grad_(True)
    scale = r0.pow(2).mean().clamp_min(1e-6)

    def closure():
        return loss(generator.render_from(r, layer)) + anchor * (r - r0).pow(2).mean() / scale

    adam_loop([r], closure, steps, lr, bf16, progress, "inverting features", span, **stop)
    return r.detach()

"""Image-specific adaptation: a G' whose render of the inverted features reproduces the photo.

``ActivationAdaptation`` (the paper's method) multiplies the outputs of the
layers after the edit layer by ``1 + delta``, one free delta per channel and
pixel, at the last block of each resolution (``adaptation_layers``).  The
factors are passed to the generator's forward for that call only
(``render_from(..., scale=...)``), so the shared generator holds no per-photo
state and sessions can render concurrently.
``clear`` zeroes the deltas inside a region (an edit's dilated mask), so the
perturbations that encode the old content there are dropped.

``WeightAdaptation`` (an ablation) fine-tunes a copy of the blocks after the
edit layer instead; ``PlainGenerator`` is G itself (no adaptation).

``fit_adaptation`` optimises either with loss = reconstruction (optionally only
on a ``keep`` map) + ``lam`` x the sum over layers of the mean squared change.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.editing.fitting import Progress, ReconstructionLoss, adam_loop
from ganpaint_core.networks.proggan import ProgressiveGenerator

KINDS = ("activations", "weights", "none")


def adaptation_layers(generator: ProgressiveGenerator, layer: str) -> list[str]:
    """The last block of each resolution after ``layer`` (layer6/8/10/12 after layer4 at 128 px)."""
    names = [n for n in generator.layer_names if n.startswith("layer")]
    after = names[names.index(layer) + 1:]
    last_of = {generator.resolution_of(n): n for n in after}
    return [last_of[res] for res in sorted(last_of) if res > generator.resolution_of(layer)]


class PlainGenerator:
    """G itself: the 'no adaptation' ablation."""

    kind = "none"

    def __init__(self, generator: ProgressiveGenerator, layer: str):
        self.generator, self.layer = generator, layer

    def render(self, r: torch.Tensor, clear: np.ndarray | None = None, edit: dict | None = None) -> torch.Tensor:
        """G's render of ``r``; ``edit``: functions applied to later layers' outputs (``render_from``)."""
        return self.generator.render_from(r, self.layer, edit=edit)

    def parameters(self) -> list[torch.Tensor]:
        return []

    def penalty(self) -> torch.Tensor:
        return torch.zeros(())

    def clone(self):
        return self


class ActivationAdaptation(PlainGenerator):
    kind = "activations"

    def __init__(self, generator: ProgressiveGenerator, layer: str, r: torch.Tensor, layers: list[str] | None = None):
        super().__init__(generator, layer)
        self.layers = layers or adaptation_layers(generator, layer)
        self.deltas = {name: torch.zeros(r.shape[0], *generator.output_shape(name), device=r.device)
                       for name in self.layers}

    def parameters(self) -> list[torch.Tensor]:
        return list(self.deltas.values())

    def penalty(self) -> torch.Tensor:
        return sum(d.pow(2).mean() for d in self.deltas.values())

    def factors(self, clear: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """``1 + delta`` per layer, with delta zeroed where the pixel mask ``clear`` is set."""
        if clear is None:
            return {name: 1 + d for name, d in self.deltas.items()}
        m = torch.as_tensor(np.asarray(clear, dtype=np.float32))[None, None].to(self.generator.device)
        out = {}
        for name, d in self.deltas.items():
            keep = 1 - F.adaptive_max_pool2d(m, d.shape[-1]) if m.shape[-1] > d.shape[-1] else \
                1 - F.interpolate(m, size=d.shape[-2:], mode="nearest")
            out[name] = 1 + d * keep
        return out

    def render(self, r: torch.Tensor, clear: np.ndarray | None = None, edit: dict | None = None) -> torch.Tensor:
        return self.generator.render_from(r, self.layer, scale=self.factors(clear), edit=edit)

    def clone(self) -> ActivationAdaptation:
        other = copy.copy(self)
        other.deltas = {k: v.detach().clone() for k, v in self.deltas.items()}
        return other


class WeightAdaptation(PlainGenerator):
    """A fine-tuned copy of the blocks after the edit layer (the 'adapt weights' ablation)."""

    kind = "weights"

    def __init__(self, generator: ProgressiveGenerator, layer: str):
        super().__init__(generator, layer)
        names = generator.layer_names
        after = names[names.index(layer) + 1:]
        self.blocks = nn.Sequential(*[copy.deepcopy(generator._modules[n]) for n in after]).requires_grad_(True)
        self.names = after
        self.initial = [p.detach().clone() for p in self.blocks.parameters()]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.blocks.parameters())

    def penalty(self) -> torch.Tensor:
        return sum((p - p0).pow(2).mean() for p, p0 in zip(self.blocks.parameters(), self.initial, strict=True))

    def render(self, r: torch.Tensor, clear: np.ndarray | None = None, edit: dict | None = None) -> torch.Tensor:
        if not edit:
            return self.blocks(r)
        for name, block in zip(self.names, self.blocks, strict=True):
            r = block(r)
            if name in edit:
                r = edit[name](r)
        return r

    def clone(self) -> WeightAdaptation:
        other = copy.copy(self)
        other.blocks = copy.deepcopy(self.blocks)
        return other


def new_adaptation(kind: str, generator: ProgressiveGenerator, layer: str, r: torch.Tensor) -> PlainGenerator:
    if kind == "activations":
        return ActivationAdaptation(generator, layer, r)
    if kind == "weights":
        return WeightAdaptation(generator, layer)
    if kind == "none":
        return PlainGenerator(generator, layer)
    raise ValueError(f"unknown adaptation {kind!r}; choose from {', '.join(KINDS)}")


def fit_adaptation(adapted: PlainGenerator, r: torch.Tensor, loss: ReconstructionLoss, steps: int, lr: float,
                   lam: float, keep: torch.Tensor | None = None, bf16: bool = False, progress: Progress = None,
                   span=(0.0, 1.0), label: str = "adapting G'") -> float:
    """Optimise ``adapted`` in place so that its render of ``r`` matches the photo; the last loss."""
    params = adapted.parameters()
    if not params or steps <= 0:
        return float("nan")
    for p in params:
        p.requires_grad_(True)

    def closure():
        out = loss(adapted.render(r), keep)
        return out + lam * adapted.penalty() if lam > 0 else out

    try:
        return adam_loop(params, closure, steps, lr, bf16, progress, label, span)
    finally:
        for p in params:
            p.requires_grad_(False)

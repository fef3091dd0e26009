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
``solve_last_layer`` then sets the last adapted layer's delta in closed form, per
pixel, so that G'(r) reproduces the photo (docs/speed.md): the same G', found
without gradient steps through the full-resolution layers.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpaint_core.editing.fitting import Progress, ReconstructionLoss, adam_loop
from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.networks.window_render import Activations, record, render_window

KINDS = ("activations", "weights", "none")


def adaptation_layers(generator: ProgressiveGenerator, layer: str) -> list[str]:
    """The last block of each resolution after ``layer`` (layer6/8/10/12 after layer4 at 128 px)."""
    names = [n for n in generator.layer_names if n.startswith("layer")]
    after = names[names.index(layer) + 1:]
    last_of = {generator.resolution_of(n): n for n in after}
    return [last_of[res] for res in sorted(last_of) if res > generator.resolution_of(layer)]


def _pooled(mask: np.ndarray, sizes) -> dict[int, np.ndarray]:
    """A bool SxS mask on each ``size`` grid as ``factors`` pools it (a cell is set where any of its pixels is: the
    adaptive max pool; nearest where the grid is finer): halved by OR-ing 2x2 cells where the sides allow."""
    out, grid = {}, np.asarray(mask, dtype=bool)
    for size in sorted(set(sizes), reverse=True):
        while grid.shape[0] > size and grid.shape[0] % 2 == 0 and grid.shape[0] // 2 >= size and \
                (grid.shape[0] // 2) % size == 0 and grid.shape[0] == grid.shape[1]:
            grid = grid[0::2, 0::2] | grid[1::2, 0::2] | grid[0::2, 1::2] | grid[1::2, 1::2]
        if grid.shape == (size, size):
            out[size] = grid
            continue
        m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
        pooled = F.adaptive_max_pool2d(m, size) if m.shape[-1] > size else \
            F.interpolate(m, size=(size, size), mode="nearest")
        out[size] = pooled[0, 0].numpy() > 0
    return out


def _memory_format(generator: ProgressiveGenerator) -> torch.memory_format:
    """The memory format the generator's activations come out in (that of its first 3x3 conv's weight)."""
    for block in generator.children():
        w = block.conv.weight
        if w.shape[-1] > 1:
            return torch.channels_last if w.is_contiguous(memory_format=torch.channels_last) and \
                not w.is_contiguous() else torch.contiguous_format
    return torch.contiguous_format


class PlainGenerator:
    """G itself: the 'no adaptation' ablation."""

    kind = "none"

    def __init__(self, generator: ProgressiveGenerator, layer: str):
        self.generator, self.layer = generator, layer

    def render(self, r: torch.Tensor, clear: np.ndarray | None = None, edit: dict | None = None,
               base: Activations | None = None, changed: np.ndarray | None = None) -> torch.Tensor:
        """G's render of ``r``; ``edit``: functions applied to later layers' outputs (``render_from``).

        ``base`` (``record(r0)``): recompute only the part of the picture that differs from ``r0``'s render,
        ``changed`` (bool SxS) holding the pixels where ``edit`` acts (``window_render``; each ``edit`` function
        then takes ``(x, window)``)."""
        if base is not None:
            return render_window(self.generator, r, base, changed, None, edit)
        return self.generator.render_from(r, self.layer, edit=edit)

    def record(self, r: torch.Tensor) -> Activations | None:
        """The unedited render of ``r`` with every block's output kept, for ``render(..., base=...)``."""
        return record(self.generator, r, self.layer)

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
        self._kept: dict = {}       # layer -> (its delta, the delta's version, format, 1 + delta): render_factors

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

    def render_factors(self, clear: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """``factors(clear)`` bit for bit, for a render without gradients: ``1 + delta`` made once per state of
        the deltas and kept in the activations' memory format (a multiply of two formats runs several times
        slower), the cleared cells then set to 1 (``1 + delta * 0``)."""
        fmt = _memory_format(self.generator)
        out = {}
        for name, d in self.deltas.items():
            try:
                version = d._version
            except RuntimeError:            # an inference tensor keeps no version: nothing is kept for it
                version = None
            kept = self._kept.get(name)     # (the delta itself, held so that its id cannot be reused, version, ...)
            if version is None or kept is None or kept[0] is not d or kept[1:3] != (version, fmt):
                kept = (d, version, fmt, (1 + d).contiguous(memory_format=fmt))
                if version is not None:
                    self._kept[name] = kept
            out[name] = kept[3]
        if clear is None or not np.asarray(clear).any():
            return out
        grids = _pooled(clear, [f.shape[-1] for f in out.values()])
        for name, f in out.items():
            hit = grids[f.shape[-1]]
            f = out[name] = f.clone()                   # the same memory format
            if fmt != torch.channels_last:
                f.masked_fill_(torch.from_numpy(hit).to(f.device), 1.0)
                continue
            pixels = torch.from_numpy(np.flatnonzero(hit)).to(f.device)
            for image in f:                 # whole pixels' rows of C (a fill broadcast over C runs 3x slower)
                image.permute(1, 2, 0).view(-1, f.shape[1]).index_fill_(0, pixels, 1.0)
        return out

    def _render_scale(self, clear: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The factors a render multiplies in: ``factors`` where gradients flow, else the kept ``render_factors``."""
        return self.factors(clear) if torch.is_grad_enabled() else self.render_factors(clear)

    def render(self, r: torch.Tensor, clear: np.ndarray | None = None, edit: dict | None = None,
               base: Activations | None = None, changed: np.ndarray | None = None) -> torch.Tensor:
        """G''s render of ``r``, its deltas zeroed inside ``clear``; ``base`` and ``changed`` as for G, where
        ``changed`` need not hold ``clear`` (it is added here)."""
        factors = self._render_scale(clear)
        if base is None:
            return self.generator.render_from(r, self.layer, scale=factors, edit=edit)
        if clear is not None and np.asarray(clear).any():
            changed = np.asarray(clear, bool) if changed is None else changed | np.asarray(clear, bool)

        def scale(name: str, window) -> torch.Tensor | None:
            return window.of(factors[name]) if name in factors else None

        return render_window(self.generator, r, base, changed, scale, edit)

    def record(self, r: torch.Tensor) -> Activations:
        return record(self.generator, r, self.layer, scale=self._render_scale())

    def clone(self) -> ActivationAdaptation:
        other = copy.copy(self)
        other.deltas = {k: v.detach().clone() for k, v in self.deltas.items()}
        other._kept = {}
        return other


class WeightAdaptation(PlainGenerator):
    """A fine-tuned copy of the blocks after the edit layer (the 'adapt weights' ablation)."""

    kind = "weights"

    def __init__(self, generator: ProgressiveGenerator, layer: str):
        super().__init__(generator, layer)
        names = generator.layer_names
        after = names[names.index(layer) + 1:]
        self.blocks = nn.Sequential(*[copy.deepcopy(generator._modules[n]) for n in after]).requires_grad_(True)
        for block in self.blocks:       # its weights change: the folded copies of G's weights must not be used
            if hasattr(block, "unfold"):
                block.unfold()
        self.names = after
        self.initial = [p.detach().clone() for p in self.blocks.parameters()]

    def parameters(self) -> list[torch.Tensor]:
        return list(self.blocks.parameters())

    def penalty(self) -> torch.Tensor:
        return sum((p - p0).pow(2).mean() for p, p0 in zip(self.blocks.parameters(), self.initial, strict=True))

    def record(self, r: torch.Tensor) -> None:
        return None         # its own blocks: rendered in full

    def render(self, r: torch.Tensor, clear: np.ndarray | None = None, edit: dict | None = None,
               base: Activations | None = None, changed: np.ndarray | None = None) -> torch.Tensor:
        if base is not None:
            raise ValueError("the weight adaptation renders in full (no recorded base)")
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
                   span=(0.0, 1.0), label: str = "adapting G'", **stop) -> float:
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
        return adam_loop(params, closure, steps, lr, bf16, progress, label, span, **stop)
    finally:
        for p in params:
            p.requires_grad_(False)


@torch.no_grad()
def solve_last_layer(adapted: ActivationAdaptation, r: torch.Tensor, x: torch.Tensor, ridge: float = 1e-6,
                     spread: float = 1.0, flatter: tuple[float, ...] = (100.0, 1e4),
                     max_delta: float = float("inf")) -> dict:
    """Set the delta of the last adapted layer so that G'(r) matches ``x`` pixel for pixel.

    The output block is ``W · v / s + b`` with ``v = h * (1 + delta)`` (h: the last block's output, s the
    root-mean-square of v over channels: the block's pixel norm).  For a given s, the least change of v
    (in the metric ``h^2 + spread * mean(h^2)`` per channel) with ``W v = s (x - b)`` is affine in s:
    ``v = c0 + s c1`` (a 3x3 system per pixel; ``ridge`` times its mean diagonal keeps it regular), and
    ``s = rms(v)`` is then a quadratic in s with one positive root.  Where it has none, flatter metrics
    (``spread`` x 100, x 10^4) are tried; a pixel still without one (one the layer cannot reach) or whose
    solution is not closer to ``x`` (or needs a |delta| over ``max_delta``) keeps its delta.  Returns the
    largest error left (in [-1, 1] units) and how many pixels kept their delta.
    """
    g = adapted.generator
    last = adapted.layers[-1]
    names = g.layer_names
    nxt = names.index(last) + 1
    out = g._modules[names[nxt]] if nxt < len(names) else None
    if out is None or not getattr(out, "output", False) or out.conv.kernel_size != (1, 1) or out.upsample:
        raise ValueError(f"the layer after {last!r} is not the 1x1 output block: no closed form")
    factors = {k: v for k, v in adapted.factors().items() if k != last}
    h = g.render_from(r, adapted.layer, scale=factors, until=last).float().permute(0, 2, 3, 1)   # (B, H, W, C)
    w = (out.conv.weight * out.wscale.scale).float().flatten(1)                                  # (3, C)
    e = (x.float() - out.wscale.b.float().view(1, -1, 1, 1)).permute(0, 2, 3, 1)                # (B, H, W, 3)
    g2 = h.pow(2)
    safe = h.where(h.abs() > 1e-6, 1e-6)
    eye = torch.eye(3, device=h.device)
    wh = h @ w.T
    n = h.shape[-1]

    def candidate(spread_now: float):
        gain = g2 + spread_now * g2.mean(-1, keepdim=True)                 # the metric of the least change
        m = (gain[..., None, :] * w) @ w.T                                   # (B, H, W, 3, 3): W G W^T
        m = m + ridge * m.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None].clamp_min(1e-12) * eye
        sol = torch.linalg.solve(m, torch.stack([e, -wh], -1))              # (B, H, W, 3, 2)
        c1, dq = (gain[..., None] * (w.T @ sol)).unbind(-1)                  # G W^T sol: (B, H, W, C) each
        c0 = h + dq                                                          # v = c0 + s c1
        a2 = 1 - c1.pow(2).sum(-1) / n
        a1 = -2 * (c0 * c1).sum(-1) / n
        a0 = -(c0.pow(2).sum(-1) / n + 1e-8)
        disc = a1 * a1 - 4 * a2 * a0
        ok = (a2 > 1e-6) & (disc >= 0)
        root = (-a1 + disc.clamp_min(0).sqrt()) / (2 * a2.where(ok, 1.0))
        return (c0 + root.where(ok, 0.0)[..., None] * c1) / safe - 1, ok

    delta, ok = candidate(spread)
    ok = ok & (delta.abs().amax(-1) <= max_delta)
    for wider in flatter:                           # where the h-weighted least change cannot reach x: flatter
        if bool(ok.all()):
            break
        more, more_ok = candidate(wider * max(spread, 1e-3))
        more_ok = more_ok & (more.abs().amax(-1) <= max_delta)
        delta = torch.where((~ok & more_ok)[..., None], more, delta)
        ok = ok | more_ok

    def error(d):
        v = h * (1 + d)
        return ((v @ w.T) / torch.sqrt(v.pow(2).mean(-1, keepdim=True) + 1e-8) - e).abs().amax(-1)

    before = adapted.deltas[last].float().permute(0, 2, 3, 1)
    err_before, err = error(before), error(delta)
    better = ok & (err < err_before)
    delta = torch.where(better[..., None], delta, before)
    adapted.deltas[last] = delta.permute(0, 3, 1, 2).contiguous().to(adapted.deltas[last].dtype)
    return {"max_error": float(torch.where(better, err, err_before).max()), "kept_pixels": int((~better).sum())}

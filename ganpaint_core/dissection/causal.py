"""Causal unit ranking: which units, when set, make the segmenter see a concept.

IoU (``dissect``) says where a unit fires; it does not say that forcing the unit
draws the concept.  GAN dissection (Bau et al. 2019, sec. 3.2) therefore ranks
units by the average causal effect of an intervention.  Here the intervention on
unit u inside a region m of the layer grid is ``r + a_u m (v_u - r)`` with
``v_u`` the unit's high level (``add``) or zero (``remove``); the effect is the
change of the segmenter's soft share of each concept inside m.  Its first-order
estimate, the gradient at ``a = 0``, gives every unit's effect on every concept
from one backward pass per concept and batch, over random square regions of
generated samples.  What it changed in the edits is measured in docs/editor.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm

from ganpaint_core.concepts import NUM_CONCEPTS

ACTIONS = ("add", "remove")


def random_regions(n: int, grid: int, side: int | tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(n, 1, grid, grid) masks of one square each at a random position; ``side`` is its side, or the
    (smallest, largest) side to draw from."""
    lo, hi = (side, side) if isinstance(side, int) else side
    if not 1 <= lo <= hi <= grid:
        raise ValueError(f"square sides must be within 1..{grid}, got {side}")
    masks = torch.zeros(n, 1, grid, grid)
    sides = torch.randint(lo, hi + 1, (n,), generator=generator).tolist()
    for i, s in enumerate(sides):
        y, x = torch.randint(0, grid - s + 1, (2,), generator=generator).tolist()
        masks[i, :, y:y + s, x:x + s] = 1
    return masks


def effects(render: Callable[[torch.Tensor], torch.Tensor], segment: Callable[[torch.Tensor], torch.Tensor],
            r: torch.Tensor, high: torch.Tensor, regions: torch.Tensor, action: str) -> torch.Tensor:
    """(concepts, units): d share(concept in region) / d a_unit at a = 0, summed over the batch.

    ``render`` maps features (B, U, g, g) to images, ``segment`` images to logits (B, C, H, W);
    ``high`` (U,) are the add levels; ``regions`` (B, 1, g, g) the intervention masks.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
    target = high.view(1, -1, 1, 1) if action == "add" else torch.zeros(1, r.shape[1], 1, 1)
    alpha = torch.zeros(1, r.shape[1], 1, 1, requires_grad=True)
    probs = segment(render(r + alpha * regions * (target - r))).softmax(1)
    pixels = torch.nn.functional.interpolate(regions, size=probs.shape[-2:], mode="nearest")
    share = (probs * pixels).sum((2, 3)) / pixels.sum((2, 3)).clamp_min(1)       # (B, C)
    rows = []
    for c in range(share.shape[1]):
        grad, = torch.autograd.grad(share[:, c].sum(), alpha, retain_graph=c < share.shape[1] - 1)
        rows.append(grad.view(-1))
    return torch.stack(rows)


def causal_effects(generator, segmenter, layer: str, high: torch.Tensor, samples: int = 96, batch: int = 16,
                   seed: int = 0, progress: bool = True) -> dict[str, torch.Tensor]:
    """Mean first-order effect (concepts x units) of ``add`` and of ``remove`` on generated samples.

    Positive means the intervention raises the concept's share (``add``) or lowers it (``remove``).
    """
    g = torch.Generator().manual_seed(seed)
    segmenter = segmenter.eval()
    totals = {action: torch.zeros(NUM_CONCEPTS, high.numel()) for action in ACTIONS}
    done = 0
    bar = tqdm(total=samples * len(ACTIONS), desc="causal effects", disable=not progress)
    while done < samples:
        n = min(batch, samples - done)
        with torch.no_grad():
            r = generator.features(torch.randn(n, generator.z_dim, generator=g), layer)
        grid = r.shape[-1]
        regions = random_regions(n, grid, (max(1, grid // 4), max(1, grid // 2)), g)   # brush-sized squares
        for action in ACTIONS:
            with torch.enable_grad():
                e = effects(lambda x: generator.render_from(x, layer), segmenter, r, high, regions, action)
            totals[action] += e if action == "add" else -e
            bar.update(n)
        done += n
    bar.close()
    return {action: t / samples for action, t in totals.items()}


def ranked_units(effect: torch.Tensor, top: int) -> list[list[int]]:
    """Per concept, the ``top`` units of largest effect, best first."""
    return [[int(u) for u in row.argsort(descending=True, stable=True)[:top]] for row in effect]

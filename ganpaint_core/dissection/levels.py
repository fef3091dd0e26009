"""Per-concept unit levels: what each unit of the edit layer reads where the generator draws a concept.

A unit's single ``high`` level (its 0.99 quantile over all samples and positions) is
what it reaches anywhere; where a tree is drawn, the tree's units sit at other
levels, and the units of what it replaces (wall, sky) are low.  This module
measures, for every concept c and unit u, the mean activation of u over the
grid cells of generated samples that the segmenter labels c for at least
``min_share`` of their pixels: the concept's mean feature vector on the grid,
which an ``add`` edit can set (``ganpaint_core.editing.edits``).

The same is measured at a finer layer (``fine_layer``: the last block of the next
resolution, ``layer6`` at 16x16 after ``layer4``): small objects (a door is less
than one 16 px cell of ``layer4``) get their shape there (``fine_levels``).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.dissection.looks import add_looks
from ganpaint_core.imaging import to_uint8

MIN_SHARE = 0.3     # a cell counts for a concept at this share of its pixels (at 0.5, domes fill few cells)
LEVEL_SAMPLES = 500


def concept_levels(generator, segmenter, layer: str = "layer4", samples: int = LEVEL_SAMPLES, batch: int = 25,
                   seed: int = 1, min_share: float = MIN_SHARE,
                   progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(concepts x units) mean activation over the cells labelled with each concept, and (concepts,) cell counts.

    A concept no cell reaches ``min_share`` for gets a row of zeros and a count of 0.
    """
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    g = torch.Generator().manual_seed(seed)
    sums, counts = None, torch.zeros(NUM_CONCEPTS, dtype=torch.float64)
    for start in tqdm(range(0, samples, batch), desc="concept levels", disable=not progress):
        z = torch.randn(min(batch, samples - start), generator.z_dim, generator=g)
        with torch.inference_mode():
            feats = generator.features(z, layer)
            labels = torch.from_numpy(segmenter.predict(to_uint8(generator.render_from(feats, layer)))).long()
        onehot = F.one_hot(labels, NUM_CONCEPTS).permute(0, 3, 1, 2).float()
        cells = (F.adaptive_avg_pool2d(onehot, feats.shape[-1]) >= min_share).double()      # (B, C, g, g)
        if sums is None:
            sums = torch.zeros(NUM_CONCEPTS, feats.shape[1], dtype=torch.float64)
        sums += torch.einsum("bcyx,buyx->cu", cells, feats.double())
        counts += cells.sum((0, 2, 3))
    return (sums / counts.clamp_min(1)[:, None]).float(), counts


def fine_layer_of(generator, layer: str) -> str | None:
    """The last layer at twice ``layer``'s resolution (``layer6`` after ``layer4``), or None."""
    names = list(generator.layer_names)
    after = names[names.index(layer) + 1:]
    finer = [n for n in after if generator.resolution_of(n) == 2 * generator.resolution_of(layer)]
    return finer[-1] if finer else None


def add_levels(dissection: dict, generator, segmenter, samples: int = LEVEL_SAMPLES, seed: int = 1,
               progress: bool = True, fine: bool = True) -> dict:
    """``dissection`` with each concept's ``levels`` (one per unit) and ``level_cells`` set, in place; with
    ``fine``, also ``fine_layer`` and each concept's ``fine_levels`` there (``add_fine_levels``); and the looks
    of the concepts G draws in several colours (``ganpaint_core.dissection.looks``)."""
    levels, counts = concept_levels(generator, segmenter, dissection["layer"], samples, seed=seed, progress=progress)
    dissection.update(level_samples=samples, level_seed=seed, level_min_share=MIN_SHARE)
    for c, name in enumerate(NAMES):
        entry = dissection["concepts"].setdefault(name, {"units": []})
        entry["level_cells"] = int(counts[c])
        entry["levels"] = [round(float(v), 4) for v in levels[c]] if counts[c] > 0 else []
    if fine:
        add_fine_levels(dissection, generator, segmenter, samples, seed, progress)
    return add_looks(dissection, generator, segmenter, 2 * samples, seed, progress)   # domes are rare: twice


def add_fine_levels(dissection: dict, generator, segmenter, samples: int = LEVEL_SAMPLES, seed: int = 1,
                    progress: bool = True) -> dict:
    """``dissection`` with ``fine_layer`` and each concept's ``fine_levels`` there, in place (none without a
    finer layer)."""
    layer = fine_layer_of(generator, dissection["layer"])
    if layer is None:
        return dissection
    levels, counts = concept_levels(generator, segmenter, layer, samples, seed=seed, progress=progress)
    dissection["fine_layer"] = layer
    for c, name in enumerate(NAMES):
        entry = dissection["concepts"].setdefault(name, {"units": []})
        entry["fine_levels"] = [round(float(v), 4) for v in levels[c]] if counts[c] > 0 else []
    return dissection

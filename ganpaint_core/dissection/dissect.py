"""Label each unit of the semantic layer with a concept (``python -m ganpaint_core dissect``).

GAN dissection (Bau et al. 2019): for every unit, threshold its bilinearly
upsampled activation at a top quantile taken over all samples and positions,
then score the IoU of the thresholded region with the segmenter's mask of every
concept over thousands of generated images.  A unit's label is its best
concept; the editor takes the top units of a concept.

A top quantile q caps the IoU of a unit with a concept covering a share s of
the pixels at (1 - q) / s: at 0.99 no unit can score 0.10 on sky (s = 0.40),
while small parts (doors, domes) need a high quantile.  So, as GAN dissection
does, the threshold is chosen per unit and concept: several top quantiles are
tried and each (unit, concept) pair keeps its best IoU; a unit's label is its
best concept, and the quantile of that pair is stored with the unit.  The counts
per concept for the shipped model are in models/README.md.

IoU says where a unit fires, not that forcing it draws the concept, so the
dissection also ranks units per concept by their causal effect when set to
their high level (``add_units``) or to zero (``remove_units``); see
``ganpaint_core.dissection.causal``.  The editor uses those lists where present.
Each concept also gets its ``levels``: every unit's mean where the concept is
drawn (``ganpaint_core.dissection.levels``), which ``add`` edits set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from ganpaint_core.concepts import NAMES, NUM_CONCEPTS
from ganpaint_core.dissection.causal import causal_effects, ranked_units
from ganpaint_core.dissection.levels import LEVEL_SAMPLES, add_levels
from ganpaint_core.imaging import to_uint8

IOU_GRID = 64          # IoU is measured at this resolution
QUANTILE_GRID = 16     # thresholds from activations upsampled to this grid
TOP_UNITS = 40         # units listed per concept (the editor's high strength uses 36)
CAUSAL_SAMPLES = 96    # generated samples for the causal ranking (0: skip it)
QUANTILES = (0.9, 0.95, 0.98, 0.99, 0.995)   # threshold quantiles tried per unit and concept (see above)


def _batches(generator, layer, n, batch, seed, render=True):
    g = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch):
        z = torch.randn(min(batch, n - start), generator.z_dim, generator=g)
        with torch.inference_mode():
            feats = generator.features(z, layer)
            images = generator.render_from(feats, layer) if render else None
        yield feats, images


class RunningQuantile:
    """Streaming per-row quantiles from fixed-size histograms (memory independent of the sample count).

    Each row (unit) keeps ``bins`` counts over a range set by the first batch; when later values exceed the
    top, the range doubles and pairs of bins merge (counts stay exact, resolution halves).  Values below the
    first batch's minimum are counted in the lowest bin, so the estimate is meant for upper quantiles.
    """

    def __init__(self, rows: int, bins: int = 4096):
        if bins % 2:
            raise ValueError("bins must be even")
        self.rows, self.bins = rows, bins
        self.counts = torch.zeros(rows, bins, dtype=torch.float64)
        self.lo: torch.Tensor | None = None
        self.width: torch.Tensor | None = None

    def add(self, values: torch.Tensor) -> None:
        """Count ``values`` (rows, n)."""
        values = values.detach().float()
        if self.lo is None:
            self.lo = values.amin(1)
            self.width = ((values.amax(1) - self.lo) * 1.25).clamp_min(1e-6) / self.bins
        while bool(((values.amax(1) - self.lo) >= self.width * self.bins).any()):
            grow = (values.amax(1) - self.lo) >= self.width * self.bins
            merged = torch.cat([self.counts.view(self.rows, -1, 2).sum(2), torch.zeros_like(self.counts[:, ::2])], 1)
            self.counts = torch.where(grow[:, None], merged, self.counts)
            self.width = torch.where(grow, self.width * 2, self.width)
        idx = ((values - self.lo[:, None]) / self.width[:, None]).long().clamp_(0, self.bins - 1)
        self.counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=torch.float64))

    def quantile(self, q: float) -> torch.Tensor:
        """Per-row value below which a fraction ``q`` of the counted values lie (linear within a bin)."""
        if self.lo is None:
            raise ValueError("no values counted yet")
        cdf = self.counts.cumsum(1)
        target = q * cdf[:, -1:]
        b = torch.searchsorted(cdf, target).clamp_(max=self.bins - 1)
        below = torch.where(b > 0, cdf.gather(1, (b - 1).clamp_min(0)), torch.zeros_like(target))
        inside = self.counts.gather(1, b).clamp_min(1)
        frac = ((target - below) / inside).clamp(0, 1)
        return (self.lo[:, None] + (b + frac) * self.width[:, None])[:, 0].float()


def unit_levels(generator, layer: str, samples: int, quantiles: tuple[float, ...], batch: int = 25, seed: int = 0,
                progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-unit thresholds (quantiles x units: each quantile of the upsampled activation) and high levels
    (the 0.99 quantile of the raw activation)."""
    up_q, raw_q = None, None
    for feats, _ in tqdm(_batches(generator, layer, samples, batch, seed, render=False), total=-(-samples // batch),
                         desc="quantiles", disable=not progress):
        if up_q is None:
            up_q, raw_q = RunningQuantile(feats.shape[1]), RunningQuantile(feats.shape[1])
        up = F.interpolate(feats, size=QUANTILE_GRID, mode="bilinear", align_corners=False)
        up_q.add(up.transpose(0, 1).flatten(1))
        raw_q.add(feats.transpose(0, 1).flatten(1))
    return torch.stack([up_q.quantile(q) for q in quantiles]), raw_q.quantile(0.99)


def dissect(generator, segmenter, layer: str = "layer4", samples: int = 2000,
            quantile: float | tuple[float, ...] = QUANTILES, batch: int = 25, seed: int = 0,
            progress: bool = True, causal_samples: int = CAUSAL_SAMPLES, level_samples: int | None = None) -> dict:
    """The dissection of ``layer``: per-unit concept, IoU, quantile, threshold and high level.

    ``quantile`` is one top quantile or several; with several, each (unit, concept) pair keeps its best IoU.
    ``level_samples``: samples for the concept levels (None: ``samples``, at most ``LEVEL_SAMPLES``; 0: none).
    """
    quantiles = (quantile,) if isinstance(quantile, int | float) else tuple(quantile)
    if samples < 1:
        raise ValueError("samples must be at least 1")
    if not quantiles or not all(0.5 <= q < 1 for q in quantiles):
        raise ValueError(f"each quantile must be in [0.5, 1), got {quantile}")
    if layer not in generator.layer_names:
        raise ValueError(f"unknown layer {layer!r}; the generator has {', '.join(generator.layer_names)}")
    # Pass 1: streaming per-unit quantiles.  Pass 2: the same samples again, for IoU with concept masks.
    thresholds, high = unit_levels(generator, layer, samples, quantiles, batch, seed, progress)
    nq, units = thresholds.shape
    inter = torch.zeros(nq, units, NUM_CONCEPTS, dtype=torch.float64)
    act_area = torch.zeros(nq, units, dtype=torch.float64)
    concept_area = torch.zeros(NUM_CONCEPTS, dtype=torch.float64)
    for feats, images in tqdm(_batches(generator, layer, samples, batch, seed), total=-(-samples // batch),
                              desc="dissect", disable=not progress):
        labels = torch.from_numpy(segmenter.predict(to_uint8(images)))[:, None].float()
        labels = F.interpolate(labels, size=IOU_GRID, mode="nearest")[:, 0].long()
        onehot = F.one_hot(labels, NUM_CONCEPTS).reshape(-1, NUM_CONCEPTS).double()
        up = F.interpolate(feats, size=IOU_GRID, mode="bilinear", align_corners=False).permute(1, 0, 2, 3)
        up = up.reshape(units, -1)
        for k in range(nq):
            on = (up > thresholds[k, :, None]).double()
            inter[k] += on @ onehot
            act_area[k] += on.sum(1)
        concept_area += onehot.sum(0)
    iou_q = (inter / (act_area[..., None] + concept_area - inter).clamp_min(1)).numpy()   # (quantiles, units, C)
    iou = iou_q.max(0)
    best_q = iou_q.max(2).argmax(0)
    result = {
        "layer": layer, "quantile": quantiles[0] if len(quantiles) == 1 else list(quantiles),
        "num_samples": samples, "seed": seed, "iou_grid": IOU_GRID,
        "units": [{"unit": u, "concept": NAMES[int(iou_q[best_q[u], u].argmax())],
                   "iou": round(float(iou[u].max()), 4), "quantile": quantiles[best_q[u]],
                   "threshold": round(float(thresholds[best_q[u], u]), 4), "high": round(float(high[u]), 4)}
                  for u in range(units)],
        "concepts": {},
    }
    for c, name in enumerate(NAMES):
        order = np.argsort(-iou[:, c], kind="stable")[:TOP_UNITS]
        result["concepts"][name] = {"units": [int(u) for u in order],
                                    "ious": [round(float(iou[u, c]), 4) for u in order]}
    if causal_samples > 0:
        effect = causal_effects(generator, segmenter, layer, high, causal_samples, seed=seed, progress=progress)
        result["causal_samples"] = causal_samples
        for action, table in effect.items():
            for c, units in enumerate(ranked_units(table, TOP_UNITS)):
                entry = result["concepts"][NAMES[c]]
                entry[f"{action}_units"] = units
                entry[f"{action}_effects"] = [round(float(table[c, u]), 5) for u in units]
    level_samples = min(samples, LEVEL_SAMPLES) if level_samples is None else level_samples
    if level_samples > 0:
        add_levels(result, generator, segmenter, level_samples, seed=seed + 1, progress=progress)
    return result


def summary(dissection: dict, min_iou: float = 0.10, by: str = "concept") -> dict[str, int]:
    """For each concept, how many units reach IoU >= ``min_iou`` with it.

    ``by="concept"``: units whose IoU with the concept does, among the ``TOP_UNITS`` listed per concept (a unit
    that fires on walls and doors counts for both; these are the units the editor can paint the concept with).
    ``by="label"``: units whose best concept it is (one label per unit, as GAN dissection's unit labels).
    """
    counts = dict.fromkeys(NAMES, 0)
    if by == "label":
        for unit in dissection["units"]:
            if unit["iou"] >= min_iou:
                counts[unit["concept"]] += 1
    elif by == "concept":
        for name, entry in dissection["concepts"].items():
            counts[name] = sum(iou >= min_iou for iou in entry.get("ious", []))
    else:
        raise ValueError(f"by must be 'concept' or 'label', got {by!r}")
    return counts


def _outline(image: np.ndarray, on: np.ndarray, color=(255, 230, 0)) -> np.ndarray:
    """``image`` dimmed outside the boolean region ``on``, with the region's boundary drawn in ``color``."""
    region = torch.from_numpy(on)[None, None].float()
    eroded = -F.max_pool2d(-region, 3, 1, 1)
    edge = (region - eroded)[0, 0].numpy() > 0
    out = np.where(on[..., None], image, image * 0.45 + 20)
    out[edge] = color
    return out.astype(np.uint8)


def draw(generator, dissection: dict, path: str, per_concept: int = 3, samples: int = 4, seed: int = 7,
         pool: int = 64, min_iou: float = 0.05) -> list[tuple[str, int]]:
    """A picture of the top units of each concept: samples with the unit's thresholded region outlined.

    One row per (concept, unit) with IoU >= ``min_iou``; the samples are the ``samples`` of ``pool``
    random ones where the unit covers most area.  Returns the (concept, unit) rows drawn.
    """
    from PIL import Image, ImageDraw

    layer = dissection["layer"]
    z = torch.randn(pool, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.inference_mode():
        feats = torch.cat([generator.features(c, layer) for c in z.split(16)])
        images = to_uint8(torch.cat([generator.render_from(f, layer) for f in feats.split(16)]))
    size = images.shape[1]
    rows = [(name, unit, iou) for name in NAMES
            for unit, iou in list(zip(dissection["concepts"][name]["units"], dissection["concepts"][name]["ious"],
                                      strict=True))[:per_concept] if iou >= min_iou]
    if not rows:
        raise ValueError(f"no unit reaches IoU {min_iou} with any concept; nothing to draw")
    label_w, pad = 120, 2
    canvas = Image.new("RGB", (label_w + samples * (size + pad), len(rows) * (size + pad)), "white")
    pen = ImageDraw.Draw(canvas)
    for r, (name, unit, iou) in enumerate(rows):
        thr = dissection["units"][unit]["threshold"]
        up = F.interpolate(feats[:, unit : unit + 1], size=size, mode="bilinear", align_corners=False)[:, 0]
        on = (up > thr).numpy()
        y = r * (size + pad)
        pen.text((6, y + size // 2 - 18), f"{name}\nunit {unit}\nIoU {iou:.2f}", fill="black")
        for k, i in enumerate(np.argsort(-on.sum((1, 2)), kind="stable")[:samples]):
            canvas.paste(Image.fromarray(_outline(images[i], on[i])), (label_w + k * (size + pad), y))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return [(name, unit) for name, unit, _ in rows]

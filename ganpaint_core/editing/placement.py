"""Where in a painted region an added object goes: the generator's own instance shapes fitted into it.

The painting says where, the generator's instances say what shape (issue 23).  Of a
concept's exemplar shapes (``ganpaint_core.dissection.exemplars``), each scaled to
a share of the target's height (its aspect kept) and slid over every position,
the one that best covers the target while leaving it least is chosen:
score = |E & T| - ``penalty`` |E \\ T|.  The object region is that shape cut to
the target (never beyond the painted mask).  The search runs at half the
model's size (a few tens of ms at 128 px).

The target is the painted mask less what the concept leaves in place in the
photo (``KEEPS``, read from the segmenter's labels of the photo): a dome
replaces a roof and leaves the walls, windows and door below it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

SCALES = (0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0)   # exemplar height as a share of the target's
PENALTY = 2.0           # cost of an exemplar pixel outside the target against the gain of one inside
SEARCH = 64             # the search's resolution
KEEPS = {"dome": ("building", "window", "door")}    # labels of the photo a concept's add leaves in place


def target_region(mask: np.ndarray, concept: str, photo_labels: np.ndarray | None = None,
                  names: tuple[str, ...] | None = None) -> np.ndarray:
    """The painted ``mask`` less the photo's pixels that ``concept`` leaves in place (``KEEPS``)."""
    keep = KEEPS.get(concept, ())
    if photo_labels is None or not keep or names is None:
        return mask.copy()
    ids = [i for i, n in enumerate(names) if n in keep]
    target = mask & ~np.isin(photo_labels, ids)
    return target if target.sum() >= max(8, 0.05 * mask.sum()) else mask.copy()


def _kernels(shapes: np.ndarray, aspects: np.ndarray, height: int, width_cap: int) -> tuple[torch.Tensor, list]:
    """Each shape resampled to ``height`` rows and its own width, centred in a common kernel."""
    widths = np.clip(np.round(height * aspects).astype(int), 1, width_cap)
    kw = int(widths.max())
    out = torch.zeros(len(shapes), 1, height, kw)
    spans = []
    for i, (shape, w) in enumerate(zip(shapes, widths, strict=True)):
        t = torch.from_numpy(shape.astype(np.float32) / 255)[None, None]
        left = (kw - w) // 2
        out[i, 0, :, left:left + w] = (F.interpolate(t, size=(height, int(w)), mode="bilinear",
                                                     align_corners=False)[0, 0] > 0.5).float()
        spans.append((left, int(w)))
    return out, spans


def fit_exemplar(target: np.ndarray, exemplars: dict, penalty: float = PENALTY, scales=SCALES,
                 search: int = SEARCH) -> np.ndarray:
    """The best-fitting exemplar shape placed in ``target`` (bool SxS), cut to it; bool SxS."""
    size = target.shape[0]
    if not target.any():
        raise ValueError("the region to place an object in is empty")
    shapes, sizes = exemplars["shapes"], exemplars["sizes"]
    aspects = sizes[:, 1] / np.maximum(sizes[:, 0], 1)
    factor = max(1, size // search)
    small = F.avg_pool2d(torch.from_numpy(target.astype(np.float32))[None, None], factor) if factor > 1 else \
        torch.from_numpy(target.astype(np.float32))[None, None]
    ys = np.nonzero(small[0, 0].numpy() > 0)[0]
    height = ys.max() - ys.min() + 1
    best = (-np.inf, None)
    for s in scales:
        h = max(2, int(round(s * height)))
        kernels, spans = _kernels(shapes, aspects, h, small.shape[-1])
        kh, kw = kernels.shape[-2:]
        padded = F.pad(small, (kw - 1, kw - 1, kh - 1, kh - 1))
        inside = F.conv2d(padded, kernels)[0]                       # (n, positions y, positions x)
        area = kernels.sum((1, 2, 3))[:, None, None]
        score = (1 + penalty) * inside - penalty * area
        value, flat = score.flatten().max(0)
        if float(value) > best[0]:
            n, rest = divmod(int(flat), score.shape[1] * score.shape[2])
            y, x = divmod(rest, score.shape[2])
            left, w = spans[n]
            best = (float(value), (n, h, w, y - (kh - 1), x - (kw - 1) + left))
    n, h, w, y, x = best[1]
    full_h, full_w = h * factor, w * factor
    t = torch.from_numpy(shapes[n].astype(np.float32) / 255)[None, None]
    shape = F.interpolate(t, size=(full_h, full_w), mode="bilinear", align_corners=False)[0, 0].numpy() > 0.5
    out = np.zeros_like(target)
    y0, x0 = y * factor, x * factor
    ty0, tx0 = max(0, y0), max(0, x0)
    ty1, tx1 = min(size, y0 + full_h), min(size, x0 + full_w)
    out[ty0:ty1, tx0:tx1] = shape[ty0 - y0:ty1 - y0, tx0 - x0:tx1 - x0]
    out &= target
    return out if out.any() else target.copy()


def object_region(mask: np.ndarray, concept: str, exemplars: dict | None, photo_labels: np.ndarray | None = None,
                  names: tuple[str, ...] | None = None, penalty: float = PENALTY) -> np.ndarray:
    """Where an added ``concept`` goes inside the painted ``mask``: its best exemplar shape, or the whole
    mask when the model keeps no exemplars of it."""
    entry = (exemplars or {}).get(concept)
    if entry is None or not len(entry["shapes"]):
        return np.asarray(mask, dtype=bool).copy()
    return fit_exemplar(target_region(mask, concept, photo_labels, names), entry, penalty)

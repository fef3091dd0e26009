"""Where in a painted region an added object goes: the generator's own instance shapes fitted into it.

The painting says where, the generator's instances say what shape (issue 23).  Of a
concept's exemplar shapes (``ganpaint_core.dissection.exemplars``), each scaled to
a share of the target's height (its aspect kept) and slid over every position,
the one that best covers the target while leaving it least is chosen:
score = |E & T| - ``penalty`` |E \\ T|.  The object region is that shape cut to
the target (never beyond the painted mask).  The search runs coarse at 32 px,
then refines the best few at full size.

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
SEARCH = 32             # the coarse search's resolution (then refined at full size)
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


def _resized(shape: np.ndarray, height: int, width: int) -> torch.Tensor:
    """A uint8 exemplar shape resampled to ``height`` x ``width`` (bilinear, then halved): float 0/1."""
    t = torch.from_numpy(shape.astype(np.float32) / 255)[None, None]
    return (F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0] > 0.5).float()


def _correlate(image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Valid cross-correlation of an (H, W) image with (n, h, w) kernels by FFT: (n, H - h + 1, W - w + 1)."""
    (big_h, big_w), (h, w) = image.shape, kernels.shape[-2:]
    spectrum = torch.fft.rfft2(image)[None] * torch.fft.rfft2(kernels, s=(big_h, big_w)).conj()
    return torch.fft.irfft2(spectrum, s=(big_h, big_w))[:, :big_h - h + 1, :big_w - w + 1]


def _coarse(small: torch.Tensor, shapes: np.ndarray, aspects: np.ndarray, height: int, penalty: float, scales,
            keep: int) -> list[tuple[float, int, int, int, int]]:
    """The ``keep`` best (score, exemplar, height, top, left) over every exemplar, scale and position of the
    downsampled target ``small`` (1, 1, s, s)."""
    found = []
    side = small.shape[-1]
    for s in scales:
        h = max(2, int(round(s * height)))
        widths = np.clip(np.round(h * aspects).astype(int), 1, side)
        kw = int(widths.max())
        kernels = torch.zeros(len(shapes), 1, h, kw)
        lefts = (kw - widths) // 2
        for i, (shape, w, left) in enumerate(zip(shapes, widths, lefts, strict=True)):
            kernels[i, 0, :, left:left + w] = _resized(shape, h, int(w))
        padded = F.pad(small, (kw - 1, kw - 1, h - 1, h - 1))[0, 0]
        score = (1 + penalty) * _correlate(padded, kernels[:, 0]) - penalty * kernels.sum((1, 2, 3))[:, None, None]
        best, flat = score.flatten(1).max(1)                       # each exemplar's best position at this scale
        for n in torch.argsort(best, descending=True)[:keep].tolist():
            y, x = divmod(int(flat[n]), score.shape[2])
            found.append((float(best[n]), n, h, y - (h - 1), x - (kw - 1) + int(lefts[n])))
    return sorted(found, reverse=True)[:keep]


def fit_exemplar(target: np.ndarray, exemplars: dict, penalty: float = PENALTY, scales=SCALES,
                 search: int = SEARCH, keep: int = 2) -> np.ndarray:
    """The best-fitting exemplar shape placed in ``target`` (bool SxS), cut to it; bool SxS.

    A coarse search at ``search`` px over every exemplar, scale and position keeps the ``keep`` best; each is
    refined at full size over nearby heights and positions."""
    size = target.shape[0]
    if not target.any():
        raise ValueError("the region to place an object in is empty")
    shapes, sizes = exemplars["shapes"], exemplars["sizes"]
    aspects = sizes[:, 1] / np.maximum(sizes[:, 0], 1)
    factor = max(1, size // search)
    full = torch.from_numpy(target.astype(np.float32))[None, None]
    small = F.avg_pool2d(full, factor) if factor > 1 else full
    ys = np.nonzero(small[0, 0].numpy() > 0)[0]
    candidates = _coarse(small, shapes, aspects, ys.max() - ys.min() + 1, penalty, scales, keep)
    reach = 2 * factor                      # the refinement's reach in pixels around each coarse placement
    best = (-np.inf, None)
    for _, n, h, y, x in candidates:
        for dh in (-factor // 2, 0, factor // 2):
            fh = max(2, h * factor + dh)
            fw = max(1, min(size, int(round(fh * aspects[n]))))
            kernel = _resized(shapes[n], fh, fw)[None, None]
            y0, x0 = y * factor - reach, x * factor - reach
            pad = fh + fw + 2 * reach
            window = F.pad(full, (pad, pad, pad, pad))[..., y0 + pad:y0 + pad + fh + 2 * reach,
                                                         x0 + pad:x0 + pad + fw + 2 * reach]
            score = (1 + penalty) * F.conv2d(window, kernel)[0, 0] - penalty * kernel.sum()
            value, flat = score.flatten().max(0)
            if float(value) > best[0]:
                dy, dx = divmod(int(flat), score.shape[1])
                best = (float(value), (kernel[0, 0].numpy() > 0, y0 + dy, x0 + dx))
    shape, top, left = best[1]
    out = np.zeros_like(target)
    ty0, tx0 = max(0, top), max(0, left)
    ty1, tx1 = min(size, top + shape.shape[0]), min(size, left + shape.shape[1])
    if ty1 > ty0 and tx1 > tx0:
        out[ty0:ty1, tx0:tx1] = shape[ty0 - top:ty1 - top, tx0 - left:tx1 - left]
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

"""Where in a painted region an added object goes: the generator's own instance shapes fitted into it.

The painting says where, the generator's instances say what shape (issue 23).  Of a
concept's exemplar shapes (``ganpaint_core.dissection.exemplars``), each scaled to
a share of the target's height (its aspect kept) and slid over every position,
the one that best covers the target while leaving it least is chosen:
score = |E & T| - ``penalty`` |E \\ T| (``PENALTY``; a concept may have its own, ``PENALTIES``, and an
add's strength scales it: ``concept_penalty``).  The object region is that shape cut to
the target (never beyond the painted mask).  The search runs coarse at 16 px
(one batched FFT correlation over every exemplar, scale and position, the
exemplars' resampled shapes and spectra made once and kept: ``Templates``; the
coarse shapes at the model's load: ``prepare``), then refines the best few at
twice the resolution, and again, up to full size (numpy matrix products of the
shapes and the target's patches: exact, docs/speed.md).

The target is the painted mask less what the concept leaves in place in the
photo (``KEEPS``, read from the segmenter's labels of the photo): a dome
replaces a roof and leaves the walls, windows and door below it; and it stays
within ``REPLACE_REACH`` px of what it replaces (``REPLACES``: the roof), so it
does not grow into the sky the painting took in above the roof.  An object that
replaces nothing in particular (a tree) sits ``INSET`` px inside the painted rim:
a painting reaches beyond the object it asks for (a scene-world mask by the
blur's reach, a stroke by the brush), and the paste-back grows the object by
its own radius again (docs/edits.md measures it).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace

import numpy as np
import torch

from ganpaint_core.cpu import torch_threads
from ganpaint_core.morphology import dilate, erode

SCALES = (0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0)   # exemplar height as a share of the target's
PENALTY = 2.0           # cost of an exemplar pixel outside the target against the gain of one inside
SEARCH = 16             # the coarse search's resolution (then refined at 2x, 4x, ... up to full size)
KEEP = 4                # placements carried from one resolution to the next
SPECTRA_KEPT = 8        # batched exemplar spectra a concept keeps (the oldest goes first)
PLACED_KEPT = 32        # placements a concept remembers by their region (the oldest goes first)
STACKS_KEPT = 1024      # resampled exemplar stacks a concept keeps for the refinement (the oldest goes first)
NUMPY_PRODUCT = 40_000  # kernel pixels in a refinement up to which numpy's matrix product is the faster (docs/speed.md)
KEEPS = {"dome": ("building", "window", "door")}    # labels of the photo a concept's add leaves in place
REPLACES = {"dome": ("roof", "dome")}   # labels of the photo an add replaces: the object stays near them ...
REPLACE_REACH = 6       # ... within this many px (a dome on its roof, not in the sky above it: docs/edits.md)
REPLACED_MIN = 16       # ... where the painted region holds at least this many of their pixels
INSET = {"tree": 2}     # px (at 128 px) an object keeps inside the painted rim (with edits.PASTE_LEVELS: docs/edits.md)
INSET_MIN = 16          # ... unless fewer pixels than this would be left (then the target as painted)
PENALTIES = {"tree": 1.5}   # a concept's own ``PENALTY``: a tree fills more of its painting (docs/edits.md)


def concept_penalty(concept: str, growth: float = 1.0) -> float:
    """The placement's penalty for ``concept`` (``PENALTIES``, else ``PENALTY``), divided by ``growth`` > 0: the
    larger the growth, the more of the painted region the object fills (an add's strength sets it)."""
    if not growth > 0:
        raise ValueError(f"growth must be positive, got {growth}")
    return PENALTIES.get(concept, PENALTY) / growth


def target_region(mask: np.ndarray, concept: str, photo_labels: np.ndarray | None = None,
                  names: tuple[str, ...] | None = None) -> np.ndarray:
    """The painted ``mask`` less the photo's pixels that ``concept`` leaves in place (``KEEPS``) and, for a
    concept that replaces something (``REPLACES``), less what lies beyond ``REPLACE_REACH`` px of it; for a
    concept with an ``INSET``, shrunk by that many px (where ``INSET_MIN`` px are left)."""
    target = _kept_out(mask, concept, photo_labels, names)
    inset = erode(target, round(INSET.get(concept, 0) * target.shape[0] / 128))
    return inset if inset.sum() >= INSET_MIN else target


def _kept_out(mask: np.ndarray, concept: str, photo_labels: np.ndarray | None,
              names: tuple[str, ...] | None) -> np.ndarray:
    keep, replaced = KEEPS.get(concept, ()), REPLACES.get(concept, ())
    if photo_labels is None or not (keep or replaced) or names is None:
        return mask.copy()
    target = mask & ~np.isin(photo_labels, [i for i, n in enumerate(names) if n in keep])
    if target.sum() < max(8, 0.05 * mask.sum()):
        return mask.copy()
    under = mask & np.isin(photo_labels, [i for i, n in enumerate(names) if n in replaced])
    if under.sum() >= REPLACED_MIN:
        near = target & dilate(under, REPLACE_REACH)
        return near if near.sum() >= REPLACED_MIN else target
    return target


def _resample(source: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.interpolate(source, (height, width), mode="bilinear", align_corners=False)``: the same kernel called
    without the wrapper's checks (half its cost on these small shapes); ``source`` (n, 1, h, w) float."""
    return torch._C._nn.upsample_bilinear2d(source, (height, width), False, None)


def fft_size(n: int) -> int:
    """The smallest length >= ``n`` with no prime factor above 5 (where FFTs are fast)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class Templates:
    """One concept's exemplar shapes, resampled and transformed once and kept for the next edits.

    ``at``: every exemplar at one coarse height; ``spectra``: their batched FFTs for the coarse search;
    ``stack``: one exemplar at a few heights for the refinement; ``placed``: recent placements by region.
    Each cache keeps its last ``limit`` entries (a lock guards them: sessions edit from several threads)."""

    def __init__(self, shapes: np.ndarray, sizes: np.ndarray):
        self.shapes = np.asarray(shapes)
        self.aspects = sizes[:, 1] / np.maximum(sizes[:, 0], 1)
        self.sources = torch.from_numpy(self.shapes.astype(np.float32) / 255)[:, None]     # (n, 1, s, s)
        self._caches: dict[str, dict] = {"at": {}, "spectra": {}, "stack": {}, "placed": {}}
        self._lock = threading.Lock()

    def kept(self, cache: str, key, make, limit: int):
        """``make()``'s value for ``key`` in ``cache``, made once; the oldest entry goes past ``limit``."""
        entries = self._caches[cache]
        with self._lock:
            if key in entries:
                return entries[key]
        value = make()
        with self._lock:
            while len(entries) >= limit:
                entries.pop(next(iter(entries)))
            entries[key] = value
        return value

    def width(self, index: int, height: int, side: int) -> int:
        return max(1, min(side, int(round(height * self.aspects[index]))))

    def widths(self, height: int, side: int) -> np.ndarray:
        """``width`` of every exemplar at ``height`` (the same float rounding, half to even)."""
        return np.clip(np.round(height * self.aspects), 1, side).astype(np.int64)

    def at(self, h: int, side: int) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
        """Every exemplar ``h`` px high (aspect kept, width at most ``side``), centred in a common width:
        (kernels (n, h, kw) float 0/1, their left offsets, pixel sums).  The exemplars of one width are resampled
        in one batch (each the same as alone: ``kernel``)."""
        def make():
            widths = self.widths(h, side)
            kernels = np.zeros((len(self.shapes), h, int(widths.max())), np.float32)
            lefts = (kernels.shape[-1] - widths) // 2
            for w in np.unique(widths).tolist():
                group = np.flatnonzero(widths == w)
                left = (kernels.shape[-1] - w) // 2        # the same for every exemplar of this width
                kernels[group, :, left:left + w] = _resample(self.sources[group], h, w).numpy()[:, 0] > 0.5
            return torch.from_numpy(kernels), lefts, torch.from_numpy(kernels.sum((1, 2), dtype=np.float32))
        return self.kept("at", (h, side), make, 4 * side)

    def spectra(self, heights: tuple[int, ...], side: int, box: tuple[int, int]):
        """The exemplars at every one of ``heights``, stacked top-left in one batch: (their left offsets per
        height, pixel sums, conjugate spectra at the FFT size that correlates them with a ``box``-sized target
        without wrapping, that size)."""
        made = [self.at(h, side) for h in heights]
        big_h, big_w = max(k.shape[1] for k, _, _ in made), max(k.shape[2] for k, _, _ in made)
        size = (fft_size(box[0] + big_h - 1), fft_size(box[1] + big_w - 1))

        def make():
            stack = torch.zeros(len(heights) * len(self.shapes), big_h, big_w)
            for i, (kernels, _, _) in enumerate(made):
                stack[i * len(self.shapes):(i + 1) * len(self.shapes), :kernels.shape[1], :kernels.shape[2]] = kernels
            return ([lefts for _, lefts, _ in made], torch.cat([s for _, _, s in made]),
                    torch.fft.rfft2(stack, s=size).conj().resolve_conj(), size)   # conjugated once, not per product
        return self.kept("spectra", (heights, side, size), make, SPECTRA_KEPT)

    def kernel(self, index: int, height: int, side: int) -> np.ndarray:
        """Exemplar ``index`` ``height`` px high (aspect kept, width at most ``side``): bool (height, width), its
        shape resampled bilinearly and thresholded at half."""
        resampled = _resample(self.sources[index:index + 1], height, self.width(index, height, side))
        return resampled.numpy()[0, 0] > 0.5

    def stack(self, index: int, heights: tuple[int, ...], side: int) -> tuple[np.ndarray, np.ndarray]:
        """Exemplar ``index`` at each of ``heights`` (``kernel``), stacked top-left: (kernels (n, h, w) float32
        0/1, their pixel sums float32)."""
        def make():
            kernels = [self.kernel(index, h, side) for h in heights]
            stack = np.zeros((len(heights), max(heights), max(k.shape[1] for k in kernels)), np.float32)
            for i, k in enumerate(kernels):
                stack[i, :k.shape[0], :k.shape[1]] = k
            return stack, stack.sum((1, 2), dtype=np.float32)
        return self.kept("stack", (index, heights, side), make, STACKS_KEPT)


def templates(entry: dict) -> Templates:
    """The concept's ``Templates``, made on first use and kept in its exemplar ``entry`` (under "templates")."""
    made = entry.get("templates")
    if made is None:
        made = entry["templates"] = Templates(entry["shapes"], entry["sizes"])
    return made


def coarse_side(size: int, search: int = SEARCH) -> int:
    """The side of the coarse search's level for targets of ``size`` px: halved while above ``search`` and even."""
    while size > search and size % 2 == 0:
        size //= 2
    return size


def prepare(exemplars: dict | None, size: int) -> None:
    """Each concept's coarse kernels made ahead, at every height the coarse search of a ``size`` px target can ask
    for (``Templates.at``: they depend on the exemplars alone; a model's load makes them, not its first adds)."""
    side = coarse_side(size)
    with torch_threads(1):
        for entry in (exemplars or {}).values():
            if len(entry["shapes"]):
                bank = templates(entry)
                for h in range(2, side + 1):
                    bank.at(h, side)


def _coarse(small: np.ndarray, bank: Templates, height: int, penalty: float, scales,
            keep: int) -> list[tuple[float, int, int, int, int]]:
    """The ``keep`` best (score, exemplar, height, top, left) over every exemplar, scale and position of the
    downsampled target ``small`` (s, s).

    One batched FFT correlation over every exemplar and scale at once, on the target's bounding box."""
    side = small.shape[-1]
    rows, cols = np.nonzero(small > 0)
    y0, x0 = int(rows.min()), int(cols.min())
    box = torch.from_numpy(small)[y0:rows.max() + 1, x0:cols.max() + 1]
    heights = tuple(sorted({max(2, int(round(s * height))) for s in scales}))
    lefts, sums, spectrum, size = bank.spectra(heights, side, box.shape)
    corr = torch.fft.irfft2(torch.fft.rfft2(box, s=size)[None] * spectrum, s=size).flatten(1).numpy()
    flat = corr.argmax(1)                               # the first maximum (numpy's: 4x faster than torch's max(1))
    best = (1 + penalty) * corr[np.arange(len(corr)), flat] - penalty * sums.numpy()     # float32, as torch's was
    found = []
    n, flats, values = len(bank.shapes), flat.tolist(), best.tolist()
    for k in torch.argsort(torch.from_numpy(best), descending=True)[:keep].tolist():     # torch's order of ties
        dy, dx = divmod(flats[k], size[1])              # circular shifts: past the box they wrap to negative
        dy, dx = dy - size[0] if dy >= box.shape[0] else dy, dx - size[1] if dx >= box.shape[1] else dx
        h_index, e = divmod(k, n)
        found.append((values[k], e, heights[h_index], y0 + dy, x0 + dx + int(lefts[h_index][e])))
    return found


def _window(target: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """``target`` (S, S) from (top, left), ``height`` x ``width``, zero beyond its border."""
    size = target.shape[-1]
    out = np.zeros((height, width), target.dtype)
    y0, x0, y1, x1 = max(0, top), max(0, left), min(size, top + height), min(size, left + width)
    if y1 > y0 and x1 > x0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = target[y0:y1, x0:x1]
    return out


def correlate(window: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """``F.conv2d(window, stack)`` (no padding) as (n, positions): every patch of ``window`` (H, W) times every
    kernel of ``stack`` (n, h, w), as one matrix product of the patches (a strided view) and the kernels: numpy's
    below ``NUMPY_PRODUCT`` kernel pixels, torch's (MKL) from there (OpenBLAS slows 5x there: docs/speed.md).

    The same values bit for bit: the kernels are 0/1 and the targets multiples of 1/4**k (averages of 0/1 pixels),
    so every partial sum is exact in float32 in any order.  Faster than ``conv2d``, whose oneDNN kernels are
    generated anew for every new shape (each refinement has its own)."""
    window = np.ascontiguousarray(window)
    (h, w), (rows, cols), (down, right) = stack.shape[-2:], window.shape, window.strides
    shape = (rows - h + 1, cols - w + 1, h, w)          # every (position, kernel pixel): a strided view of window
    patches = np.ndarray(shape, window.dtype, window, strides=(down, right, down, right)).reshape(-1, h * w)
    kernels = stack.reshape(len(stack), -1)
    if kernels.size < NUMPY_PRODUCT:
        return kernels @ patches.T
    return (torch.from_numpy(kernels) @ torch.from_numpy(patches).T).numpy()


def _refine(target: np.ndarray, bank: Templates, candidates, penalty: float, spread: int,
            keep: int) -> list[tuple[float, int, int, int, int]]:
    """The ``keep`` best placements at twice the candidates' resolution in ``target`` (S, S): each candidate's
    height doubled within +-``spread`` px and its position doubled within +-2 px (one matrix product per
    candidate over all its heights)."""
    reach, size = 2, target.shape[-1]
    found = []
    for _, e, h, y, x in candidates:
        heights = tuple(range(max(2, 2 * h - spread), 2 * h + spread + 1))
        stack, sums = bank.stack(e, heights, size)
        y0, x0 = 2 * y - reach, 2 * x - reach
        window = _window(target, y0, x0, stack.shape[-2] + 2 * reach, stack.shape[-1] + 2 * reach)
        score = (1 + penalty) * correlate(window, stack) - penalty * sums[:, None]    # float32, as torch's was
        width = 2 * reach + 1                           # positions per row of the score
        found += [(value, e, fh, y0 + flat // width, x0 + flat % width)     # the first maximum, as torch's max(1)
                  for fh, value, flat in zip(heights, score.max(1).tolist(), score.argmax(1).tolist(), strict=True)]
    return sorted(found, key=lambda f: f[0], reverse=True)[:keep]


@dataclass(frozen=True)
class Placement:
    """An exemplar placed in a painted region: its pixels there (cut to the region) and its box."""

    region: np.ndarray      # bool SxS
    index: int              # which exemplar of the concept
    top: int                # its box at the model's size (may reach beyond the picture)
    left: int
    height: int
    width: int


def fit_exemplar(target: np.ndarray, exemplars: dict, penalty: float = PENALTY, scales=SCALES,
                 search: int = SEARCH, keep: int = KEEP) -> np.ndarray:
    """The best-fitting exemplar shape placed in ``target`` (bool SxS), cut to it; bool SxS."""
    return place(target, exemplars, penalty, scales, search, keep).region


def place(target: np.ndarray, exemplars: dict, penalty: float = PENALTY, scales=SCALES,
          search: int = SEARCH, keep: int = KEEP) -> Placement:
    """The best-fitting exemplar of ``exemplars`` (one concept's) placed in ``target`` (bool SxS).

    A coarse search at ``search`` px over every exemplar, scale and position keeps the ``keep`` best; they are
    refined at 2x, 4x, ... the resolution up to full size, over nearby heights and positions.  Where the shape
    misses the target altogether, the region is the whole target."""
    if not target.any():
        raise ValueError("the region to place an object in is empty")
    bank = templates(exemplars)
    key = (hashlib.blake2b(np.packbits(target).tobytes(), digest_size=16).digest(), target.shape, penalty,
           tuple(scales), search, keep)       # the same region again (another strength, an undo): no search
    found = bank.kept("placed", key, lambda: _place(target, bank, penalty, scales, search, keep), PLACED_KEPT)
    return replace(found, region=found.region.copy())


def search_placement(target: np.ndarray, bank: Templates, penalty: float = PENALTY, scales=SCALES,
                     search: int = SEARCH, keep: int = KEEP) -> tuple[float, int, int, int, int]:
    """The best placement in ``target`` (bool SxS): (score, exemplar, height, top, left) at full size, the
    exemplar's left edge at ``left`` and its width its aspect times ``height`` (at most S)."""
    with torch_threads(1):      # tensors of 16-128 px and one channel: a second thread costs more than it gives
        return _search(target, bank, penalty, scales, search, keep)


def _search(target: np.ndarray, bank: Templates, penalty: float, scales, search: int,
            keep: int) -> tuple[float, int, int, int, int]:
    levels = [target.astype(np.float32)]
    while levels[-1].shape[-1] > coarse_side(target.shape[-1], search):
        levels.append(_halved(levels[-1]))
    ys = np.nonzero(levels[-1] > 0)[0]
    candidates = _coarse(levels[-1], bank, ys.max() - ys.min() + 1, penalty, scales, keep)
    for step, level in enumerate(reversed(levels[:-1])):
        candidates = _refine(level, bank, candidates, penalty, 2 if step == 0 else 1,
                             keep if step < len(levels) - 2 else 1)
    return candidates[0]


def _halved(level: np.ndarray) -> np.ndarray:
    """``F.avg_pool2d(level, 2)``: each 2x2 block's mean (exact: multiples of 1/4**k stay exact in float32)."""
    h, w = level.shape[0] // 2, level.shape[1] // 2
    top, bottom = level[0:2 * h:2, :2 * w], level[1:2 * h:2, :2 * w]
    return (top[:, 0::2] + top[:, 1::2] + bottom[:, 0::2] + bottom[:, 1::2]) / np.float32(4)


def _place(target: np.ndarray, bank: Templates, penalty: float, scales, search: int, keep: int) -> Placement:
    size = target.shape[0]
    _, e, h, top, left = search_placement(target, bank, penalty, scales, search, keep)
    shape = bank.kernel(e, h, size)
    out = np.zeros_like(target)
    ty0, tx0 = max(0, top), max(0, left)
    ty1, tx1 = min(size, top + shape.shape[0]), min(size, left + shape.shape[1])
    if ty1 > ty0 and tx1 > tx0:
        out[ty0:ty1, tx0:tx1] = shape[ty0 - top:ty1 - top, tx0 - left:tx1 - left]
    out &= target
    return Placement(out if out.any() else target.copy(), e, top, left, shape.shape[0], shape.shape[1])


def place_object(mask: np.ndarray, concept: str, exemplars: dict | None, photo_labels: np.ndarray | None = None,
                 names: tuple[str, ...] | None = None, penalty: float | None = None) -> Placement | None:
    """Where an added ``concept`` goes inside the painted ``mask``: its best exemplar placed there (at
    ``penalty``, default the concept's own: ``concept_penalty``), or None when the model keeps no exemplars of it."""
    entry = (exemplars or {}).get(concept)
    if entry is None or not len(entry["shapes"]):
        return None
    penalty = concept_penalty(concept) if penalty is None else penalty
    return place(target_region(mask, concept, photo_labels, names), entry, penalty)


def object_region(mask: np.ndarray, concept: str, exemplars: dict | None, photo_labels: np.ndarray | None = None,
                  names: tuple[str, ...] | None = None, penalty: float | None = None) -> np.ndarray:
    """Where an added ``concept`` goes inside the painted ``mask``: its best exemplar shape, or the whole
    mask when the model keeps no exemplars of it."""
    found = place_object(mask, concept, exemplars, photo_labels, names, penalty)
    return np.asarray(mask, dtype=bool).copy() if found is None else found.region

"""Remove edits that show what lies behind the object (docs/edits.md, "Remove").

Zeroing a concept's units (GANPaint's remove, ``FitOptions.remove="units"``) leaves the cell's other units as
they were, and the generator draws a faded mix of the object and whatever they say.  A ``Removal`` instead
continues the scene around the object into it, while G' renders (``render_removed``):

- the hole is the part of the painted mask that the segmenter labels as the concept in the photo
  (``object_region``; the whole mask where it sees too little of it), less what stands in front of it
  (``DEPTH``, ``depth_split``: a roof beside a removed cloud is kept);
- at the block of ``FILL_SCALE`` x the edit layer's resolution (``fill_layer``) the hole's features take the
  harmonic continuation of the surroundings behind the object (``harmonic_fill``, rows weighted over columns,
  so a horizon or a wall runs on), and G''s perturbations are continued the same way, so the photo's tones go on;
- where plain G cannot draw the photo (``generator_trust``: a real photo), the photo's own surroundings fill the
  hole (``fill_photo``, OpenCV's inpainting) carrying the render's grey-level detail (``photo_fill``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy import sparse
from scipy.ndimage import label
from scipy.sparse.linalg import spsolve

from ganpaint_core.editing.edits import Operation, concept_name, strength_units, units_for
from ganpaint_core.editing.masks import dilate, to_grid

# A grid cell is part of the hole when the painted mask covers more than this share of it.
HOLE_SHARE = 0.0


def hole_cells(mask: np.ndarray, grid: int, share: float = HOLE_SHARE) -> np.ndarray:
    """bool grid x grid: the cells of the layer's grid that the bool pixel ``mask`` covers by more than ``share``."""
    area = to_grid(mask, grid, "area")[0, 0].numpy()
    return area > share


def harmonic_fill(x: torch.Tensor, hole: np.ndarray, vertical: float = 1.0,
                  sources: np.ndarray | None = None) -> torch.Tensor:
    """``x`` (B, C, H, W) with the cells in ``hole`` (bool H x W) replaced by the harmonic continuation of the others.

    Every channel inside the hole solves the discrete Laplace equation with the cells outside the hole fixed:
    each cell is the weighted mean of its 4-neighbours, the vertical ones weighted ``vertical`` (below 1 the
    fill runs along rows, continuing a horizon or a wall sideways).  The grid's border has no neighbour there (zero
    normal derivative).  ``sources`` (bool H x W, default: every cell outside the hole) are the cells whose values
    the fill continues; the others (an occluder in front of the removed object) are left out like the border.
    A part of the hole that touches no source takes the sources' mean.
    """
    hole = np.asarray(hole, dtype=bool)
    if hole.shape != tuple(x.shape[-2:]):
        raise ValueError(f"the hole is {hole.shape}; the features' grid is {tuple(x.shape[-2:])}")
    if not vertical > 0:
        raise ValueError(f"vertical must be > 0, got {vertical}")
    sources = ~hole if sources is None else np.asarray(sources, dtype=bool) & ~hole
    if not hole.any() or not sources.any():
        return x.clone()
    height, width = hole.shape
    cells = np.flatnonzero(hole)
    index = np.full(height * width, -1)
    index[cells] = np.arange(len(cells))
    ys, xs = np.divmod(cells, width)
    rows, cols, vals, krow, kcol, kval = [], [], [], [], [], []
    diag = np.zeros(len(cells))
    for dy, dx, w in ((-1, 0, vertical), (1, 0, vertical), (0, -1, 1.0), (0, 1, 1.0)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        at = ny[inside] * width + nx[inside]
        inside[inside] = (index[at] >= 0) | sources.reshape(-1)[at]     # a hole cell or a source: a neighbour
        diag[inside] += w
        j = ny[inside] * width + nx[inside]
        i = np.flatnonzero(inside)
        unknown = index[j] >= 0
        rows += [i[unknown]]
        cols += [index[j[unknown]]]
        vals += [np.full(unknown.sum(), -w)]
        krow += [i[~unknown]]
        kcol += [j[~unknown]]
        kval += [np.full((~unknown).sum(), w)]
    components, count = label(hole)
    touching = [k for k in range(1, count + 1) if (dilate(components == k, 1) & sources).any()]
    loose = ~np.isin(components.reshape(-1)[cells], touching)     # parts of the hole with no known cell around
    n = len(cells)
    a = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    a = (a + sparse.diags(diag)).tolil()
    for i in np.flatnonzero(loose):
        a.rows[i], a.data[i] = [i], [1.0]
    known = sparse.coo_matrix((np.concatenate(kval), (np.concatenate(krow), np.concatenate(kcol))),
                              shape=(n, height * width)).tocsr()
    flat = x.detach().reshape(-1, height * width).to(torch.float64).cpu().numpy()      # (B*C, H*W)
    rhs = (known @ flat.T)                                                             # (n, B*C)
    rhs[loose] = flat[:, sources.reshape(-1)].mean(axis=1)[None]
    solved = spsolve(a.tocsc(), rhs)
    out = flat.copy()
    out[:, cells] = np.asarray(solved).reshape(n, -1).T
    return torch.from_numpy(out).reshape(x.shape).to(x)


def fill_photo(photo: np.ndarray, mask: np.ndarray, radius: int = 2, reach: int = 5) -> np.ndarray:
    """uint8 HxWx3: ``photo`` with the ``mask`` (grown by ``radius``) filled from its surroundings (Telea's
    fast-marching inpainting, ``reach`` px around each pixel); outside the grown mask the photo itself."""
    hole = dilate(np.asarray(mask, dtype=bool), radius)
    if not hole.any():
        return np.asarray(photo).copy()
    return cv2.inpaint(np.ascontiguousarray(photo, dtype=np.uint8), hole.astype(np.uint8) * 255, reach,
                       cv2.INPAINT_TELEA)


# How far back each concept of the scene world lies: what a removed object may show is what lies behind it
# (a lower depth), so only those surroundings are continued into the hole (a removed cloud shows sky, not the
# roof beside it).  Concepts not listed take part everywhere.
DEPTH = {"sky": 0, "cloud": 1, "building": 2, "roof": 2, "grass": 2, "ground": 2,
         "dome": 3, "door": 3, "window": 3, "tree": 4}
FILL_SCALE = 4          # the fill's layer: the last block at 4x the edit layer's resolution (layer8, 32x32 at 128 px)
VERTICAL = 0.2          # vertical neighbours' weight in the fill: scenes continue sideways (docs/edits.md)
OBJECT_GROW = 3         # px the segmenter's object grows by inside the mask
OBJECT_MIN_SHARE = 0.1  # below this share of the mask the segmenter does not see the object: the whole mask goes
DELTA_RADIUS = 4        # px around the hole where G''s perturbations are continued from outside, not kept


def fill_layer(generator, layer: str) -> str:
    """The block whose output a removal fills: the last one at ``FILL_SCALE`` x the edit layer's resolution."""
    names = [n for n in generator.layer_names if n.startswith("layer")]
    after = names[names.index(layer) + 1:]
    target = min(generator.resolution, FILL_SCALE * generator.resolution_of(layer))
    found = [n for n in after if generator.resolution_of(n) == target]
    return found[-1] if found else (after[-1] if after else layer)


def object_region(mask: np.ndarray, labels: np.ndarray | None, concept_label: int | None,
                  grow: int | None = None, min_share: float | None = None) -> np.ndarray | None:
    """bool SxS: the part of the painted ``mask`` that the segmenter's ``labels`` (of the photo) give to the
    concept, grown by ``grow`` px; None where they see too little of it there (a real photo: the whole mask goes)."""
    mask = np.asarray(mask, dtype=bool)
    if labels is None or concept_label is None:
        return None
    part = mask & dilate(labels == concept_label, OBJECT_GROW if grow is None else grow)
    return part if part.sum() >= (OBJECT_MIN_SHARE if min_share is None else min_share) * mask.sum() else None


def depth_split(labels: np.ndarray | None, concept: str, vocabulary: list[str]) -> tuple[np.ndarray | None, ...]:
    """(sources, occluders), bool SxS each, from the segmenter's ``labels`` and ``DEPTH``: the pixels whose label
    lies behind ``concept`` or level with it (other instances), which a fill may continue, and those in front of
    it, which a removal leaves as they are.  (None, None) without labels or where the concept has no depth.
    ``vocabulary``: concept names by label id."""
    if labels is None or concept not in DEPTH:
        return None, None
    depth = np.array([DEPTH.get(name, -1) for name in vocabulary])[labels]
    known = depth >= 0
    return (~known) | (depth <= DEPTH[concept]), known & (depth > DEPTH[concept])


def _cells(pixels: np.ndarray, size: int, share: float = 0.5) -> np.ndarray:
    return to_grid(pixels, size, "area")[0, 0].numpy() > share


@dataclass
class Removal(Operation):
    """A remove edit: the generator draws what lies around ``hole`` (pixels) into it, at ``blend`` (the strength).

    It leaves the edit layer's features as they are (``apply``); ``render_removed`` does the fill while rendering.
    """

    hole: np.ndarray | None = None
    sources: np.ndarray | None = None      # bool SxS: pixels the fill may continue (None: all around the hole)
    keep: np.ndarray | None = None         # bool SxS: pixels in the mask in front of the object, kept as they were
    blend: float = 1.0

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        return r


def removal_operation(mask: np.ndarray, concept: str, strength, labels: np.ndarray | None,
                      vocabulary: list[str], dissection: dict | None) -> Removal:
    """The remove edit of ``concept`` painted over ``mask`` (bool SxS); ``labels``: the segmenter's labels of the
    photo (None: the whole mask is the object and every surrounding continues into it).

    Strength: ``low`` half removes the object (blend 0.5), ``medium`` removes it, ``high`` continues the
    surroundings over the whole painted mask (shadow and all); a number in [0, 1] is read as the units edits read it.
    """
    name = concept_name(dissection, concept)
    n, table = units_for(strength, dissection), strength_units(dissection)
    label = vocabulary.index(name) if name in vocabulary else None
    mask = np.asarray(mask, bool)
    part = None if n >= table["high"] else object_region(mask, labels, label)
    hole, sources, keep = mask.copy(), None, None
    if part is not None:                # the segmenter sees the object: its part of the mask, occluders kept
        sources, occluders = depth_split(labels, name, vocabulary)
        hole = part if occluders is None else part & ~occluders
        keep = None if occluders is None else part & occluders
        if not hole.any():
            hole, keep = part, None
    return Removal("remove", mask, torch.zeros(1, 1, 1, 1), [], torch.zeros(1, 0, 1, 1), name,
                   strength, hole=hole, sources=sources, keep=keep, blend=min(1.0, n / table["medium"]))


# The closed-form last layer (``adaptation.solve_last_layer``) sets factors far from 1 where an activation is near 0;
# continued into a hole they would paint those extremes there, so the continuation reads them capped.
DELTA_CAP = 1.0


def blocks_after(adapted, layer: str) -> list[tuple[str, torch.nn.Module]]:
    """(name, block) of the generator after ``layer`` as ``adapted`` runs them (its own copies for weights)."""
    names = adapted.generator.layer_names
    after = names[names.index(layer) + 1:]
    own = getattr(adapted, "blocks", None)
    return list(zip(after, own if own is not None else [adapted.generator._modules[n] for n in after], strict=True))


def render_removed(adapted, r: torch.Tensor, layer: str, removals: list[tuple[Removal, np.ndarray]],
                   clear: np.ndarray | None = None, fill_deltas: bool = True,
                   edit: dict | None = None) -> torch.Tensor:
    """Render the edit layer's features ``r`` by ``adapted`` (G', or G) with ``removals`` applied, each a
    ``(Removal, hole)``: at the ``fill_layer`` the hole (bool SxS) takes the harmonic continuation of its
    surroundings (``blend`` of the way).

    G''s perturbations are zeroed inside ``clear`` (the other edits' region, as its ``factors`` does) and, with
    ``fill_deltas``, continued from around each hole inside it (grown by ``DELTA_RADIUS``), so the photo's own
    tones go on into the region.  ``edit``: functions applied to later layers' outputs after the factors, as in
    ``render_from`` (the finer-layer part of adds).
    """
    target = fill_layer(adapted.generator, layer)
    deltas = getattr(adapted, "deltas", None) or {}
    x = r
    for name, block in blocks_after(adapted, layer):
        x = block(x)
        size = x.shape[-1]
        if name in deltas:
            d = deltas[name]
            if clear is not None and clear.any():
                d = d * (1 - to_grid(clear, size, "max").to(d))
            if fill_deltas:
                for op, hole in removals:
                    src = None if op.sources is None else _cells(op.sources, size)
                    zone = hole_cells(dilate(hole, DELTA_RADIUS), size)
                    d = d + op.blend * (harmonic_fill(d.clamp(-DELTA_CAP, DELTA_CAP), zone, VERTICAL, src) - d)
            x = x * (1 + d)
        if edit is not None and name in edit:
            x = edit[name](x)
        if name == target:
            for op, hole in removals:
                src = None if op.sources is None else _cells(op.sources, size)
                x = x + op.blend * (harmonic_fill(x, hole_cells(hole, size), VERTICAL, src) - x)
    return x


TRUST_PSNR = (16.0, 18.0)   # dB of plain G's inversion: below the first the generator's render is not trusted at all
GREY_SPREAD = 6             # a photo whose channels never differ by more than this is grey
DETAIL_SIGMA = 1.5          # px: the generator's detail above this scale goes onto the pixel fill


def generator_trust(inversion_psnr: float, span: tuple[float, float] | None = None) -> float:
    """How far a removal trusts the generator's render, in [0, 1], from how well plain G inverts the photo
    (scenes of the model's world 18.3–25.4 dB, the real photos of docs/edits/real 12.7–17.8 dB): 0 below
    ``span[0]``, 1 above ``span[1]``."""
    low, high = span or TRUST_PSNR
    return float(np.clip((inversion_psnr - low) / (high - low), 0.0, 1.0))


def photo_fill(photo: np.ndarray, render: np.ndarray, hole: np.ndarray, trust: float,
               sigma: float | None = None, keep: np.ndarray | None = None) -> np.ndarray:
    """uint8 HxWx3: ``render`` (the generator's removal) where the generator is trusted; else, inside ``hole``
    grown by 2 px, the photo's own surroundings (``fill_photo``) carrying the render's grey-level detail (its
    structure, not its colours), blended by ``trust``; outside that and on ``keep``, ``render`` as it is.  On a
    grey photo the render's grey levels stand for it."""
    if trust >= 1.0 or not np.asarray(hole).any():
        return render
    if np.ptp(photo.astype(np.int16), axis=-1).max() <= GREY_SPREAD:       # a grey photo: no colours of the render
        render = np.repeat(render.astype(np.float32).mean(axis=-1, keepdims=True).round().astype(np.uint8), 3, -1)
    base = fill_photo(photo, hole, radius=2).astype(np.float32)
    grey = render.astype(np.float32).mean(axis=-1)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMA if sigma is None else sigma)
    pixel = np.clip(base + detail[..., None], 0, 255)
    zone = dilate(np.asarray(hole, bool), 2) & (True if keep is None else ~np.asarray(keep, bool))
    zone = zone[..., None]
    mixed = trust * render.astype(np.float32) + (1 - trust) * pixel
    return np.where(zone, np.round(mixed), render).astype(np.uint8)

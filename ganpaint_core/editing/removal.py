"""Remove edits that show what lies behind the object (docs/edits.md, "Remove").

Zeroing a concept's units (GANPaint's remove, ``FitOptions.remove="units"``) leaves the cell's other units as
they were, and the generator draws a faded mix of the object and whatever they say.  A ``Removal`` instead
continues the scene around the object into it, while G' renders (``render_removed``):

- the hole is the part of the painted mask that the segmenter labels as the concept in the photo
  (``object_region``; the whole mask where it sees too little of it), less what stands in front of it
  (``DEPTH``, ``depth_split``: a roof beside a removed cloud is kept); for a tree or a cloud also the backdrop in
  the mask, with the photo's labels (``backdrop_region``: its shadow, its fringe);
- at the block of ``FILL_SCALE`` x the edit layer's resolution (``fill_layer``) the hole's features take the
  harmonic continuation of the surroundings behind the object (``harmonic_fill``, ``FillPlan``: rows weighted
  over columns, so a horizon or a wall runs on; each hole pixel continues only the label the surroundings carry
  into it, ``predicted_labels``; behind a tree a wall keeps to its rows and columns, ``boxed_labels``), and G''s
  perturbations are continued the same way, so the photo's tones go on;
- what replaces the object is drawn where the scene has one: a dome's pitched roof (``REPLACED_BY``,
  ``roof_region``), a facade's next window column where a door was (``copy_offset``, ``offset_fill``);
- where plain G cannot draw the photo (``generator_trust``: a real photo), the photo's own surroundings fill the
  hole (``fill_photo``: the pixels around it of the surroundings' own colour, ``background_sources``) carrying
  the render's grey-level detail (``photo_fill``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ganpaint_core.editing.adaptation import _memory_format
from ganpaint_core.editing.edits import Operation, concept_name, strength_units, units_for
from ganpaint_core.editing.harmonic_fill import FillPlan, any_of_pairs, harmonic_fill
from ganpaint_core.editing.masks import dilate, to_grid
from ganpaint_core.networks.window_render import Activations, Window, recorded_prefix, render_window

# A grid cell is part of the hole when the painted mask covers more than this share of it.
HOLE_SHARE = 0.0


def hole_cells(mask: np.ndarray, grid: int, share: float = HOLE_SHARE) -> np.ndarray:
    """bool grid x grid: the cells of the layer's grid that the bool pixel ``mask`` covers by more than ``share``."""
    mask = np.asarray(mask)
    if mask.dtype == bool and share == 0 and mask.shape in ((grid, grid), (2 * grid,) * 2, (4 * grid,) * 2):
        while mask.shape[0] > grid:      # a cell's share is above 0 where any of its pixels is set
            mask = any_of_pairs(mask)
        return mask.copy()
    area = to_grid(mask, grid, "area")[0, 0].numpy()
    return area > share


def background_sources(photo: np.ndarray, hole: np.ndarray, ring: int | None = None) -> np.ndarray:
    """bool HxW: the pixels of the ``ring`` px around ``hole`` whose colour is the surroundings' own (near their
    median colour, ``BACKGROUND_SPREAD`` x the typical distance to it): the sky around a removed branch, not the
    lit tower beside it, whose colour would otherwise run into the hole."""
    hole = np.asarray(hole, bool)
    around = dilate(hole, PHOTO_RING if ring is None else ring) & ~hole
    if not around.any():
        return around
    colours = np.asarray(photo, np.float32)[around]
    distance = np.linalg.norm(colours - np.median(colours, axis=0), axis=1)
    limit = max(BACKGROUND_MIN_DISTANCE, BACKGROUND_SPREAD * float(np.median(distance)))
    sources = np.zeros_like(hole)
    sources[around] = distance <= limit
    return sources


def fill_photo(photo: np.ndarray, mask: np.ndarray, radius: int = 2) -> np.ndarray:
    """uint8 HxWx3: ``photo`` with the ``mask`` (grown by ``radius``) filled from its surroundings: the harmonic
    continuation (rows weighted over columns) of the pixels around it that have the surroundings' own colour
    (``background_sources``); outside the grown mask the photo itself."""
    hole = dilate(np.asarray(mask, dtype=bool), radius)
    sources = background_sources(photo, hole)
    if not hole.any() or not sources.any():
        return np.asarray(photo).copy()
    x = torch.from_numpy(np.asarray(photo, np.float32)).permute(2, 0, 1)[None]
    filled = harmonic_fill(x, hole, VERTICAL, sources)[0].permute(1, 2, 0).numpy()
    return np.clip(np.round(filled), 0, 255).astype(np.uint8)


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
LABEL_GROUPS = True     # each hole pixel continues only the surroundings of the label predicted there
LABEL_VERTICAL = 0.2    # vertical neighbours' weight in the fill that predicts the hole's labels
LABEL_REACH = 8         # px around the hole whose labels may be continued into it
REPLACED_BY = {"dome": "roof"}   # a removed dome leaves a pitched roof on the wall it crowned (``roof_region``)
DOME_WIDTH, ROOF_WIDTH, ROOF_HEIGHT = 0.72, 1.06, 0.66


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


def predicted_labels(labels: np.ndarray, hole: np.ndarray, sources: np.ndarray | None,
                     candidates: np.ndarray | None = None) -> np.ndarray:
    """int SxS: the segmenter's ``labels`` of the photo with each ``hole`` pixel given the label the surroundings
    continue into it (the anisotropic fill of each source label's indicator, the most likely one): a removed tree
    shows sky where the sky beside it runs on and grass below the horizon.  ``candidates`` (label ids): the labels
    a hole may take (the scene's backdrop, not objects such as windows), where any lies around it."""
    hole = np.asarray(hole, bool)
    src = ~hole if sources is None else np.asarray(sources, bool) & ~hole
    out = np.asarray(labels).astype(np.int64)
    if not hole.any() or not src.any():
        return out
    around = src & dilate(hole, LABEL_REACH)
    present = np.unique(out[around if around.any() else src])
    if candidates is not None and np.isin(present, candidates).any():
        present = present[np.isin(present, candidates)]
    if len(present) == 1:               # one label around: each hole pixel's likeliest is that one
        out[hole] = present[0]
        return out
    onehot = torch.from_numpy((out[None] == present[:, None, None]).astype(np.float32))[None]
    cells, shares = FillPlan(hole, LABEL_VERTICAL, src, channels=len(present)).hole_values(onehot)
    out.reshape(-1)[cells.numpy()] = present[shares.argmax(0).numpy()]     # the fill read at the hole's pixels only
    return out


def label_groups(groups: np.ndarray | None, size: int) -> np.ndarray | None:
    """int size x size: the most common of the pixel ``groups`` in each cell of a layer's grid."""
    if groups is None:
        return None
    if groups.shape[-1] == size:
        return groups
    side = groups.shape[-1]
    if groups.shape != (side, side) or side % size or groups.min() < 0:   # cells that do not tile the pixels
        present = np.unique(groups)
        shares = torch.cat([to_grid(groups == k, size, "area") for k in present], dim=1)[0]
        return present[shares.argmax(0).numpy()]
    counts = np.bincount((groups * (size * size) + _cell_index(side, size)).ravel())   # per label and cell
    counts = np.pad(counts, (0, -len(counts) % (size * size)))
    return counts.reshape(-1, size, size).argmax(0)        # a tie goes to the lower label, as the shares' argmax


@cache
def _cell_index(side: int, size: int) -> np.ndarray:
    """int side x side: the flat index of each pixel's cell on a size x size grid."""
    step = side // size
    return (np.arange(side) // step)[:, None] * size + np.arange(side)[None, :] // step


KEEP_WALLS = True        # a removed dome's walls stay as the photo shows them (``wall_region``)


BACKDROP_HOLE = ("tree", "cloud")   # removed objects whose hole takes the backdrop in the painted mask too
BOXED_BEHIND = ("tree",)    # removed objects behind which a facade's parts keep to their own rows and columns
BOXES = ("building", "door", "window")   # facade parts: upright boxes
COLUMNS_ONLY = ("door",)    # a door runs down to the wall's foot: kept to its columns only


def backdrop_region(labels: np.ndarray, mask: np.ndarray, vocabulary: list[str]) -> np.ndarray:
    """bool SxS: the backdrop's pixels (``TEXTURE_LABELS``: sky, grass, ground) in the painted ``mask``, where a
    removed tree's shadow and a removed cloud's faint fringe lie (the segmenter gives them to the backdrop); a
    removal of a ``BACKDROP_HOLE`` object fills them too, each continuing its own label (docs/edits.md, "round 5")."""
    wanted = [vocabulary.index(c) for c in TEXTURE_LABELS if c in vocabulary]
    return np.asarray(mask, bool) & np.isin(labels, wanted)


def boxed_labels(groups: np.ndarray, labels: np.ndarray, hole: np.ndarray, sources: np.ndarray | None,
                 candidates: np.ndarray, vocabulary: list[str], own: int | None = None) -> np.ndarray:
    """int SxS: the predicted ``groups`` of a ``hole`` with each facade part (``BOXES``) kept to the rows and (where
    the photo shows it right above or below the hole) the columns where the photo shows it outside the hole; a hole
    pixel the fill gave to one beyond them takes the label the rest of the hole and its surroundings continue there
    (``predicted_labels`` among the ``candidates`` but those parts and ``own``, the removed object's kind).  A wall's
    corner behind a removed tree ends where its edge above the tree does, instead of running on into the sky."""
    hole = np.asarray(hole, bool)
    outside = ~hole if sources is None else np.asarray(sources, bool) & ~hole
    boxed = [vocabulary.index(c) for c in BOXES if c in vocabulary]
    wrong, cut = np.zeros_like(hole), []
    for k in boxed:
        here = hole & (groups == k)
        if not here.any():
            continue
        shown = outside & (labels == k)
        allowed = np.ones_like(hole)
        if vocabulary[k] not in COLUMNS_ONLY:
            allowed &= shown.any(axis=1)[:, None]
        if (shown[:-1] & hole[1:]).any() or (shown[1:] & hole[:-1]).any():    # its edge shows above or below
            allowed &= shown.any(axis=0)[None, :]
        if (here & ~allowed).any():
            wrong |= here & ~allowed
            cut.append(k)
    others = candidates[~np.isin(candidates, [*cut, *([] if own is None else [own])])]
    if not wrong.any() or not len(others):
        return groups
    context = (outside | (hole & ~wrong)) & np.isin(groups, others)   # the rest of the hole as predicted
    out = groups.copy()
    out[wrong] = predicted_labels(groups, wrong, context, others)[wrong]
    return out


def wall_region(labels: np.ndarray, mask: np.ndarray, roof: np.ndarray, concept: int,
                vocabulary: list[str]) -> np.ndarray | None:
    """bool SxS: the facade (``FACADE`` labels) in the painted ``mask`` below the removed object (``concept``:
    a dome) and away from it and from the ``roof`` drawn in its place by a pixel: the truth keeps those walls,
    while the roof drawn on the edit layer's coarse cells would smear its colours over them (docs/edits.md,
    "round 4")."""
    facade = np.isin(labels, [vocabulary.index(c) for c in FACADE if c in vocabulary])
    dome = labels == concept
    if not dome.any():
        return None
    below = np.arange(labels.shape[0])[:, None] > np.nonzero(dome)[0].max()
    walls = np.asarray(mask, bool) & facade & below & ~dilate(dome | np.asarray(roof, bool), 1)
    return walls if walls.any() else None


def roof_region(labels: np.ndarray, hole: np.ndarray, mask: np.ndarray, dome: int, building: int) -> np.ndarray | None:
    """bool SxS: where a pitched roof goes once the dome in ``hole`` is gone (None where none is seen): a triangle
    on the dome's base line as wide as the wall under it (``ROOF_WIDTH`` x) and ``ROOF_HEIGHT`` x the dome's height
    (the scene world's own proportions: a dome 0.72 of the wall wide, a roof 0.8 of its height), inside ``mask``."""
    ys, xs = np.nonzero(np.asarray(hole, bool) & (labels == dome))
    if len(ys) < 8:
        return None
    base, top = ys.max(), ys.min()
    low = ys >= base - max(1, (base - top) // 3)
    centre = float(xs[low].mean())
    half = (xs[low].max() - xs[low].min() + 1) / 2 / DOME_WIDTH
    below = labels[base + 1:base + 4] == building if base + 1 < labels.shape[0] else np.zeros((0, labels.shape[1]))
    cols = np.flatnonzero(below.any(axis=0)) if len(below) else np.zeros(0, int)
    if len(cols):                          # the wall under the dome: the run of columns around its centre
        runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
        run = min(runs, key=lambda c: 0 if c[0] <= centre <= c[-1] else min(abs(c - centre)))
        if run[0] - 1 <= centre <= run[-1] + 1:
            half = (run[-1] - run[0] + 1) / 2
    height = max(2.0, ROOF_HEIGHT * (base - top + 1))
    yy, xx = np.mgrid[0:labels.shape[0], 0:labels.shape[1]]
    rise = (base + 0.5 - yy) / height                     # 0 on the base line, 1 at the apex
    roof = (rise >= 0) & (rise <= 1) & (np.abs(xx + 0.5 - centre) <= ROOF_WIDTH * half * (1 - rise))
    roof &= np.asarray(mask, bool)
    return roof if roof.any() else None


@dataclass
class Removal(Operation):
    """A remove edit: the generator draws what lies around ``hole`` (pixels) into it, at ``blend`` (the strength).

    It leaves the edit layer's features as they are (``apply``); ``render_removed`` does the fill while rendering.
    """

    hole: np.ndarray | None = None
    sources: np.ndarray | None = None      # bool SxS: pixels the fill may continue (None: all around the hole)
    keep: np.ndarray | None = None         # bool SxS: pixels in the mask in front of the object, kept as they were
    groups: np.ndarray | None = None       # int SxS: the labels each pixel continues (``predicted_labels``), or None
    blend: float = 1.0
    drawn: Operation | None = None         # what the generator draws in the object's place (a dome's roof), or None
    offset: int | None = None              # px: the photo shifted by it repeats the surroundings into the hole
    copied: np.ndarray | None = None       # bool SxS: where that shifted photo goes (None: the hole)
    windows: np.ndarray | None = None      # int SxS: per pixel the shift that draws a missing window there
    wall: np.ndarray | None = None         # bool SxS: the facade's wall in the mask, its colour continued there
    wall_source: np.ndarray | None = None  # bool SxS: the photo's wall that colour comes from (``facade_wall``)
    front: np.ndarray | None = None        # bool SxS: what stands in front of a removed door, kept as shot
    walls: np.ndarray | None = None        # bool SxS: the photo's walls under what replaces the object, kept as shot
    backdrop: np.ndarray | None = None     # bool SxS: the mask around it but its walls, continued from the photo

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        return r if self.drawn is None else self.drawn.apply(r)

    @property
    def textured(self) -> bool:
        """Whether the filled hole takes the photo's texture (``texture_fill``): a whole removal whose hole's
        labels are predicted."""
        return TEXTURE and self.groups is not None and self.blend >= 1 and self.drawn is None

    @property
    def crisp_roof(self) -> bool:
        """Whether the roof drawn in a whole removal's place is redrawn at the pixel grid (``roof_fill``)."""
        return CRISP_ROOF and self.drawn is not None and self.backdrop is not None and self.blend >= 1

    def finish(self, image: np.ndarray, photo: np.ndarray, hole, vocabulary: list[str]) -> np.ndarray:
        """uint8 SxSx3: the filled ``image`` with this removal's pixel passes over it, from the ``photo``: the
        facade's offset copy or the backdrop's texture, the missing windows, the crisp roof, the kept walls.
        ``hole(region=None)`` gives this removal's hole (or ``region``) less what later edits painted."""
        if self.offset is not None and self.blend >= 1:
            image = offset_fill(image, photo, hole(self.copied), self.offset)
        elif self.textured:
            image = texture_fill(image, photo, hole(), self.groups, self.mask, vocabulary)
        if self.wall is not None and self.blend >= 1:
            image = wall_fill(image, photo, hole(self.wall), self.wall_source)
        if self.windows is not None and self.blend >= 1:
            image = lattice_fill(image, photo, np.where(hole(self.windows != 0), self.windows, 0))
        if self.crisp_roof:
            image = roof_fill(image, photo, hole(self.drawn_region()), hole(self.backdrop), self.groups, self.mask)
        if self.walls is not None:
            image = np.where(hole(self.walls)[..., None], photo, image)
        if self.front is not None and self.blend >= 1:
            image = np.where(hole(self.front)[..., None], photo, image)
        return image

    plans: dict = field(default_factory=dict, repr=False, compare=False)   # FillPlans of earlier renders

    def plan(self, kind: str, size: int, hole: np.ndarray, channels: int | None = None) -> FillPlan:
        """The fill on a layer's ``size`` grid of ``hole`` (pixels), for the features at the fill layer (``kind``
        "features") or G''s perturbations around it ("deltas"), of ``channels``; planned once, reused by every
        later render."""
        key = (kind, size, channels, np.packbits(hole).tobytes())
        if key not in self.plans:
            if len(self.plans) >= 16:
                self.plans.clear()
            cells = self.cells(hole if kind == "features" else self.zone(hole), size)
            sources = None if self.sources is None else \
                self._kept(("sources", size), lambda: _cells(self.sources, size))
            groups = self._kept(("groups", size), lambda: label_groups(self.groups, size))
            self.plans[key] = FillPlan(cells, VERTICAL, sources, groups, channels)
        return self.plans[key]

    kept: dict = field(default_factory=dict, init=False, repr=False, compare=False)   # what its fills share

    def _kept(self, key, make):
        if key not in self.kept:
            if len(self.kept) >= 32:
                self.kept.clear()
            self.kept[key] = make()
        return self.kept[key]

    def cells(self, pixels: np.ndarray, size: int) -> np.ndarray:
        """``hole_cells(pixels, size)``, worked out once per region and grid (the plans and renders of an edit
        share them)."""
        return self._kept(("cells", size, np.packbits(pixels).tobytes()), lambda: hole_cells(pixels, size))

    def zone(self, hole: np.ndarray) -> np.ndarray:
        """bool SxS: where G''s perturbations are continued: ``hole`` and what ``drawn`` draws, grown by
        ``DELTA_RADIUS`` (worked out once per hole)."""
        return self._kept(("zone", np.packbits(hole).tobytes()),
                          lambda: dilate(hole | self.drawn_region(), DELTA_RADIUS))

    def drawn_region(self) -> np.ndarray:
        """bool SxS: where ``drawn`` draws (as painted), none without it."""
        if self.drawn is None:
            return np.zeros_like(self.mask, dtype=bool)
        return self.drawn.painted if self.drawn.painted is not None else self.drawn.mask


def removal_operation(mask: np.ndarray, concept: str, strength, labels: np.ndarray | None,
                      vocabulary: list[str], dissection: dict | None, draw=None) -> Removal:
    """The remove edit of ``concept`` painted over ``mask`` (bool SxS); ``labels``: the segmenter's labels of the
    photo (None: the whole mask is the object and every surrounding continues into it).  ``draw(mask, concept)``:
    the add operation that draws what replaces the object (``REPLACED_BY``: a dome's roof), where given.

    Strength: ``low`` half removes the object (blend 0.5), ``medium`` removes it, ``high`` continues the
    surroundings over the whole painted mask (shadow and all); a number in [0, 1] is read as the units edits read it.
    """
    name = concept_name(dissection, concept)
    n, table = units_for(strength, dissection), strength_units(dissection)
    label = vocabulary.index(name) if name in vocabulary else None
    mask = np.asarray(mask, bool)
    part = None if n >= table["high"] else object_region(mask, labels, label)
    hole, sources, keep, shaded = mask.copy(), None, None, None
    if part is not None:                # the segmenter sees the object: its part of the mask, occluders kept
        sources, occluders = depth_split(labels, name, vocabulary)
        if name in BACKDROP_HOLE:       # its shadow and faint fringe on the backdrop in the mask go too
            shaded = backdrop_region(labels, mask, vocabulary) & ~part
        hole = part if occluders is None else part & ~occluders
        keep = None if occluders is None else part & occluders
        if not hole.any():
            hole, keep = part, None
    drawn, roof = None, None
    if part is not None and draw is not None and name in REPLACED_BY and REPLACED_BY[name] in vocabulary:
        roof = roof_region(labels, hole, mask, label, vocabulary.index("building"))
        drawn = None if roof is None else draw(roof, REPLACED_BY[name])
    groups = None
    if labels is not None and LABEL_GROUPS:
        behind = [i for i, c in enumerate(vocabulary) if c == name or DEPTH.get(c, 9) < DEPTH.get(name, 9)]
        groups = predicted_labels(labels, hole, sources, np.array(behind))
        if name in BOXED_BEHIND:
            groups = boxed_labels(groups, labels, hole, sources, np.array(behind), vocabulary, label)
        if drawn is not None:
            groups[roof] = vocabulary.index(REPLACED_BY[name])
    if shaded is not None:              # the backdrop keeps the photo's labels: only its shading was the object's
        hole = hole | shaded
    walls, backdrop = None, None
    if drawn is not None:
        hole = hole & ~roof
        if KEEP_WALLS:
            walls = wall_region(labels, mask, roof, label, vocabulary)
        backdrop = None if groups is None else mask & ~roof & (True if walls is None else ~walls)
    front = None
    if FRONT_SHOT and part is not None and name in WALL_CONCEPTS and occluders is not None:
        front = occluders & mask if (occluders & mask).any() else None     # a tree before the door, all of it
    offset, copied = None, None
    if part is not None and drawn is None and name in OFFSET_CONCEPTS:
        copied = facade_region(labels, hole, mask, keep, vocabulary, name) if OFFSET_FACADE else None
        offset = copy_offset(labels, hole if copied is None else copied, sources, label)
    windows, wall = None, None
    if part is not None and LATTICE and name in LATTICE_CONCEPTS and "window" in vocabulary:
        windows = window_lattice(labels, mask, label, vocabulary.index("window"))
    if part is not None and offset is None and WALL_FILL and name in WALL_CONCEPTS and groups is not None:
        wall = facade_wall(labels, groups, mask if keep is None else mask & ~keep, vocabulary.index("building"))
    return Removal("remove", mask, torch.zeros(1, 1, 1, 1), [], torch.zeros(1, 0, 1, 1), name,
                   strength, fine=None if drawn is None else drawn.fine, hole=hole, sources=sources, keep=keep,
                   groups=groups, blend=min(1.0, n / table["medium"]), drawn=drawn, offset=offset,
                   copied=None if offset is None else copied, windows=windows, wall=None if wall is None else wall[0],
                   wall_source=None if wall is None else wall[1], front=front, walls=walls,
                   backdrop=backdrop)


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
                   edit: dict | None = None, base: Activations | None = None,
                   changed: np.ndarray | None = None, recorded: Activations | None = None) -> torch.Tensor:
    """Render the edit layer's features ``r`` by ``adapted`` (G', or G) with ``removals`` applied, each a
    ``(Removal, hole)``: at the ``fill_layer`` the hole (bool SxS) takes the harmonic continuation of its
    surroundings (``blend`` of the way).

    G''s perturbations are zeroed inside ``clear`` (the other edits' region, as its ``factors`` does) and, with
    ``fill_deltas``, continued from around each hole inside it (grown by ``DELTA_RADIUS``), so the photo's own
    tones go on into the region.  ``edit``: functions applied to later layers' outputs after the factors, as in
    ``render_from`` (the finer-layer part of adds).  ``base`` (``adapted.record`` of the unedited features): only
    the window that the removals, ``clear`` and ``changed`` (bool SxS: where ``edit`` acts) change is re-rendered
    (``window_render``; each ``edit`` function then takes ``(x, window)``); the same picture to float rounding.
    ``recorded`` (the same record, for a full render): the blocks before the first whose input or factors the
    removals change are taken from it (``recorded_prefix``: the same tensors, bit for bit).
    """
    target = fill_layer(adapted.generator, layer)
    deltas = getattr(adapted, "deltas", None) or {}
    factors: dict[str, torch.Tensor] = {}

    def factor(name: str) -> torch.Tensor:          # 1 + G''s perturbations, cleared and continued
        if not factors:
            grid = adapted.generator.resolution_of(target) if SHARED_DELTA_GRID else None
            fmt = _memory_format(adapted.generator)     # the activations' format: a multiply of two runs slower
            factors.update(continued_factors(deltas, removals, clear, fill_deltas, grid, fmt))
        return factors[name]

    def filled(x: torch.Tensor) -> torch.Tensor:    # the fill layer's output with every hole continued
        size = x.shape[-1]
        shared = sum(d.shape[1] for d in deltas.values() if d.shape[-1] >= size) if SHARED_DELTA_GRID else 0
        for op, hole in removals:
            if op.concept in FEATURES_ON_ZONE and op.drawn is None:    # over the perturbations' zone, their plan
                plan = op.plan("deltas", size, hole, shared if fill_deltas and shared else x.shape[1])
            else:
                plan = op.plan("features", size, hole, x.shape[1])
            x = x + op.blend * (plan(x) - x)
        return x

    if base is None or getattr(adapted, "blocks", None) is not None:
        blocks = blocks_after(adapted, layer)
        own = getattr(adapted, "blocks", None) is not None
        skip, x = recorded_prefix(None if own else recorded, r, [n for n, _ in blocks], deltas,
                                  set(edit or ()) | {target})
        for i, (name, block) in enumerate(blocks):
            if i < skip - 1:                # the record's, with nothing after the block
                continue
            if i >= skip:
                x = block(x)
            if name in deltas:
                x = x * factor(name)
            if edit is not None and name in edit:
                x = edit[name](x)
            if name == target:
                x = filled(x)
        return x
    region = np.zeros((adapted.generator.resolution,) * 2, bool) if changed is None else np.asarray(changed, bool)
    if clear is not None:
        region = region | np.asarray(clear, bool)
    for op, hole in removals:                        # the holes and the perturbations continued around them
        region = region | op.zone(np.asarray(hole, bool))

    def scale(name: str, window: Window) -> torch.Tensor | None:
        return window.of(factor(name)) if name in deltas else None

    def windowed(name: str):
        def run(x: torch.Tensor, window: Window) -> torch.Tensor:
            if edit is not None and name in edit:
                x = edit[name](x, window)
            if name != target:
                return x
            full = base.outputs[name].clone()        # beyond the window the render is the unedited one
            window.of(full).copy_(x)
            return window.of(filled(full))
        return run

    names = set(edit or ()) | {target}
    return render_window(adapted.generator, r, base, region, scale, {name: windowed(name) for name in names})


# Objects on a facade whose features at the fill layer are continued over the perturbations' zone (the hole grown
# by DELTA_RADIUS: the frame and the step around a door go too; the ring is wall, as the fill); other objects keep
# the ring (the next cloud or tree beside a removed one stays).
FEATURES_ON_ZONE = ("door", "window")
SHARED_DELTA_GRID = True  # perturbations at the fill layer's grid or finer are continued together on that grid


def continued_deltas(deltas: dict[str, torch.Tensor], removals: list[tuple[Removal, np.ndarray]],
                     clear: np.ndarray | None, fill: bool, grid: int | None) -> dict[str, torch.Tensor]:
    """G''s perturbations per layer, zeroed inside ``clear`` and, with ``fill``, continued from around each hole
    (grown by ``DELTA_RADIUS``; ``blend`` of the way) and capped at ``DELTA_CAP``.

    Each layer coarser than ``grid`` is filled on its own grid.  Those at ``grid`` or finer are filled together on
    ``grid`` (one plan for all their channels; the finer ones average-pooled to it) and a finer layer's zone takes
    that solution upsampled bilinearly: the continuation is smooth, so the finer grid adds little to it (docs/edits.md,
    "Remove").  ``grid`` None: every layer on its own grid."""
    out = {}
    for name, d in deltas.items():
        if clear is not None and clear.any():
            d = d * (1 - to_grid(clear, d.shape[-1], "max").to(d))
        out[name] = d
    if not fill:
        return out
    for op, hole in removals:
        shared = [n for n, d in out.items() if grid is not None and d.shape[-1] >= grid]
        for name in out:
            if name not in shared:
                d = out[name]
                own = op.plan("deltas", d.shape[-1], hole, d.shape[1])
                out[name] = d + op.blend * (own(d.clamp(-DELTA_CAP, DELTA_CAP)) - d)
        if not shared:
            continue
        capped = [out[n].clamp(-DELTA_CAP, DELTA_CAP) for n in shared]
        pooled = torch.cat([F.avg_pool2d(c, c.shape[-1] // grid) if c.shape[-1] > grid else c for c in capped], 1)
        plan = op.plan("deltas", grid, hole, pooled.shape[1])
        solved = plan(pooled) if not plan.empty else None
        at = 0
        for name, c in zip(shared, capped, strict=True):
            filled = c
            if solved is not None:
                part, size = solved[:, at:at + c.shape[1]], c.shape[-1]
                filled = part if size == grid else _upsampled_into_zone(part, c, plan.box, op.zone(hole))
            at += c.shape[1]
            out[name] = filled if op.blend == 1 else out[name] + op.blend * (filled - out[name])
    return out


def continued_factors(deltas: dict[str, torch.Tensor], removals: list[tuple[Removal, np.ndarray]],
                      clear: np.ndarray | None, fill: bool, grid: int | None,
                      fmt: torch.memory_format = torch.contiguous_format) -> dict[str, torch.Tensor]:
    """``1 + continued_deltas(...)`` per layer, in memory format ``fmt``: bit for bit that, and for one whole
    removal (``blend`` 1) with nothing cleared, made from what depends on the perturbations alone (``_Capped``:
    kept while they are unchanged) with only the hole's box computed per edit.  The factors may be the kept
    tensors themselves: read them, do not write into them."""
    whole = fill and grid is not None and len(removals) == 1 and removals[0][0].blend == 1 and \
        (clear is None or not np.asarray(clear).any())
    if not whole:
        return {k: (1 + d).contiguous(memory_format=fmt)
                for k, d in continued_deltas(deltas, removals, clear, fill, grid).items()}
    kept = _Capped.of(deltas, grid, fmt)
    (op, hole), out = removals[0], {}
    for name, d in deltas.items():                 # the coarser layers, each on its own grid
        if name not in kept.shared:
            own = op.plan("deltas", d.shape[-1], hole, d.shape[1])
            out[name] = (1 + (d + op.blend * (own(kept.capped[name]) - d))).contiguous(memory_format=fmt)
    if not kept.shared:
        return out
    plan = op.plan("deltas", grid, hole, kept.pooled.shape[1])
    solved = plan(kept.pooled) if not plan.empty else None
    at = 0
    for name in kept.shared:
        c = kept.capped[name]
        if solved is None:
            out[name] = kept.factors[name]
        elif c.shape[-1] == grid:
            out[name] = (1 + solved[:, at:at + c.shape[1]]).contiguous(memory_format=fmt)
        else:               # ``_upsampled_into_zone``'s box, written into the kept 1 + capped perturbations
            rows, cols, up, cells = _zone_box(solved[:, at:at + c.shape[1]], c, plan.box,
                                              op.cells(op.zone(hole), c.shape[-1]))
            out[name] = kept.factors[name].clone()
            out[name][..., rows, cols] = 1 + torch.where(cells, up, c[..., rows, cols])
        at += c.shape[1]
    return out


class _Capped:
    """What ``continued_factors`` reads of a set of perturbations alone: each layer capped at ``DELTA_CAP``, those
    at ``grid`` or finer pooled to it and stacked (the shared fill's input), and 1 + the capped ones finer than
    ``grid`` in the activations' format.  Kept for the last two sets while their tensors are unchanged (at 256 px
    a set holds ~32 MB)."""

    _kept: dict = {}

    def __init__(self, deltas: dict[str, torch.Tensor], grid: int, fmt: torch.memory_format):
        self.deltas = dict(deltas)
        self.versions = {k: _version(d) for k, d in deltas.items()}
        self.capped = {k: d.clamp(-DELTA_CAP, DELTA_CAP) for k, d in deltas.items()}
        self.shared = [n for n, d in deltas.items() if d.shape[-1] >= grid]
        stack = [self.capped[n] for n in self.shared]
        self.pooled = torch.cat([F.avg_pool2d(c, c.shape[-1] // grid) if c.shape[-1] > grid else c for c in stack], 1) \
            if stack else None
        self.factors = {n: (1 + self.capped[n]).contiguous(memory_format=fmt) for n in self.shared}

    @classmethod
    def of(cls, deltas: dict[str, torch.Tensor], grid: int, fmt: torch.memory_format) -> _Capped:
        key = (tuple((k, id(d)) for k, d in deltas.items()), grid, fmt)
        entry = cls._kept.get(key)
        if entry is not None and all(entry.deltas[k] is d and entry.versions[k] == _version(d)
                                     for k, d in deltas.items()):
            return entry
        entry = cls(deltas, grid, fmt)
        if None not in entry.versions.values():         # an inference tensor keeps no version: not kept
            if len(cls._kept) >= 2:
                cls._kept.clear()
            cls._kept[key] = entry
        return entry


def _version(d: torch.Tensor) -> int | None:
    try:
        return d._version
    except RuntimeError:
        return None


def _zone_box(coarse: torch.Tensor, fine: torch.Tensor, box: tuple[slice, slice], cells: np.ndarray):
    """(rows, cols, up, cells): the fine grid's part of the coarse ``box``, ``coarse``'s box upsampled bilinearly
    to it, and there the zone's ``cells`` (bool, the fine grid's)."""
    step = fine.shape[-1] // coarse.shape[-1]
    rows, cols = slice(box[0].start * step, box[0].stop * step), slice(box[1].start * step, box[1].stop * step)
    up = F.interpolate(coarse[..., box[0], box[1]], scale_factor=step, mode="bilinear", align_corners=False)
    return rows, cols, up, torch.from_numpy(cells[rows, cols]).to(fine.device)


def _upsampled_into_zone(coarse: torch.Tensor, fine: torch.Tensor, box: tuple[slice, slice],
                         zone: np.ndarray) -> torch.Tensor:
    """``fine`` (B, C, s, s) with its cells in the pixel ``zone`` taken from ``coarse`` (on a coarser grid)
    upsampled bilinearly; only the coarse ``box`` (the fill's, 8 cells beyond the zone) is upsampled, which gives
    the whole grid's upsampling there to float rounding."""
    rows, cols, up, cells = _zone_box(coarse, fine, box, hole_cells(zone, fine.shape[-1]))
    out = fine.clone()
    out[..., rows, cols] = torch.where(cells, up, fine[..., rows, cols])
    return out


OFFSET_RING = 4         # px around the hole whose labels an offset copy must match
OFFSET_MATCH = 0.9      # the least share of that ring whose labels the copy's ring repeats
OFFSET_CONCEPTS = ("door", "window")   # objects on a facade, whose pattern repeats sideways
OFFSET_FACADE = True    # the offset copy covers the facade in the painted mask, not only the object's hole
FACADE = ("building", "window", "door")


def facade_region(labels: np.ndarray, hole: np.ndarray, mask: np.ndarray, keep: np.ndarray | None,
                  vocabulary: list[str], concept: str) -> np.ndarray:
    """bool SxS: the ``hole`` and the facade in the painted ``mask`` (``FACADE`` labels), less what stands in
    front (``keep``): where a door's column goes, the scene repeats its windows above it too (the ground truth of
    a removed door shows the next window column there), so the offset copy covers them."""
    facade = np.isin(labels, [vocabulary.index(c) for c in (*FACADE, concept) if c in vocabulary])
    region = np.asarray(hole, bool) | (np.asarray(mask, bool) & facade)
    return region if keep is None else region & ~np.asarray(keep, bool)


def copy_offset(labels: np.ndarray, hole: np.ndarray, sources: np.ndarray | None, concept: int) -> int | None:
    """The horizontal shift (px) of the photo that repeats its surroundings into ``hole`` (a facade's next
    window column where a door was), or None where none does: the hole shifted by it lies on ``sources`` away
    from the object, and the ring of ``OFFSET_RING`` px around it has the labels of the ring around the hole
    on at least ``OFFSET_MATCH`` of it (the best such shift, the nearest on a tie)."""
    hole = np.asarray(hole, bool)
    if not hole.any():
        return None
    width = hole.shape[1]
    ring = dilate(hole, OFFSET_RING) & ~hole
    usable = (np.ones_like(hole) if sources is None else np.asarray(sources, bool)) & ~hole & (labels != concept)
    xs, rx = np.nonzero(hole)[1], np.nonzero(ring)[1]
    if not len(rx):
        return None
    landed = _shift_counts(hole[None], usable[None])       # per shift: the hole's pixels landing on usable ones
    kinds = np.unique(labels[ring])
    kept = _shift_counts(ring & (labels == kinds[:, None, None]), labels == kinds[:, None, None])
    shifts = np.array(sorted(range(-width + 1, width), key=abs))     # the nearest first: a tie keeps it
    fits = (shifts != 0) & (landed[shifts] == len(xs))
    fits &= (min(xs.min(), rx.min()) + shifts >= 0) & (max(xs.max(), rx.max()) + shifts < width)
    scores = np.where(fits, kept[shifts] / len(rx), -np.inf)
    best = int(np.argmax(scores))
    return int(shifts[best]) if scores[best] > OFFSET_MATCH else None


def _shift_counts(a: np.ndarray, b: np.ndarray, spectrum: np.ndarray | None = None,
                  lines: np.ndarray | None = None) -> np.ndarray:
    """int (2W,): per horizontal shift dx (index dx, a negative one from the end) the pixels set in both ``a`` and
    in ``b`` shifted by dx (``a[k, y, x] & b[k, y, x + dx]``, summed over k, y, x), for bool K x H x W masks;
    counted by FFT over the rows where ``a`` has pixels.  ``spectrum``: ``b[0]``'s row spectra (length 2W) on
    the rows ``lines``, which hold every row of ``a[0]`` with pixels (K = 1): reused, not recomputed."""
    n = 2 * a.shape[2]
    if spectrum is not None:
        product = np.conj(np.fft.rfft(a[0, lines].astype(np.float64), n)) * spectrum
        return np.rint(np.fft.irfft(product.sum(axis=0), n)).astype(np.int64)
    k, y = np.nonzero(a.any(axis=2))
    if not len(y):
        return np.zeros(n, np.int64)
    spectrum = np.conj(np.fft.rfft(a[k, y].astype(np.float64), n)) * np.fft.rfft(b[k, y].astype(np.float64), n)
    return np.rint(np.fft.irfft(spectrum.sum(axis=0), n)).astype(np.int64)


def offset_fill(image: np.ndarray, photo: np.ndarray, hole: np.ndarray, dx: int) -> np.ndarray:
    """uint8 SxSx3: ``image`` with ``hole`` taken from ``photo`` shifted by ``dx`` px (``copy_offset``)."""
    return lattice_fill(image, photo, np.where(hole, dx, 0))


TRUST_PSNR = (16.0, 18.0)   # dB of plain G's inversion: below the first the generator's render is not trusted at all
GREY_SPREAD = 6             # a photo whose channels never differ by more than this is grey
DETAIL_SIGMA = 1.5          # px: the generator's detail above this scale goes onto the pixel fill
PHOTO_RING = 4              # px around the hole whose pixels a photo's fill continues
BACKGROUND_SPREAD = 2.0     # ring pixels this many typical distances from the ring's median colour are left out
BACKGROUND_MIN_DISTANCE = 24.0   # ... but never those nearer than this (RGB units)


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
    photo = np.asarray(photo)
    if int((photo.max(axis=-1).astype(np.int16) - photo.min(axis=-1)).max()) <= GREY_SPREAD:   # grey: no colours
        render = np.repeat(render.astype(np.float32).mean(axis=-1, keepdims=True).round().astype(np.uint8), 3, -1)
    base = fill_photo(photo, hole, radius=2).astype(np.float32)
    sigma = DETAIL_SIGMA if sigma is None else sigma
    grey = render.astype(np.float32).mean(axis=-1)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), sigma)
    own = photo.astype(np.float32).mean(axis=-1)          # the surroundings' own texture sets the detail's strength
    own = own - cv2.GaussianBlur(own, (0, 0), sigma)
    sources, inside = background_sources(photo, dilate(np.asarray(hole, bool), 2)), dilate(np.asarray(hole, bool), 2)
    if sources.any() and inside.any():
        detail = detail * min(1.0, float(own[sources].std()) / max(float(detail[inside].std()), 1e-6))
    pixel = np.clip(base + detail[..., None], 0, 255)
    zone = dilate(np.asarray(hole, bool), 2) & (True if keep is None else ~np.asarray(keep, bool))
    zone = zone[..., None]
    mixed = trust * render.astype(np.float32) + (1 - trust) * pixel
    return np.where(zone, np.round(mixed), render).astype(np.uint8)


TEXTURE = True              # a filled hole takes the photo's texture of its backdrop (``texture_fill``)
TEXTURE_SIGMA = 1.5         # px: the photo's detail finer than this is copied into a filled hole (``texture_fill``)
TEXTURE_LABELS = ("sky", "grass", "ground")   # backdrops whose texture a filled hole takes from the photo
TEXTURE_REACH = 2.0         # sigmas: the detail's blur kernel radius
TEXTURE_MARGIN = 2          # px around the painted mask that no texture is copied from (the object's blur, shadow)
TEXTURE_SHIFTS = 3          # horizontal shifts tried per label, best first, for the hole's pixels still without one


def texture_fill(image: np.ndarray, photo: np.ndarray, hole: np.ndarray, groups: np.ndarray, mask: np.ndarray,
                 vocabulary: list[str], sigma: float | None = None) -> np.ndarray:
    """uint8 SxSx3: ``image`` (a removal's render) with the detail of its ``hole`` pixels (finer than ``sigma``)
    replaced by the photo's own detail of the same label (``groups``: the hole's predicted labels, the photo's
    outside), copied from the horizontal shift that lands the most of that label's hole pixels on the label
    outside the painted ``mask`` (``TEXTURE_SHIFTS`` shifts in turn, each the best for the pixels not yet
    landed; a pixel none lands keeps its own).

    A harmonic fill is smooth, and a smooth green reads as a tree, not as grass (docs/edits.md, "round 4"):
    the texture of the backdrop the scene continues (``TEXTURE_LABELS``) goes on into the hole instead.
    A horizontal shift keeps a pixel's row, so grass keeps its perspective's scale."""
    hole = np.asarray(hole, bool)
    wanted = [vocabulary.index(c) for c in TEXTURE_LABELS if c in vocabulary]
    rows = np.flatnonzero(hole.any(axis=1))
    if not len(rows):
        return image
    sigma = TEXTURE_SIGMA if sigma is None else sigma
    reach = int(np.ceil(TEXTURE_REACH * sigma))        # the blur's kernel radius
    kernel = (2 * reach + 1, 2 * reach + 1)
    top, bottom = max(rows[0] - reach - 1, 0), min(rows[-1] + reach + 2, hole.shape[0])
    band = slice(top, bottom)                         # the hole's rows and the blur's reach: the only work
    todo = hole[band] & np.isin(groups[band], wanted)
    if not todo.any():
        return image
    labels = groups[band]
    photo_f, image_f = np.asarray(photo[band], np.float32), np.asarray(image[band], np.float32)
    detail = photo_f - cv2.GaussianBlur(photo_f, kernel, sigma)
    smooth = cv2.GaussianBlur(image_f, kernel, sigma)      # the render's own detail goes where the photo's comes
    free = ~dilate(np.asarray(mask, bool), TEXTURE_MARGIN)[band]
    width = hole.shape[1]
    order = _nearest_first(width)
    taken = np.zeros_like(todo)
    out = np.array(image, copy=True)
    for label in np.unique(labels[todo]):
        region = todo & (labels == label)
        source = free & (labels == label)
        lines = np.flatnonzero(region.any(axis=1))         # the source's spectrum on the region's rows, once
        spectrum = np.fft.rfft(source[lines].astype(np.float64), 2 * width)
        for _ in range(TEXTURE_SHIFTS):
            left = region & ~taken
            if not left.any():
                break
            counts = _shift_counts(left[None], source[None], spectrum, lines)[order]   # nearest first: ties keep it
            if counts.max() == 0:
                break
            best = int(order[int(np.argmax(counts))])
            ys, xs = np.nonzero(left)
            xs_from = xs + best
            ok = (xs_from >= 0) & (xs_from < width)
            ok[ok] = source[ys[ok], xs_from[ok]]
            ys, xs, xs_from = ys[ok], xs[ok], xs_from[ok]
            value = smooth[ys, xs] + detail[ys, xs_from]
            out[ys + top, xs] = np.clip(np.round(value), 0, 255).astype(np.uint8)
            taken[ys, xs] = True
    return out


@cache
def _nearest_first(width: int) -> np.ndarray:
    """int (2W-1,): the horizontal shifts of a W px row, the nearest first (a tie goes to the nearer)."""
    return np.array(sorted(range(-width + 1, width), key=abs))


LATTICE = True              # a removed door brings back the windows of its column (``window_lattice``)
LATTICE_CONCEPTS = ("door",)
LATTICE_TOLERANCE = 2       # px: window centres (or bottoms) this close are one column (one row)
LATTICE_MIN_AREA = 4        # px: smaller window blobs are the segmenter's noise
LATTICE_MIN_SPACING = 1.3   # window widths: neighbouring columns lie at least this far apart (else one window split)
LATTICE_SINGLE_HEIGHT = 0.7   # a lone window in its row counts where it is this share of the others' height


def _blobs(pixels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) inclusive bounding boxes of the 8-connected blobs of ``pixels`` of at least
    ``LATTICE_MIN_AREA`` px."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(pixels.astype(np.uint8), connectivity=8)
    return [(x, y, x + w - 1, y + h - 1) for x, y, w, h, area in stats[1:] if area >= LATTICE_MIN_AREA]


def _clusters(values: list[float]) -> list[float]:
    """The means of ``values`` grouped where sorted neighbours lie within ``LATTICE_TOLERANCE``."""
    groups: list[list[float]] = []
    for v in sorted(values):
        if groups and v - groups[-1][-1] <= LATTICE_TOLERANCE:
            groups[-1].append(v)
        else:
            groups.append([v])
    return [float(np.mean(g)) for g in groups]


def _window_rows(blobs: list[tuple[int, int, int, int]]) -> list[list[tuple[tuple[int, int, int, int], float]]]:
    """The window ``blobs`` grouped into rows by their bottoms (``_clusters``), each row a list of (blob, centre)."""
    return [[(b, (b[0] + b[2]) / 2) for b in blobs if abs(b[3] - bottom) <= LATTICE_TOLERANCE]
            for bottom in _clusters([b[3] for b in blobs])]


def _even_lattice(columns: list[float], width: float) -> np.ndarray | None:
    """The evenly spaced positions (px) through the window ``columns`` (sorted centres): the least gap between
    neighbours is one step, every gap a whole number of steps within ``LATTICE_TOLERANCE``, and the step and the
    first position fitted to all the columns by least squares (a window half hidden by a tree shifts its centre);
    None where the columns keep no such lattice or lie closer than ``LATTICE_MIN_SPACING`` windows."""
    if len(columns) < 2:
        return None
    gaps = np.diff(columns)
    steps = np.round(gaps / gaps.min())
    index = np.concatenate([[0], np.cumsum(steps)])
    centred = index - index.mean()                     # least squares of columns = start + spacing * index
    spacing = float(centred @ (np.asarray(columns) - np.mean(columns)) / (centred @ centred))
    start = float(np.mean(columns) - spacing * index.mean())
    lattice = start + spacing * np.arange(int(index[-1]) + 1)
    if spacing < LATTICE_MIN_SPACING * width or np.abs(lattice[index.astype(int)] - columns).max() > LATTICE_TOLERANCE:
        return None
    return lattice


def _covered(labels: np.ndarray, blob: tuple[int, int, int, int], window: int, wall: int) -> int:
    """px of the ``blob``'s box grown by 1 that are neither window nor ``wall``: what covers a window (a tree in
    front of it), which a copy of it would carry along."""
    left, top, right, low = blob
    box = labels[max(top - 1, 0):low + 2, max(left - 1, 0):right + 2]
    return int(((box != window) & (box != wall)).sum())


def window_lattice(labels: np.ndarray, mask: np.ndarray, concept: int, window: int) -> np.ndarray | None:
    """int SxS: per pixel the horizontal shift (px) of the photo that draws the facade's missing windows where a
    removed door (label ``concept``) was, 0 elsewhere; None where no window is missing.

    Windows stand in evenly spaced columns and rows; a facade leaves them out where a door stands in their column
    (the scene world does, as buildings do).  The columns are the centres (``_clusters``) of the windows in rows of
    two or more, their lattice ``_even_lattice``; a row of one window on the lattice counts too where the window is
    as tall as the others (another half hidden by a tree; not a tower's small opening).  A lattice position that the
    door overlaps (the door's width and a window's, ``LATTICE_TOLERANCE`` apart) with no window in a row takes that
    row's nearest window with nothing in front of it (``_covered``), shifted there, inside the painted ``mask``."""
    mask = np.asarray(mask, bool)
    door = mask & (labels == concept)
    if door.sum() < LATTICE_MIN_AREA:
        return None
    dxs = np.nonzero(door)[1]
    rows = _window_rows(_blobs(labels == window))
    full = [row for row in rows if len(row) >= 2]
    if not full:
        return None
    width = float(np.mean([b[2] - b[0] + 1 for row in full for b, _ in row]))
    height = float(np.median([b[3] - b[1] + 1 for row in full for b, _ in row]))
    lattice = _even_lattice(_clusters([c for row in full for _, c in row]), width)
    if lattice is None:
        return None
    near = lambda c: np.abs(lattice - c).min() <= LATTICE_TOLERANCE                     # noqa: E731
    rows = full + [row for row in rows if len(row) == 1 and near(row[0][1])
                   and row[0][0][3] - row[0][0][1] + 1 >= LATTICE_SINGLE_HEIGHT * height]
    centre, half = (dxs.min() + dxs.max()) / 2, (dxs.max() - dxs.min() + 1 + width) / 2 + LATTICE_TOLERANCE
    over = np.abs(lattice - centre) < half
    empty = np.array([all(abs(p - c) > LATTICE_TOLERANCE for row in rows for _, c in row) for p in lattice])
    if (empty & ~over).any():
        return None                 # not one evenly spaced lattice whose only gaps lie over the door
    shifts = np.zeros(labels.shape, np.int64)
    wall = None
    for row in rows:
        for p in lattice[over]:
            if any(abs(c - p) <= LATTICE_TOLERANCE for _, c in row):
                continue
            if wall is None:                           # what the windows stand in
                windows = labels == window
                wall = np.bincount(labels[dilate(windows, 1) & ~windows]).argmax()
            (left, top, right, low), c = min(row, key=lambda bc: (_covered(labels, bc[0], window, wall),
                                                                  abs(bc[1] - p)))
            dx = int(round(p - c))
            ys, xs = np.mgrid[max(top - 1, 0):low + 2, max(left - 1, 0):right + 2]
            tx = xs + dx
            ok = (tx >= 0) & (tx < labels.shape[1]) & (ys < labels.shape[0])
            ys, xs, tx = ys[ok], xs[ok], tx[ok]
            inside = mask[ys, tx]
            shifts[ys[inside], tx[inside]] = -dx
    return shifts if shifts.any() else None


WALL_FILL = True            # a removed door's facade takes the photo's wall colour along its rows (``wall_fill``)
FRONT_SHOT = True           # what stands in front of a removed door (a tree) in the painted mask stays as shot
WALL_CONCEPTS = ("door",)
WALL_MARGIN = 2             # px around the painted mask that no wall colour is taken from (the door's frame, shadow)
WALL_SIGMA = (12.0, 3.0)    # px along and across the rows: the wall's colour around the door, averaged
WALL_REACH = 2.0            # sigmas: the average's kernel radius
WALL_MIN_WEIGHT = 1e-3      # a pixel with less of the wall within reach keeps its render


def facade_wall(labels: np.ndarray, groups: np.ndarray, region: np.ndarray,
                wall: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(pixels, source), bool SxS each: the pixels of ``region`` (the painted mask less what stands in front) whose
    label is the ``wall`` (``groups``: the hole's predicted labels, the photo's elsewhere), and the photo's wall
    that their colour comes from: away from anything else (a window's frame) by a pixel and from ``region`` by
    ``WALL_MARGIN``; None where either is empty."""
    region = np.asarray(region, bool)
    pixels = region & (groups == wall)
    source = (labels == wall) & ~dilate(labels != wall, 1) & ~dilate(region, WALL_MARGIN)
    return (pixels, source) if pixels.any() and source.any() else None


def wall_fill(image: np.ndarray, photo: np.ndarray, pixels: np.ndarray, source: np.ndarray) -> np.ndarray:
    """uint8 SxSx3: ``image`` with its ``pixels`` (``facade_wall``) the mean colour of the photo's wall ``source``
    around each, weighted by a Gaussian of ``WALL_SIGMA`` px along and across the rows: the wall's colour on either
    side of the door runs in, and each row keeps about its own, so the wall's shading with height stays (on the
    pixels' box at half the resolution, upsampled: the mean is smooth).  A pixel with no wall within ``WALL_REACH``
    sigmas keeps its render.

    The generator's fill leaves a removed door's place darker or hazy where the door's colour bleeds through, and
    the segmenter reads that patch as the door still there, or as the path below it; the truth shows the wall
    (docs/edits.md, "Round 5")."""
    pixels = np.asarray(pixels, bool)
    rows = np.flatnonzero(pixels.any(axis=1))
    if not len(rows):
        return image
    cols = np.flatnonzero(pixels.any(axis=0))
    reach = [int(np.ceil(WALL_REACH * sigma)) for sigma in WALL_SIGMA]   # the kernel's radius along, across rows
    box = (slice(max(rows[0] - reach[1], 0), rows[-1] + reach[1] + 1),   # the only pixels worked on
           slice(max(cols[0] - reach[0], 0), cols[-1] + reach[0] + 1))
    part = pixels[box]
    on = np.asarray(source[box], np.float32)[..., None]   # the wall's own pixels only: not the ground below it
    stacked = np.concatenate([np.asarray(photo[box], np.float32) * on, on], axis=-1)   # one blur of 4 channels
    h, w = part.shape                                  # blurred at half the resolution: the mean is smooth
    small = cv2.resize(stacked, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    kernel = (2 * (reach[0] // 2) + 1, 2 * (reach[1] // 2) + 1)
    small = cv2.GaussianBlur(small, kernel, WALL_SIGMA[0] / 2, sigmaY=WALL_SIGMA[1] / 2)
    blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)[part]
    total, weight = blurred[:, :3], blurred[:, 3]
    found = weight > WALL_MIN_WEIGHT
    out = np.array(image, copy=True)
    ys, xs = np.nonzero(part)
    ys, xs = ys[found] + box[0].start, xs[found] + box[1].start
    out[ys, xs] = np.clip(np.round(total[found] / weight[found, None]), 0, 255).astype(np.uint8)
    return out


def lattice_fill(image: np.ndarray, photo: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """uint8 SxSx3: ``image`` with each pixel of a nonzero ``shifts`` (``window_lattice``) taken from ``photo``
    that many px along its row."""
    out = image.copy()
    ys, xs = np.nonzero(shifts)
    out[ys, xs] = photo[ys, xs + shifts[ys, xs]]
    return out


CRISP_ROOF = True           # a removed dome's drawn roof is redrawn at the pixel grid (``roof_fill``)
ROOF_EDGE = 4               # px beyond the painted mask that show the photo itself (the paste-back's feather)


def roof_fill(image: np.ndarray, photo: np.ndarray, roof: np.ndarray, around: np.ndarray, groups: np.ndarray,
              mask: np.ndarray) -> np.ndarray:
    """uint8 SxSx3: ``image`` (a removed dome's render) with the ``roof`` drawn in its place (bool SxS, the
    pitched triangle of ``roof_region``) crisp at the pixel grid, and ``around`` it (the rest of the painted mask
    but the walls: sky) the photo's continuation of each pixel's label (``groups``) from outside the ``mask``.

    The generator draws the roof on the edit layer's 16 px cells: a smeared cap whose colour runs into the sky,
    which the realism judge marks down against the truth's sharp pitched roof (docs/edits.md, "round 4").  The
    roof keeps the colour the generator chose (the median of its render inside the triangle, the edges left out)
    and the render's own detail finer than ``DETAIL_SIGMA`` (against the roof's own pixels only); the backdrop is
    continued along the rows (``row_fill``; a pixel-grid harmonic fill scored about the same, 3 ms dearer)."""
    roof, around = np.asarray(roof, bool), np.asarray(around, bool) & ~np.asarray(roof, bool)
    out = np.asarray(image).copy()
    if roof.any():
        ys, xs = np.nonzero(roof)
        reach = int(np.ceil(3 * DETAIL_SIGMA)) + 1
        box = (slice(max(ys.min() - reach, 0), ys.max() + reach + 1),
               slice(max(xs.min() - reach, 0), xs.max() + reach + 1))
        part = roof[box]
        inner = part & ~dilate(~part, 1)
        render = np.asarray(image[box], np.float32)
        colour = np.median(render[inner if inner.sum() >= 4 else part], axis=0)
        weight = cv2.GaussianBlur(part.astype(np.float32), (0, 0), DETAIL_SIGMA)[..., None]
        local = cv2.GaussianBlur(render * part[..., None], (0, 0), DETAIL_SIGMA) / np.maximum(weight, 1e-6)
        detail = render - local                      # the mean over the roof's own pixels: no edge of it
        out[box][part] = np.clip(np.round(colour + detail[part]), 0, 255).astype(np.uint8)
    sources = ~np.asarray(mask, bool)
    if around.any() and sources.any():
        out[around] = np.clip(np.round(row_fill(photo, around, sources, np.asarray(groups))), 0, 255).astype(np.uint8)
    return photo_edge(out, photo, mask, ROOF_EDGE)


def row_fill(photo: np.ndarray, region: np.ndarray, sources: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """float Nx3: for the N ``region`` pixels (row-major), the ``photo``'s colour interpolated along the row
    between the nearest ``sources`` pixels of the same label (``groups``) on either side (one side where only one
    has any; the label's mean source colour where neither does, or all sources' where the label has none).  A
    harmonic fill that weighs rows only: the sky's gradient runs down the picture, so a row holds one colour,
    at a fraction of a pixel-grid solve's cost."""
    rows = np.flatnonzero(region.any(axis=1))
    region, sources, labels = region[rows], sources[rows], groups[rows]
    colours = np.asarray(photo, np.float32)[rows]
    width = region.shape[1]
    present, which = np.unique(labels[region], return_inverse=True)     # each region pixel's label, by index
    ok = sources[None] & (labels[None] == present[:, None, None])        # per label: its sources (L x R x W)
    xs = np.arange(width)
    left = np.maximum.accumulate(np.where(ok, xs, -1), axis=2)          # all labels' nearest sources at once
    right = np.minimum.accumulate(np.where(ok, xs, width)[..., ::-1], axis=2)[..., ::-1]
    ys, cols = np.nonzero(region)
    left, right = left[which, ys, cols], right[which, ys, cols]
    w_left = np.where(left >= 0, 1.0 / np.maximum(cols - left, 1), 0.0)[:, None]
    w_right = np.where(right < width, 1.0 / np.maximum(right - cols, 1), 0.0)[:, None]
    counts = ok.sum(axis=(1, 2))
    means = np.einsum("lrw,rwc->lc", ok.astype(np.float32), colours) / np.maximum(counts, 1)[:, None]
    fallback = colours[sources].mean(axis=0) if sources.any() else colours.reshape(-1, 3).mean(axis=0)
    pooled = np.where((counts > 0)[:, None], means, fallback)[which]
    total = w_left + w_right
    value = w_left * colours[ys, np.maximum(left, 0)] + w_right * colours[ys, np.minimum(right, width - 1)]
    return np.where(total > 0, value / np.maximum(total, 1e-12), pooled)


def photo_edge(image: np.ndarray, photo: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """uint8 SxSx3: ``image`` with the ``width`` px beyond the painted ``mask`` the ``photo``'s own (the ring the
    paste-back feathers: the render's smear there would show through the feather)."""
    mask = np.asarray(mask, bool)
    edge = dilate(mask, width) & ~mask
    out = np.asarray(image).copy()
    out[edge] = np.asarray(photo)[edge]
    return out

"""Semantic edit operations on the edit layer's features r.

An operation blends target values into some channels inside a mask pooled to
the layer's grid: ``r' = (1 - a) r + a v`` (stacked operations composite in
order).  ``add`` (``ADD_MODE = "exemplar"``, the default) first places one of the
generator's own instances of the concept in the painted mask (its shape fitted
into the mask, less what the concept leaves in place in the photo:
``ganpaint_core.editing.placement``), then sets every unit on that object's
grid cells to the concept's own level (its mean where the generator draws the
concept: the dissection's ``levels``, see ``ganpaint_core.dissection.levels``; for a concept G draws in several
colours, a dome, the mean of one of them: its chosen look, ``ganpaint_core.dissection.looks``),
the strength setting the blend ``a`` up to medium (low 0.5, medium 1) and how much of the painting the object
fills (``exemplar_strength``); the operation's mask is then the object's region, so the editor draws
and pastes back there alone (a tree with the multiband blend's finest bands only,
``PASTE_LEVELS``, so the photo's coarse colour does not fade it).  ``levels`` does the same over the whole painted
mask; ``units`` (and a dissection without levels) sets the concept's top-n
units to their ``high`` level.  ``remove`` sets the top-n units to zero, ``appearance`` sets
every channel in the target region to its mean over a reference region.  Units are ranked by their causal
effect for that action (the dissection's ``add_units``/``remove_units``), or by
the dissection's own ranking (``units``: IoU, or GAN dissection's published
rankings).  Concept names and unit counts per strength are the dissection's own
(``concepts``, ``strength_units``): each model has its vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ganpaint_core.dissection.looks import chosen_fine_look, chosen_look
from ganpaint_core.editing.masks import to_grid
from ganpaint_core.editing.placement import concept_penalty, object_region

ACTIONS = ("add", "remove")
# Units per concept for each named strength, for a dissection without its own ``strength_units`` (remove, and
# add without levels; a levels add blends by the count's share of medium's).  Chosen by measurement: docs/editor.md.
STRENGTH_UNITS = {"low": 12, "medium": 24, "high": 36}
GRID_POOL = "max"
# add: "exemplar" (an exemplar's shape placed in the mask, every unit there to the concept's levels), "levels" (every
# unit in the whole mask to the concept's levels) or "units" (the top-n units to their high level); without levels
# the first two fall back to "units", without exemplars "exemplar" to "levels".  Measured: docs/add_study.
ADD_MODES = ("exemplar", "levels", "units")
ADD_MODE = "exemplar"


def strength_units(dissection: dict | None = None) -> dict[str, int]:
    """Units per named strength: the dissection's own ``strength_units``, else ``STRENGTH_UNITS``."""
    return dict((dissection or {}).get("strength_units") or STRENGTH_UNITS)


def units_for(strength: str | float, dissection: dict | None = None) -> int:
    """How many units a strength uses: a name, or a float in [0, 1] as a share of the ``high`` count."""
    table = strength_units(dissection)
    if isinstance(strength, str):
        key = strength.strip().lower()
        if key not in table:
            raise ValueError(f"unknown strength {strength!r}; use {', '.join(table)} or a number in [0, 1]")
        return table[key]
    value = float(strength)
    if not 0.0 <= value <= 1.0 or np.isnan(value):
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    return max(1, round(value * table["high"]))


def paintable(dissection: dict | None) -> list[str]:
    """Concepts that have units in the dissection, in the dissection's order (its vocabulary)."""
    if not dissection:
        return []
    return [name for name, entry in dissection.get("concepts", {}).items() if entry.get("units")]


def vocabulary(dissection: dict | None) -> list[str]:
    """Every concept the dissection names: its paintable ones first, then the other labels of its units."""
    if not dissection:
        return []
    names = [*paintable(dissection), *dissection.get("concepts", {}), *(u.get("concept") for u in dissection["units"])]
    return [n for n in dict.fromkeys(names) if n]


def no_units_message(model: str = "this model") -> str:
    return (f"{model} has no unit lists (no dissection of its units), so it cannot add or remove concepts; "
            f"inversion, reconstruction and copy appearance work")


def concept_name(dissection: dict | None, concept: str) -> str:
    """``concept`` as the dissection names it; a ValueError lists the concepts this model can paint."""
    if not dissection:
        raise ValueError(no_units_message())
    key, names = str(concept).strip().lower(), paintable(dissection)
    if key in names:
        return key
    if key in vocabulary(dissection):
        raise ValueError(f"concept {key!r} has no units in this model's dissection, so it cannot be painted; "
                         f"paintable: {', '.join(names) or 'none'}")
    raise ValueError(f"unknown concept {concept!r} for this model; it can paint: {', '.join(names) or 'none'}")


def concept_units(dissection: dict | None, concept: str, n: int, action: str = "add") -> tuple[list[int], torch.Tensor]:
    """The top-``n`` units of ``concept`` for ``action`` and their ``high`` levels (C,); ValueError if it has none."""
    entry = dissection["concepts"][concept_name(dissection, concept)]
    units = (entry.get(f"{action}_units") or entry["units"])[:n]
    high = torch.tensor([float(dissection["units"][u]["high"]) for u in units])
    return list(units), high


@dataclass
class FineEdit:
    """The same blend at a finer layer: ``x' = (1 - a) x + a v`` on that layer's grid (the mask pooled to it)."""

    layer: str
    mask: np.ndarray            # bool SxS
    blend: float
    values: torch.Tensor        # (1, C, 1, 1) the concept's levels at that layer
    pool: str = GRID_POOL

    def apply(self, x: torch.Tensor, window=None) -> torch.Tensor:
        """The blend on the layer's output ``x``, or on its part ``window`` (a ``window_render.Window``)."""
        a = to_grid(self.mask, x.shape[-1] if window is None else window.size, self.pool).to(x) * self.blend
        if window is not None:
            a = window.of(a)
        return (1 - a) * x + a * self.values.to(x)


@dataclass
class Operation:
    """One edit: blend ``values`` into ``channels`` (None = all) where the grid alpha is set."""

    action: str                 # add | remove | appearance
    mask: np.ndarray            # bool SxS, the painted region at the model's size
    alpha: torch.Tensor         # (1, 1, g, g) the mask pooled to the layer grid
    channels: list[int] | None
    values: torch.Tensor        # (1, C', 1, 1) target levels
    concept: str = ""
    strength: str | float = ""
    painted: np.ndarray | None = None   # the mask as painted, where ``mask`` is the object placed in it
    fine: FineEdit | None = None        # the same add at the dissection's finer layer, where it has levels
    paste_levels: int | None = None     # the paste-back's multiband levels for this object (None: all)

    def apply(self, r: torch.Tensor) -> torch.Tensor:
        a, values = self.alpha.to(r), self.values.to(r)
        if self.channels is None:
            return (1 - a) * r + a * values
        out = r.clone()
        idx = torch.tensor(self.channels, device=r.device)
        out[:, idx] = (1 - a) * r[:, idx] + a * values
        return out


def concept_levels(dissection: dict | None, concept: str) -> torch.Tensor | None:
    """The concept's level of every unit (C,): its chosen look's where the dissection groups it into looks
    (``ganpaint_core.dissection.looks``), else the dissection's ``levels``; None where it has none."""
    entry = dissection["concepts"][concept_name(dissection, concept)]
    look = chosen_look(entry)
    levels = look["levels"] if look else entry.get("levels")
    return torch.tensor(levels, dtype=torch.float32) if levels else None


def level_blend(strength: str | float, dissection: dict | None = None, cap: float = 1.0) -> float:
    """The blend ``a`` of a levels add: the strength's units as a share of ``medium``'s, at most ``cap``."""
    return min(cap, units_for(strength, dissection) / strength_units(dissection)["medium"])


def exemplar_strength(strength: str | float, dissection: dict | None = None) -> tuple[float, float]:
    """An exemplar add's (blend, growth) for ``strength``, from its units as a share of ``medium``'s: the blend of
    the levels, that share up to 1 (low 0.5, medium 1); the growth, the share squared (low 0.25, medium 1, high
    2.25), divides the placement's penalty (``placement.concept_penalty``): a weak add draws a small, faded object,
    a strong one fills more of the painting.  A blend beyond the levels drew less of the concept, not more, and
    looked the same (docs/edits.md, round 4: adds)."""
    share = units_for(strength, dissection) / strength_units(dissection)["medium"]
    return min(1.0, share), share ** 2


# The paste-back's multiband bands for an added object (at 128 px; one more per doubling of the size): a small object
# blended in its coarse bands takes the photo's colour (a tree on grass fades to grass).  None: every band.
PASTE_LEVELS = {"tree": 2}      # docs/edits.md (Add): trees 0.79 -> 0.88 with placement.INSET; domes lose at 2


def paste_levels(concept: str, size: int) -> int | None:
    """The paste-back's multiband levels for an added ``concept`` at the model's ``size``; None for all."""
    levels = PASTE_LEVELS.get(concept)
    return None if levels is None else levels + max(0, int(round(np.log2(size / 128))))


def concept_operation(r: torch.Tensor, dissection: dict | None, mask: np.ndarray, concept: str, action: str,
                      strength: str | float = "medium", pool: str = GRID_POOL, add_mode: str = ADD_MODE,
                      exemplars: dict | None = None, photo_labels: np.ndarray | None = None,
                      names: tuple[str, ...] | None = None, fine: bool = True) -> Operation:
    """One add or remove.  An exemplar add places the object with ``exemplars`` (the model's, see
    ``ganpaint_core.dissection.exemplars``) and the segmenter's ``photo_labels`` named by ``names``; with
    ``fine`` it also sets the concept's levels at the dissection's finer layer, where it has them."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; choose from {', '.join(ACTIONS)}")
    if add_mode not in ADD_MODES:
        raise ValueError(f"unknown add mode {add_mode!r}; choose from {', '.join(ADD_MODES)}")
    name = concept_name(dissection, concept)
    levels = concept_levels(dissection, name) if action == "add" and add_mode != "units" else None
    if levels is not None:
        if levels.numel() != r.shape[1]:
            raise ValueError(f"the dissection's {name} levels have {levels.numel()} units; the layer has {r.shape[1]}")
        painted, blend = mask, level_blend(strength, dissection)
        if add_mode == "exemplar":
            blend, growth = exemplar_strength(strength, dissection)
            mask = object_region(mask, name, exemplars, photo_labels, names, concept_penalty(name, growth))
        finer = fine_levels(dissection, name) if fine and add_mode == "exemplar" else None
        return Operation(action, mask, to_grid(mask, r.shape[-1], pool) * blend, None, levels.view(1, -1, 1, 1),
                         name, strength, painted if add_mode == "exemplar" else None,
                         FineEdit(finer[0], mask, blend, finer[1], pool) if finer else None,
                         paste_levels(name, mask.shape[0]) if add_mode == "exemplar" else None)
    alpha = to_grid(mask, r.shape[-1], pool)
    units, high = concept_units(dissection, concept, units_for(strength, dissection), action)
    values = high if action == "add" else torch.zeros_like(high)
    return Operation(action, mask, alpha, units, values.view(1, -1, 1, 1), name, strength)


def appearance_operation(r: torch.Tensor, target: np.ndarray, reference: np.ndarray,
                         pool: str = GRID_POOL) -> Operation:
    """Target features take the channel means of ``r`` over the reference region (area-weighted on the grid)."""
    weight = to_grid(reference, r.shape[-1], "area")
    if float(weight.sum()) <= 0:
        raise ValueError("the reference mask is empty")
    means = (r * weight).sum(dim=(2, 3), keepdim=True) / weight.sum()
    return Operation("appearance", target, to_grid(target, r.shape[-1], pool), None, means.detach())


def apply_all(r: torch.Tensor, operations: list[Operation]) -> torch.Tensor:
    for op in operations:
        r = op.apply(r)
    return r


def fine_edits(operations) -> dict | None:
    """The operations' finer-layer edits as ``render_from``'s ``edit`` (layer -> function of the layer's output and
    an optional window of it), in order; None if none."""
    by_layer: dict[str, list[FineEdit]] = {}
    for op in operations:
        if op.fine is not None:
            by_layer.setdefault(op.fine.layer, []).append(op.fine)
    if not by_layer:
        return None

    def chain(edits):
        def run(x, window=None):
            for e in edits:
                x = e.apply(x, window)
            return x
        return run

    return {layer: chain(edits) for layer, edits in by_layer.items()}


def fine_levels(dissection: dict | None, concept: str) -> tuple[str, torch.Tensor] | None:
    """The dissection's finer layer and the concept's levels there (``fine_layer``, its chosen look's
    ``fine_levels`` where ``looks.FINE_LOOK`` lets it set them, else the concept's own), or None."""
    layer = (dissection or {}).get("fine_layer")
    look = chosen_fine_look(dissection["concepts"][concept], concept) if layer else None
    levels = (look["fine_levels"] if look else dissection["concepts"][concept].get("fine_levels")) if layer else None
    return (layer, torch.tensor(levels, dtype=torch.float32).view(1, -1, 1, 1)) if levels else None

"""The methods compared: the editor's variants, its ablations and the compositing baselines.

Each photo is inverted once; ``ours`` adapts G' to it, and the ablations
(``FITS``: weight adaptation, no regulariser) adapt their own G' to the same
inverted features, so that they differ from ours in the adaptation alone
(``Session.readapt``).  Every method renders a task from one of those sessions:

- ``ours``: the editor's output with its default options, as the app and the
  CLI give it (G' with its perturbations cleared inside the edit, pasted back
  into the photo by a multiband blend over the feathered, dilated edit mask);
- generator renders (the whole picture comes from the generator, no paste-back):
  ``ours_gen`` (G' alone: the paper's render), ``ours_keep`` (perturbations
  kept inside the edit: the design point), ``ours_refine`` (plus the
  warm-started re-fit ``session.refine()``), ``plain_g`` (G on the same
  inverted features, no adaptation), ``weights`` and ``no_reg`` (ablations:
  compare them with ``ours_gen``, which differs from them in the adaptation alone);
- ``ours_alpha``: ours' render (G', perturbations cleared) pasted back with the
  feathered alpha itself instead of the editor's multiband blend (the previous default);
- compositing baselines: G's render of the edit (``session.render(adapted=False)``)
  pasted into the photo over the same region as ours (``shared_region``: the
  editor's paste-back alpha, ``masks.paste_alpha``).  Feathered alpha blends with
  exactly that alpha; copy-paste, Poisson and the pyramid take its hard part (the
  dilated mask); nothing beyond the alpha's support changes, as for ours.

Every picture is made at the original photo's size, as a person sees it (``render``): the
model sees the photo's centred square at its own size, and each method's result goes back
into the photo the way the editor's ``Session.to_photo`` puts ours back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL.Image import Resampling

from eval.run.baselines import BASELINES, alpha_blend
from ganpaint_core.editing.masks import dilate, paste_alpha

BILINEAR, NEAREST = Resampling.BILINEAR, Resampling.NEAREST
REFERENCE = "ours"
FITS = {                       # fit name -> (adaptation, regulariser on)
    "ours": ("activations", True),
    "weights": ("weights", True),
    "no_reg": ("activations", False),
}


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    fit: str = REFERENCE                 # which fitted session it renders from (a FITS key)
    render: str = "adapted"              # adapted | plain | paste_back | keep | refine | composite
    composite: Callable | None = None    # the baselines function of a compositing method
    source: str = "plain"                # what a compositing method pastes: the render of G (plain) or of G' (adapted)

    @property
    def is_composite(self) -> bool:
        return self.composite is not None


_GENERATOR_METHODS = (
    Method("ours", "ours (G' + paste-back)", render="paste_back"),
    Method("ours_alpha", "ours, feathered paste-back", render="composite", composite=BASELINES["feather"],
           source="adapted"),
    Method("ours_gen", "ours, G' render"),
    Method("ours_keep", "ours, deltas kept", render="keep"),
    Method("ours_refine", "ours + refine", render="refine"),
    Method("plain_g", "plain G", render="plain"),
    Method("weights", "adapt weights", fit="weights"),
    Method("no_reg", "no regulariser", fit="no_reg"),
)
COMPOSITE_LABELS = {"copy_paste": "copy-paste", "feather": "feathered alpha", "poisson": "Poisson",
                    "poisson_mixed": "Poisson (mixed)", "pyramid": "Laplacian pyramid"}
_COMPOSITE_METHODS = tuple(Method(name, COMPOSITE_LABELS[name], render="composite", composite=fn)
                           for name, fn in BASELINES.items())
METHODS: dict[str, Method] = {m.name: m for m in _GENERATOR_METHODS + _COMPOSITE_METHODS}


def select(names: str | list[str] | None) -> list[Method]:
    """Methods by comma-separated names (``ours`` is always included, first); all when empty."""
    if not names:
        return list(METHODS.values())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    return [METHODS[REFERENCE]] + [METHODS[n] for n in dict.fromkeys(names) if n != REFERENCE]


def fits_needed(methods: list[Method]) -> list[str]:
    return list(dict.fromkeys(m.fit for m in methods))


def apply_edit(session, task, mask: np.ndarray, reference_mask: np.ndarray | None = None) -> None:
    """Run ``task`` on ``session`` after dropping earlier edits."""
    session.reset()
    if task.action == "appearance":
        session.copy_appearance(mask, reference_mask)
    else:
        session.edit(mask, task.concept, task.action)


@dataclass(frozen=True)
class Region:
    """Where an edit may change the photo: the same for every method."""

    alpha: np.ndarray     # float HxW in [0, 1]: the editor's paste-back alpha
    hard: np.ndarray      # bool HxW: the dilated mask (the part of ``alpha`` that is ~1)
    support: np.ndarray   # bool HxW: alpha > 0; no method changes a pixel beyond it

    @property
    def ring(self) -> np.ndarray:
        """The support outside the hard region: where a paste-back's transition lies."""
        return self.support & ~self.hard


def shared_region(mask: np.ndarray, options, crop=None) -> Region:
    """The edited region of the model-sized ``mask`` under the editor's paste-back ``options`` (FitOptions): at the
    model's size, or with ``crop`` (the photo's ``Crop``) at the original photo's size, the alpha scaled as the
    paste-back scales it (``compose.paste_into_photo``: bilinear) and the hard part by nearest neighbour."""
    alpha, hard = paste_alpha(mask, options), dilate(mask, options.paste_radius)
    if crop is not None:
        alpha = crop.to_photo(alpha, np.zeros((crop.height, crop.width), np.float32), BILINEAR).clip(0, 1)
        hard = crop.to_photo(hard, np.zeros((crop.height, crop.width), bool), NEAREST)
    alpha = alpha.astype(np.float64)
    return Region(alpha, hard, alpha > 0)


def composite(method: Method, photo: np.ndarray, source: np.ndarray, region: Region) -> np.ndarray:
    """``method``'s composite of ``source`` into ``photo`` over ``region``; the photo beyond its support."""
    if method.composite is BASELINES["feather"]:
        out = alpha_blend(photo, source, region.alpha)
    else:
        out = method.composite(photo, source, region.hard)
    return np.where(region.support[..., None], out, photo)


def render(method: Method, session, task, mask: np.ndarray, reference_mask: np.ndarray | None = None,
           refine_steps: int | None = None) -> np.ndarray:
    """``method``'s picture for ``task`` at the original photo's size (uint8 HxWx3), as a person sees it, from the
    session of its fit; ``mask`` at the model's size.

    Ours is the editor's own ``Session.to_photo`` (crop, fit, paste-back at the photo's size); a generator render
    fills the model's square of the photo, scaled to it; a compositing baseline pastes G's render, scaled to the
    photo, into the photo over the same region as ours at the photo's size (``shared_region`` with the crop).
    """
    apply_edit(session, task, mask, reference_mask)
    if method.render == "refine":
        session.refine(steps=refine_steps)
    if method.render == "paste_back":
        return session.to_photo()
    crop, photo = session.crop, session.original
    if method.render in ("plain", "composite"):
        source = crop.to_photo(session.render(adapted=method.source == "adapted"), photo)
        if method.render == "plain":
            return source
        return composite(method, photo, source, shared_region(mask, session.options, crop))
    if method.render == "keep":
        return crop.to_photo(session.render(adapted=True, paste_back=False, clear=False), photo)
    return crop.to_photo(session.render(adapted=True, paste_back=False), photo)

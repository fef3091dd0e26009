"""The methods compared: the editor's variants, its ablations and the compositing baselines.

Each photo is inverted once; ``ours`` adapts G' to it, and the ablations
(``FITS``: weight adaptation, no regulariser) adapt their own G' to the same
inverted features, so that they differ from ours in the adaptation alone
(``Session.readapt``).  Every method renders a task from one of those sessions:

- ``ours``: the editor's output with its default options, as the app and the
  CLI give it (G' with its perturbations cleared inside the edit, pasted back
  into the photo beyond the feathered, dilated edit mask);
- generator renders (the whole picture comes from the generator, no paste-back):
  ``ours_gen`` (G' alone: the paper's render), ``ours_keep`` (perturbations
  kept inside the edit: the design point), ``ours_refine`` (plus the
  warm-started re-fit ``session.refine()``), ``plain_g`` (G on the same
  inverted features, no adaptation), ``weights`` and ``no_reg`` (ablations:
  compare them with ``ours_gen``, which differs from them in the adaptation alone);
- compositing baselines: G's render of the edit (``session.render(adapted=False)``)
  pasted into the photo over G's edited region — the mask plus every pixel the
  edit moved by more than ``CHANGE_THRESHOLD`` (an edit at a coarse layer
  reaches beyond the brush; pasting only the brushed pixels would clip a new dome).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing

from eval.baselines import BASELINES

CHANGE_THRESHOLD = 12          # in 0..255: a G pixel that moved more than this belongs to the edited region
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

    @property
    def is_composite(self) -> bool:
        return self.composite is not None


_GENERATOR_METHODS = (
    Method("ours", "ours (G' + paste-back)", render="paste_back"),
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


def edited_region(before: np.ndarray, after: np.ndarray, mask: np.ndarray,
                  threshold: int = CHANGE_THRESHOLD) -> np.ndarray:
    """The mask plus the pixels that moved by more than ``threshold`` between two renders (holes closed)."""
    moved = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=-1) > threshold
    region = mask | moved
    return binary_closing(region, iterations=2) | region


def render(method: Method, session, task, mask: np.ndarray, reference_mask: np.ndarray | None = None,
           refine_steps: int | None = None) -> np.ndarray:
    """``method``'s picture for ``task`` (uint8 SxSx3), from the session of its fit."""
    apply_edit(session, task, mask, reference_mask)
    if method.render == "refine":
        session.refine(steps=refine_steps)
    if method.render in ("plain", "composite"):
        source = session.render(adapted=False)
        if method.render == "plain":
            return source
        region = edited_region(session.inversion(), source, mask)
        return method.composite(session.photo, source, region)
    if method.render == "keep":
        return session.render(adapted=True, paste_back=False, clear=False)
    return session.render(adapted=True, paste_back=method.render == "paste_back")

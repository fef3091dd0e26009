"""The methods compared: the editor's variants and the compositing baselines.

A *session method* fits its own editor session (``editor.fit(photo, **fit)``)
and renders the edit with it.  A *compositing method* reuses the ``ours``
session: it renders the edit with the unadapted generator G
(``session.render(adapted=False)``) and pastes G's edited region into the
photo with one of ``eval.baselines``.  G's edited region is the task mask
plus every pixel whose G render the edit changed by more than
``CHANGE_THRESHOLD`` (an edit at a coarse layer reaches beyond the brush, and
a compositor that pasted only the brushed pixels would clip a new dome).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import binary_closing

from eval.baselines import BASELINES

CHANGE_THRESHOLD = 12          # in 0..255: a G pixel that moved more than this belongs to the edited region
REFERENCE = "ours"


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    fit: dict = field(default_factory=dict)          # editor.fit keyword arguments (session methods)
    composite: Callable | None = None                # baselines function (compositing methods)

    @property
    def is_composite(self) -> bool:
        return self.composite is not None


SESSION_METHODS = (
    Method("ours", "ours (G')", {"adapt": "activations", "regularize": True}),
    Method("plain_g", "plain G", {"adapt": "none"}),
    Method("weights", "adapt weights", {"adapt": "weights", "regularize": True}),
    Method("no_reg", "no regulariser", {"adapt": "activations", "regularize": False}),
)
COMPOSITE_LABELS = {"copy_paste": "copy-paste", "feather": "feathered alpha", "poisson": "Poisson",
                    "poisson_mixed": "Poisson (mixed)", "pyramid": "Laplacian pyramid"}
COMPOSITE_METHODS = tuple(Method(name, COMPOSITE_LABELS[name], composite=fn) for name, fn in BASELINES.items())
METHODS: dict[str, Method] = {m.name: m for m in SESSION_METHODS + COMPOSITE_METHODS}


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


def apply_edit(session, task, mask: np.ndarray, reference_mask: np.ndarray | None = None) -> np.ndarray:
    """Run ``task`` on a freshly reset ``session``; the adapted render."""
    session.reset()
    if task.action == "appearance":
        return session.copy_appearance(mask, reference_mask)
    return session.edit(mask, task.concept, task.action)


def edited_region(before: np.ndarray, after: np.ndarray, mask: np.ndarray,
                  threshold: int = CHANGE_THRESHOLD) -> np.ndarray:
    """The mask plus the pixels that moved by more than ``threshold`` between two renders (holes closed)."""
    moved = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=-1) > threshold
    region = mask | moved
    return binary_closing(region, iterations=2) | region


def composite_sources(session, task, mask: np.ndarray, reference_mask: np.ndarray | None = None):
    """G's render of the edit and the region it changed, for the compositing methods."""
    session.reset()
    before = session.render(adapted=False)
    apply_edit(session, task, mask, reference_mask)
    source = session.render(adapted=False)
    return source, edited_region(before, source, mask)

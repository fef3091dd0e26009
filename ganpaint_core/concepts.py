"""The scene world's concept vocabulary: ids, names and display colours, defined once.

Label maps from the scene world and the segmenter use these ids; the default
model's dissection names units with these names.  What a model can paint is its
own dissection's vocabulary (``ganpaint_core.editing.edits.paintable``): the
church model's comes from GAN dissection's rankings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Concept:
    id: int
    name: str
    color: tuple[int, int, int]


CONCEPTS: tuple[Concept, ...] = (
    Concept(0, "sky", (120, 180, 240)),
    Concept(1, "cloud", (235, 235, 245)),
    Concept(2, "tree", (30, 120, 40)),
    Concept(3, "grass", (130, 210, 80)),
    Concept(4, "ground", (150, 115, 80)),
    Concept(5, "building", (205, 160, 120)),
    Concept(6, "roof", (170, 50, 40)),
    Concept(7, "dome", (80, 100, 190)),
    Concept(8, "door", (95, 55, 25)),
    Concept(9, "window", (250, 215, 60)),
)
NAMES: tuple[str, ...] = tuple(c.name for c in CONCEPTS)
NUM_CONCEPTS = len(CONCEPTS)
BY_NAME: dict[str, Concept] = {c.name: c for c in CONCEPTS}
PALETTE = np.array([c.color for c in CONCEPTS], dtype=np.uint8)


def concept_id(name: str) -> int:
    """The id of a concept name; a clear error lists the known names."""
    key = name.strip().lower()
    if key not in BY_NAME:
        raise ValueError(f"unknown concept {name!r}; known concepts: {', '.join(NAMES)}")
    return BY_NAME[key].id


def colorize(labels: np.ndarray) -> np.ndarray:
    """An RGB picture (uint8 HxWx3) of a label map (uint8 HxW)."""
    if labels.max(initial=0) >= NUM_CONCEPTS:
        raise ValueError(f"label id {int(labels.max())} is outside the vocabulary (0..{NUM_CONCEPTS - 1})")
    return PALETTE[labels]

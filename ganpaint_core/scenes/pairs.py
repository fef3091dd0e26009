"""Paired renders: the same scene with one object removed or added, and the edit's mask.

The mask is the exact support of the edit (pixels that change in a clean,
noise- and blur-free render, shadows included), dilated by the reach of the
photographic blur; outside it the two photographic renders are identical.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_dilation

from ganpaint_core.scenes.description import Scene, sample_scene, sample_tree
from ganpaint_core.scenes.render import render

PAIR_KINDS = ("remove_tree", "remove_door", "remove_dome", "remove_cloud", "remove_window",
              "add_tree", "add_dome", "add_door")
KIND_CONCEPT = {"remove_tree": "tree", "remove_door": "door", "remove_dome": "dome", "remove_cloud": "cloud",
                "remove_window": "window", "add_tree": "tree", "add_dome": "dome", "add_door": "door"}


@dataclass
class ScenePair:
    seed: int
    kind: str
    concept: str
    before_rgb: np.ndarray
    before_labels: np.ndarray
    after_rgb: np.ndarray
    after_labels: np.ndarray
    mask: np.ndarray            # bool HxW: where the edit may change pixels

    @property
    def action(self) -> str:
        return self.kind.split("_")[0]


def edited_scene(scene: Scene, kind: str) -> Scene:
    """The scene after the edit ``kind``; ValueError when the scene has nothing to edit."""
    if kind not in PAIR_KINDS:
        raise ValueError(f"unknown pair kind {kind!r}; choose from {', '.join(PAIR_KINDS)}")
    out = copy.deepcopy(scene)
    b = out.building
    rng = np.random.default_rng([scene.seed, 17, PAIR_KINDS.index(kind)])
    if kind == "remove_tree":
        if not out.trees:
            raise ValueError(f"scene {scene.seed} has no tree to remove")
        # The tree nearest the viewer is the most visible one.
        out.trees.pop(int(np.argmax([t.base for t in out.trees])))
    elif kind == "remove_cloud":
        if not out.clouds:
            raise ValueError(f"scene {scene.seed} has no cloud to remove")
        out.clouds.pop(int(np.argmax([c.width for c in out.clouds])))
    elif kind in ("remove_door", "remove_dome", "remove_window", "add_dome", "add_door") and b is None:
        raise ValueError(f"scene {scene.seed} has no building")
    elif kind == "remove_door":
        if b.door is None:
            raise ValueError(f"scene {scene.seed} has no door")
        b.door = None
    elif kind == "remove_window":
        if b.windows is None:
            raise ValueError(f"scene {scene.seed} has no windows")
        b.windows = None
    elif kind == "remove_dome":
        if b.roof != "dome":
            raise ValueError(f"scene {scene.seed} has no dome roof")
        b.roof, b.roof_height = "pitched", b.roof_height * 0.8
    elif kind == "add_dome":
        if b.roof == "dome":
            raise ValueError(f"scene {scene.seed} already has a dome")
        b.roof, b.roof_height = "dome", b.roof_height * 1.2
    elif kind == "add_door":
        if b.door is not None:
            raise ValueError(f"scene {scene.seed} already has a door")
        raise ValueError("add_door needs a door-less scene")  # every sampled building has a door
    elif kind == "add_tree":
        tree = sample_tree(rng, out.horizon, b, front=True)
        out.trees = sorted([*out.trees, tree], key=lambda t: t.base)
    return out


def render_pair(seed: int, size: int = 128, kind: str = "remove_tree") -> ScenePair:
    """Render scene ``seed`` before and after the edit ``kind``."""
    before = sample_scene(seed)
    if kind == "add_door":
        # Built from remove_door run backwards: the door-less scene is the "before".
        pair = render_pair(seed, size, "remove_door")
        return ScenePair(seed, kind, "door", pair.after_rgb, pair.after_labels, pair.before_rgb,
                         pair.before_labels, pair.mask)
    after = edited_scene(before, kind)
    clean_a = render(before, size, blur=False, noise=False)[0]
    clean_b = render(after, size, blur=False, noise=False)[0]
    support = np.any(clean_a != clean_b, axis=-1)
    if not support.any():
        raise ValueError(f"scene {seed}: the {kind} edit changes no pixel at {size} px")
    reach = int(np.ceil(3 * 0.45 * size / 128)) + 1
    mask = binary_dilation(support, iterations=reach)
    rgb_a, lab_a = render(before, size)
    rgb_b, lab_b = render(after, size)
    return ScenePair(seed, kind, KIND_CONCEPT[kind], rgb_a, lab_a, rgb_b, lab_b, mask)


def find_pairs(kind: str, n: int, seed_start: int, size: int = 128, min_pixels: int = 24, max_tries: int = 1000):
    """The first ``n`` applicable pairs of ``kind`` from ``seed_start`` on.

    Pairs whose edit changes fewer than ``min_pixels`` labels (an occluded door, say) are passed over.
    """
    pairs, seed = [], seed_start
    while len(pairs) < n and seed < seed_start + max_tries:
        try:
            pair = render_pair(seed, size, kind)
            if (pair.before_labels != pair.after_labels).sum() >= min_pixels:
                pairs.append(pair)
        except ValueError:
            pass
        seed += 1
    if len(pairs) < n:
        raise ValueError(f"found only {len(pairs)} {kind} pairs in {max_tries} seeds from {seed_start}")
    return pairs

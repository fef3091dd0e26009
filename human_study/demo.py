"""A tiny synthetic pairs folder in the evaluation's layout, for tests and demos (no evaluation run needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from human_study.common import ACTIONS, REFERENCE, write_csv
from human_study.pairs import PAIR_COLUMNS

DEMO_BASELINES = ("copy_paste", "poisson", "plain_g")


def write_demo_pairs(folder: Path, tasks: int = 6, baselines=DEMO_BASELINES, size: int = 48, seed: int = 0) -> Path:
    """``folder/manifest.csv`` and ``folder/images/<task>/{original,mask,ours,<baseline>}.png``."""
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    rows = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for t in range(tasks):
        tid = f"task{t:03d}"
        images = folder / "images" / tid
        images.mkdir(parents=True, exist_ok=True)
        base = np.stack([yy * 200 + rng.uniform(0, 55), xx * 200 + rng.uniform(0, 55), np.full_like(xx, 120)], -1)
        original = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
        mask = np.zeros((size, size), bool)
        top, left = rng.integers(4, size // 2, 2)
        mask[top:top + size // 3, left:left + size // 3] = True
        Image.fromarray(original).save(images / "original.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(images / "mask.png")
        for k, method in enumerate((REFERENCE, *baselines)):
            edited = original.copy()
            edited[mask] = np.clip(edited[mask].astype(int) + 30 * (k + 1) * np.array([1, -1, 1]), 0, 255)
            Image.fromarray(edited).save(images / f"{method}.png")
        action = ACTIONS[t % len(ACTIONS)]
        for other in baselines:
            rows.append({"pair_id": f"{tid}__{REFERENCE}_vs_{other}", "task_id": tid, "action": action,
                         "concept": "tree", "method_a": REFERENCE, "method_b": other,
                         "image_a": f"images/{tid}/{REFERENCE}.png", "image_b": f"images/{tid}/{other}.png",
                         "original": f"images/{tid}/original.png", "mask": f"images/{tid}/mask.png"})
    write_csv(folder / "manifest.csv", PAIR_COLUMNS, rows)
    return folder

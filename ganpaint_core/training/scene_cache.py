"""Pre-rendered scene-world data sets, cached as .npy files for fast training.

``load_scenes(n, size, seed_start)`` renders scenes ``seed_start … seed_start+n-1``
once (in a process pool) and memory-maps the cached arrays afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFAULT_CACHE = Path(os.environ.get("GANPAINT_DATA", "runs/data"))


def load_scenes(n: int, size: int, seed_start: int = 0, cache_dir: Path | str = DEFAULT_CACHE,
                workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (n,S,S,3) and labels (n,S,S), uint8, rendered once and cached."""
    cache_dir = Path(cache_dir)
    stem = cache_dir / f"scenes_{size}px_{seed_start}_{n}"
    img_path, lab_path = Path(f"{stem}_images.npy"), Path(f"{stem}_labels.npy")
    if not (img_path.exists() and lab_path.exists()):
        from ganpaint_core.scenes import render_batch

        cache_dir.mkdir(parents=True, exist_ok=True)
        images, labels = render_batch(range(seed_start, seed_start + n), size, workers=workers or os.cpu_count())
        for path, arr in ((img_path, images), (lab_path, labels)):
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, arr)
            tmp.replace(path)
    return np.load(img_path, mmap_mode="r"), np.load(lab_path, mmap_mode="r")

"""Realism over an evaluation run's pictures, and the fixed check set that shows the score's ordering.

The score and KID themselves are the library's (``ganpaint_core.realism``: the discriminator's verdict plus the
typicality of its patches); docs/eval/realism.md gives the measured ordering of real scenes, generator samples and
crude composites.
"""

from __future__ import annotations

import numpy as np
import torch

from ganpaint_core.realism import REALISM_SEED_OFFSET, STAGES, RealismModel, SquareView

__all__ = ["PHOTO", "STAGES", "RealismModel", "SquareView", "measure_run", "ordering_sets"]


def ordering_sets(generator, n: int = 64, seed: int = 1) -> dict[str, np.ndarray]:
    """A fixed check set of uint8 pictures: held-out real scenes (``real``; other seeds than the references),
    the generator's samples (``generated``) and crude copy-paste (``copy_paste``: each real scene with a hard-edged
    square from another real scene pasted at another place, ``copy_paste_generated``: from a generator sample)."""
    from ganpaint_core.imaging import to_uint8
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    size = generator.resolution
    start = HELDOUT_SEED_START + REALISM_SEED_OFFSET + 1_000_000 + seed * 2 * n
    real = np.stack([render(sample_scene(start + i), size)[0] for i in range(n)])
    donor = np.stack([render(sample_scene(start + n + i), size)[0] for i in range(n)])
    with torch.inference_mode():
        generated = to_uint8(generator(torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(seed))))
    rng = np.random.default_rng(seed)
    pasted, pasted_gen = real.copy(), real.copy()
    for i in range(n):
        side = int(rng.integers(size // 4, size * 7 // 16))
        y, x, y2, x2 = rng.integers(0, size - side, 4)
        pasted[i, y:y + side, x:x + side] = donor[i, y2:y2 + side, x2:x2 + side]
        pasted_gen[i, y:y + side, x:x + side] = generated[(i + 1) % n, y2:y2 + side, x2:x2 + side]
    return {"real": real, "generated": generated, "copy_paste": pasted, "copy_paste_generated": pasted_gen}


PHOTO = "photo"   # the unedited photos, a reference row of the KID table


def measure_run(out, edits, order: list[str], model: RealismModel, size: int | None = None) -> tuple:
    """Realism of a run's saved pictures (``pairs/images/<task>/<method>.png``): (per picture: task_id, method,
    realism; per method and for the unedited photos: n, kid, kid_std), as DataFrames.  KID uses the tasks every
    method rendered, in task order, so all methods are compared on the same subsets.  With ``size`` (the model's),
    pictures at a photo's own size are measured on the model's square of them (``photo.square_crop``), as the
    discriminator sees photos."""
    import pandas as pd
    from PIL import Image
    from tqdm import tqdm

    from ganpaint_core.photo import square_crop

    def read(path):
        picture = np.asarray(Image.open(path).convert("RGB"))
        return picture if size is None or picture.shape[:2] == (size, size) else square_crop(picture, size)[0]

    images = out / "pairs" / "images"
    tasks = sorted(t for t, g in edits.groupby("task_id") if set(order) <= set(g["method"])
                   and all((images / str(t) / f"{m}.png").is_file() for m in (*order, "original")))
    rows, kids = [], []
    for name in tqdm([*order, PHOTO], desc="realism", unit="method"):
        file = "original" if name == PHOTO else name
        pictures = np.stack([read(images / str(t) / f"{file}.png") for t in tasks]) \
            if tasks else np.zeros((0, 1, 1, 3), np.uint8)
        if len(tasks):
            rows += [{"task_id": t, "method": name, "realism": s} for t, s in zip(tasks, model.score(pictures),
                                                                                  strict=True)]
        mean, std = model.kid(pictures) if len(tasks) >= 2 else (float("nan"), float("nan"))
        kids.append({"method": name, "n": len(tasks), "kid": mean, "kid_std": std})
    return pd.DataFrame(rows, columns=["task_id", "method", "realism"]), pd.DataFrame(kids)

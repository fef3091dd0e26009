"""Putting a model-sized edit back into a photo at the photo's own resolution (the one way to do it).

The model sees a centred square of the photo resized to its resolution.  Only
the edit region (dilated by ``radius`` and feathered by ``sigma`` at the
model's size, then scaled to the photo) is blended in; every pixel where that
alpha is zero is the photo's own, bit for bit.  The editor's paste-back, the
CLI, the demo and the evaluation all go through ``paste_into_photo``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganpaint_core.editing.masks import feather
from ganpaint_core.photo import Crop


def paste_into_photo(photo: np.ndarray, crop: Crop, image: np.ndarray, region: np.ndarray, radius: int = 2,
                     sigma: float = 1.0) -> np.ndarray:
    """``photo`` (uint8 HxWx3, the size ``crop`` was made for) with the model-sized ``image`` blended in over
    ``region`` (bool SxS) grown by ``radius`` and feathered by ``sigma``; a new array."""
    photo = np.asarray(photo)
    if photo.shape[:2] != (crop.height, crop.width):
        raise ValueError(f"the photo is {photo.shape[1]}x{photo.shape[0]}; this crop belongs to a "
                         f"{crop.width}x{crop.height} photo")
    if image.shape[:2] != (crop.size, crop.size) or region.shape != (crop.size, crop.size):
        raise ValueError(f"the render and region must be {crop.size}x{crop.size} (the model's size)")
    out = photo.copy()
    if not region.any():
        return out
    alpha = feather(region, radius, sigma).astype(np.float32)
    side = crop.side
    if side != crop.size:
        image = np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS))
        alpha = np.asarray(Image.fromarray(alpha).resize((side, side), Image.Resampling.BILINEAR)).clip(0, 1)
    alpha = alpha[..., None]
    box = out[crop.top:crop.top + side, crop.left:crop.left + side]
    box[...] = np.round(alpha * image.astype(np.float32) + (1 - alpha) * box.astype(np.float32)).astype(np.uint8)
    return out

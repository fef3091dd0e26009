"""Putting a model-sized edit back into the full-size photo, touching only the edited region.

The model sees a centred square resized to its resolution.  Resizing the whole
result back would blur the untouched parts of a large photo, so only the
feathered edit region is blended in; every other pixel is the original's.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganpaint_core.editing.masks import feather


def compose_edit(session, radius: int = 2, sigma: float = 1.0) -> np.ndarray:
    """The session's current edit at the original photo's size (uint8 HxWx3)."""
    original = session.original
    if not session.operations:
        return original.copy()
    crop = session.crop
    result = session.render(paste_back=True)
    alpha = feather(session.edited_region(), radius, sigma).astype(np.float32)
    side = crop.side
    patch = np.asarray(Image.fromarray(result).resize((side, side), Image.Resampling.LANCZOS), np.float32)
    a = np.asarray(Image.fromarray(alpha).resize((side, side), Image.Resampling.BILINEAR), np.float32)[..., None]
    out = original.copy()
    box = out[crop.top:crop.top + side, crop.left:crop.left + side].astype(np.float32)
    out[crop.top:crop.top + side, crop.left:crop.left + side] = np.clip(
        np.round(a * patch + (1 - a) * box), 0, 255).astype(np.uint8)
    return out

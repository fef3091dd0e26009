"""Growing a bool mask by whole pixels: the one dilation that edits, paste-back and metrics share."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a 3x3 cross ``radius`` times)."""
    mask = np.asarray(mask, dtype=bool)
    return binary_dilation(mask, iterations=radius) if radius > 0 and mask.any() else mask.copy()

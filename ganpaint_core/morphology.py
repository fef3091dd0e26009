"""Growing or shrinking a bool mask by whole pixels: the one dilation that edits, paste-back and metrics share."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a 3x3 cross ``radius`` times)."""
    mask = np.asarray(mask, dtype=bool)
    return binary_dilation(mask, iterations=radius) if radius > 0 and mask.any() else mask.copy()


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` shrunk by ``radius`` pixels (a 3x3 cross ``radius`` times; the picture's border counts as outside)."""
    mask = np.asarray(mask, dtype=bool)
    return binary_erosion(mask, iterations=radius) if radius > 0 and mask.any() else mask.copy()

"""Growing or shrinking a bool mask by whole pixels: the one dilation that edits, paste-back and metrics share."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a 3x3 cross ``radius`` times; nothing grows in from beyond the border).

    OpenCV's dilation: scipy's ``binary_dilation(mask, iterations=radius)`` bit for bit, 10x faster at 128 px
    (tests/test_editor_speed.py)."""
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0 or not mask.any():
        return mask.copy()
    if mask.ndim != 2:              # scipy's n-dimensional cross
        return binary_dilation(mask, iterations=radius)
    return cv2.dilate(np.ascontiguousarray(mask).view(np.uint8), _CROSS, iterations=int(radius)).view(bool)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` shrunk by ``radius`` pixels (a 3x3 cross ``radius`` times; the picture's border counts as outside)."""
    mask = np.asarray(mask, dtype=bool)
    return binary_erosion(mask, iterations=radius) if radius > 0 and mask.any() else mask.copy()

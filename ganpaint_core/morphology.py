"""Growing or shrinking a bool mask by whole pixels: the one dilation that edits, paste-back and metrics share."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels (a 3x3 cross ``radius`` times; nothing beyond the border).  A 2-D mask
    is grown by OpenCV, the same pixels as scipy's ``binary_dilation`` (tests/test_morphology.py) at a tenth of its
    cost; an edit grows several masks."""
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0 or not mask.any():
        return mask.copy()
    if mask.ndim != 2:
        return binary_dilation(mask, iterations=radius)
    grown = cv2.dilate(np.ascontiguousarray(mask).view(np.uint8), _CROSS, iterations=int(radius),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return grown.astype(bool)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` shrunk by ``radius`` pixels (a 3x3 cross ``radius`` times; the picture's border counts as outside).
    A 2-D mask is shrunk by OpenCV, the same pixels as scipy's ``binary_erosion`` (an add's inset: a tenth of
    its cost)."""
    mask = np.asarray(mask, dtype=bool)
    if radius <= 0 or not mask.any():
        return mask.copy()
    if mask.ndim != 2:
        return binary_erosion(mask, iterations=radius)
    shrunk = cv2.erode(np.ascontiguousarray(mask).view(np.uint8), _CROSS, iterations=int(radius),
                       borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return shrunk.astype(bool)

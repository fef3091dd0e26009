"""Seam score: how visible the boundary of an edited region is.

Across the boundary of the region every method pastes (the dilated mask), a
visible seam is an edge that the photo does not have there.  The score is the
mean, over a ring of ``width`` pixels on both sides of that boundary, of the
gradient magnitude of the result in excess of the photo's own gradient
magnitude at the same pixels (0 when the result is no edgier than the photo
there; in grey levels per pixel, 0..255 scale).  Edges that an edit rightly
draws at its boundary count too, but they do for every method alike, since all
of them paste the same region.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_erosion, sobel

from ganpaint_core.editing.masks import dilate

RING_WIDTH = 2


def boundary_ring(region: np.ndarray, width: int = RING_WIDTH) -> np.ndarray:
    """The pixels within ``width`` of the boundary of the bool ``region``, on either side."""
    region = np.asarray(region, dtype=bool)
    if not region.any() or region.all():
        return np.zeros_like(region)
    inner = binary_erosion(region, iterations=width, border_value=1)
    return dilate(region, width) & ~inner


def gradient_magnitude(img: np.ndarray) -> np.ndarray:
    """Per-pixel gradient magnitude (Sobel, largest over the colour channels; 0..255 per pixel scale)."""
    x = np.asarray(img, dtype=np.float64)
    x = x[..., None] if x.ndim == 2 else x
    mags = [np.hypot(sobel(x[..., c], axis=0), sobel(x[..., c], axis=1)) / 8 for c in range(x.shape[-1])]
    return np.max(mags, axis=0)


def seam_score(img: np.ndarray, photo: np.ndarray, region: np.ndarray, width: int = RING_WIDTH) -> float:
    """Mean excess gradient magnitude of ``img`` over ``photo`` across the boundary of ``region``."""
    if img.shape != photo.shape:
        raise ValueError(f"picture {img.shape} and photo {photo.shape} differ in size")
    ring = boundary_ring(region, width)
    if not ring.any():
        return float("nan")
    excess = np.maximum(gradient_magnitude(img) - gradient_magnitude(photo), 0.0)
    return float(excess[ring].mean())

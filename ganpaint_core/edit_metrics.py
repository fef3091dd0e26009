"""The few measurements the editor reports about itself (the evaluation has the full set in ``eval.metrics``).

All pictures are uint8 HxWx3; regions are bool HxW.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from ganpaint_core.concepts import concept_id
from ganpaint_core.masks import dilate


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    """PSNR (peak 255) over ``region`` (all pixels when None); NaN for an empty region, 100 when identical."""
    region = np.ones(a.shape[:2], bool) if region is None else region
    if not region.any():
        return float("nan")
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2)[region].mean())
    return 100.0 if mse <= 255.0**2 * 1e-10 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, channel_axis=-1, data_range=255))


def margin(size: int) -> int:
    """How far "outside the mask" starts: 1/32 of the picture (4 px at 128), as in the evaluation."""
    return max(1, round(size / 32))


def outside(mask: np.ndarray) -> np.ndarray:
    """The pixels farther than ``margin`` from the mask."""
    return ~dilate(mask, margin(mask.shape[0]))


def concept_share(labels: np.ndarray, concept: str, region: np.ndarray) -> float:
    """The share of ``region`` labelled ``concept``; NaN for an empty region."""
    return float((labels[region] == concept_id(concept)).mean()) if region.any() else float("nan")

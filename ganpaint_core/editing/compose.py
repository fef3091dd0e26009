"""Putting a model-sized edit back into a photo at the photo's own resolution (the one way to do it).

The model sees a centred square of the photo resized to its resolution.  Only
the edit region (dilated by ``radius`` and feathered by ``sigma`` at the
model's size, then scaled to the photo) is blended in; every pixel where that
alpha is zero is the photo's own, bit for bit.  The editor's paste-back, the
CLI, the demo and the evaluation all go through ``paste_into_photo``.

Two blends: ``alpha`` (the render times the alpha plus the photo times one minus
it) and ``multiband``: Burt & Adelson's Laplacian pyramid blend with the alpha's
Gaussian pyramid, so that each frequency band crosses over at its own scale and
the render's colour meets the photo's without a visible edge, then alpha-blended
like the render itself, since the pyramid's coarse bands reach beyond the region
(docs/eval/summary.md measures the two).  The pyramid is built at the model's
size, where the render lives, and the result scaled to the photo like the render.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ganpaint_core.editing.masks import feather
from ganpaint_core.photo import Crop

BLENDS = ("multiband", "alpha")


def multiband_blend(photo: np.ndarray, source: np.ndarray, alpha: np.ndarray, levels: int | None = None) -> np.ndarray:
    """Laplacian pyramid blend (Burt & Adelson 1983) of two uint8 HxWx3 pictures under a float HxW ``alpha`` in
    [0, 1] (1: ``source``), ``levels`` bands (default: down to about 4 px); uint8 HxWx3.

    Each band is ``m L(source) + (1 - m) L(photo)`` (m: the alpha's Gaussian pyramid); the bands are linear, so
    their sum is the photo plus the blend of ``m L(source - photo)``: one pyramid, of the difference.  In float32
    (5x faster than float64 at 128 px): against the two pyramids' blend in float64 a pixel's rounding differs by
    at most one level, on 2 of 983,040 values of 20 scene pictures (tests/test_editor_photo.py, docs/speed.md)."""
    most = max(1, int(np.log2(max(min(alpha.shape), 1))) - 2)
    n = most if levels is None else max(1, min(levels, most))
    gp_d = [cv2.subtract(np.asarray(source), np.asarray(photo), dtype=cv2.CV_32F)]
    gp_m = [np.asarray(alpha, dtype=np.float32)]
    for _ in range(n - 1):
        gp_d.append(cv2.pyrDown(gp_d[-1]))
        gp_m.append(cv2.pyrDown(gp_m[-1]))

    def up(x, like):
        return cv2.pyrUp(x, dstsize=(like.shape[1], like.shape[0]))

    blended = None
    for level in reversed(range(n)):
        d = gp_d[level]
        if level < n - 1:
            d = d - up(gp_d[level + 1], d)
        band = (gp_m[level][..., None] if d.ndim == 3 else gp_m[level]) * d
        blended = band if blended is None else band + up(blended, band).reshape(band.shape)
    blended += photo
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def paste_into_photo(photo: np.ndarray, crop: Crop, image: np.ndarray, region: np.ndarray, radius: int = 2,
                     sigma: float = 1.0, blend: str = "multiband", levels: int | None = None) -> np.ndarray:
    """``photo`` (uint8 HxWx3, the size ``crop`` was made for) with the model-sized ``image`` blended in over
    ``region`` (bool SxS) grown by ``radius`` and feathered by ``sigma``, by ``blend`` (``BLENDS``; ``levels``:
    the multiband blend's bands, None for all down to about 4 px); a new array.
    Beyond the feathered region's support every pixel is the photo's own."""
    if blend not in BLENDS:
        raise ValueError(f"unknown blend {blend!r}; choose from {', '.join(BLENDS)}")
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
    box = out[crop.top:crop.top + side, crop.left:crop.left + side]
    if blend == "multiband":   # at the model's size, so its cost does not grow with the photo (4.5 s at 12 MP)
        small = box if side == crop.size else np.asarray(
            Image.fromarray(box).resize((crop.size, crop.size), Image.Resampling.LANCZOS))
        image = multiband_blend(small, image, alpha, levels)
    # Only the alpha's support (grown by the bilinear upscale's one-pixel reach) is resized and blended: on a
    # 24-megapixel photo resizing and blending the whole square took seconds.  ``box=`` resizes a part of the
    # picture exactly as the whole resize would, so the result is the same.
    ys, xs = np.nonzero(alpha > 0)
    scale = side / crop.size
    y0, x0 = (max(0, int(np.floor((v.min() - 2) * scale))) for v in (ys, xs))
    y1, x1 = (min(side, int(np.ceil((v.max() + 3) * scale))) for v in (ys, xs))
    part = box[y0:y1, x0:x1]
    if side != crop.size:
        source = (x0 / scale, y0 / scale, x1 / scale, y1 / scale)
        image = np.asarray(Image.fromarray(image).resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS, box=source))
        alpha = np.asarray(Image.fromarray(alpha).resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR,
                                                         box=source)).clip(0, 1)
    else:
        image, alpha = image[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    alpha = alpha[..., None]     # the pyramid's coarse bands reach beyond the region: taper them off with the alpha
    part[...] = np.round(alpha * image.astype(np.float32) + (1 - alpha) * part.astype(np.float32)).astype(np.uint8)
    return out

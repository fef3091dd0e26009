"""Texture sources: real photographs shipped by scikit-image, and fractal noise.

``photo_texture(name)`` gives a zero-mean, unit-std float32 version of the
512x512 grayscale ``brick``, ``grass`` or ``gravel`` photo; ``sample`` reads it
tiled at a chosen scale and offset.  ``fractal_noise`` sums octaves of
bilinearly enlarged random grids.  Everything is plain numpy, so a seed gives
the same pixels on any machine.
"""

from __future__ import annotations

from functools import cache

import numpy as np

PHOTO_TEXTURES = ("brick", "grass", "gravel")


@cache
def photo_texture(name: str) -> np.ndarray:
    if name not in PHOTO_TEXTURES:
        raise ValueError(f"unknown texture {name!r}; choose from {PHOTO_TEXTURES}")
    import skimage.data

    img = getattr(skimage.data, name)().astype(np.float32)
    img = img - img.mean()
    return img / (img.std() + 1e-6)


def sample(tex: np.ndarray, ys: np.ndarray, xs: np.ndarray, scale: float, offset: tuple[float, float]) -> np.ndarray:
    """Read ``tex`` (tiled) at pixel coordinates (ys, xs) magnified by ``1/scale`` (nearest texel)."""
    h, w = tex.shape
    iy = np.floor(ys * scale + offset[0]).astype(np.int64) % h
    ix = np.floor(xs * scale + offset[1]).astype(np.int64) % w
    return tex[iy, ix]


def enlarge(grid: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear enlargement of a small 2-D grid to (out_h, out_w)."""
    gh, gw = grid.shape
    y = np.linspace(0, gh - 1, out_h)
    x = np.linspace(0, gw - 1, out_w)
    y0 = np.minimum(np.floor(y).astype(int), gh - 2)
    x0 = np.minimum(np.floor(x).astype(int), gw - 2)
    fy = (y - y0)[:, None]
    fx = (x - x0)[None, :]
    a = grid[y0][:, x0]
    b = grid[y0][:, x0 + 1]
    c = grid[y0 + 1][:, x0]
    d = grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def fractal_noise(rng: np.random.Generator, h: int, w: int, base: int = 4, octaves: int = 4,
                  persistence: float = 0.5) -> np.ndarray:
    """Zero-mean noise with detail at ``octaves`` scales, roughly unit std."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        cells = base * 2**k
        grid = rng.standard_normal((cells + 2, cells + 2)).astype(np.float32)
        out += amp * enlarge(grid, h, w).astype(np.float32)
        total += amp**2
        amp *= persistence
    return out / np.sqrt(total)

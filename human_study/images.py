"""Study images: anonymised copies (content-hashed names) and obviously broken composites for catch trials."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from human_study.common import IMAGE_DIR


def store_image(data: bytes, study: Path) -> str:
    """Write ``data`` (PNG bytes) under ``study/img/`` by content hash; return its path relative to ``study``.

    Hashed names keep method names out of everything a participant can see."""
    name = f"{IMAGE_DIR}/{hashlib.sha256(data).hexdigest()[:20]}.png"
    path = study / name
    if not path.exists():
        path.write_bytes(data)
    return name


UPSCALE_FILTER = "Lanczos"     # PIL's Image.LANCZOS (windowed sinc, a = 3): sharp, little ringing


def upscaled(rgb: np.ndarray, display_px: int) -> np.ndarray:
    """``rgb`` enlarged with Lanczos so that its longer side is ``display_px`` (unchanged if it already is at least
    that large, or if ``display_px`` is 0): the browser then shows it at about its own size instead of stretching
    a small picture with its own filter."""
    h, w = rgb.shape[:2]
    if not display_px or max(h, w) >= display_px:
        return rgb
    scale = display_px / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))


PNG_LEVEL = 3   # zlib level: at 512 px about 7x faster to write than PIL's default 6, files about 10% larger


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def load_mask(path: Path | None, shape: tuple[int, int]) -> np.ndarray:
    if path is None or not Path(path).is_file():
        return np.zeros(shape, bool)
    with Image.open(path) as im:
        mask = np.asarray(im.convert("L").resize(shape[::-1], Image.NEAREST)) > 127
    return mask


def damage_box(mask: np.ndarray, min_share: float = 0.4) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) around the mask, grown to at least ``min_share`` of each side, inside the image."""
    h, w = mask.shape
    if mask.any():
        ys, xs = np.nonzero(mask)
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    else:
        cy, cx, bh, bw = h / 2, w / 2, 0, 0
    bh, bw = max(bh, int(round(min_share * h))), max(bw, int(round(min_share * w)))
    top = int(np.clip(round(cy - bh / 2), 0, h - bh))
    left = int(np.clip(round(cx - bw / 2), 0, w - bw))
    return top, top + bh, left, left + bw


def broken_composite(original: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                     style: str = "scramble") -> np.ndarray:
    """An obviously broken edit of ``original``: inside a box around the mask, ``scramble`` shuffles 8-pixel
    tiles, inverts their colours and blends in a magenta/green checkerboard; ``block`` pastes a flat magenta block."""
    out = original.copy()
    top, bottom, left, right = damage_box(mask)
    region = out[top:bottom, left:right]
    if style == "block":
        region[:] = (255, 0, 255)
        return out
    tile = 8
    h, w = (region.shape[0] // tile) * tile, (region.shape[1] // tile) * tile
    if h and w:
        tiles = region[:h, :w].reshape(h // tile, tile, w // tile, tile, 3).swapaxes(1, 2).reshape(-1, tile, tile, 3)
        tiles = tiles[rng.permutation(len(tiles))]
        region[:h, :w] = tiles.reshape(h // tile, w // tile, tile, tile, 3).swapaxes(1, 2).reshape(h, w, 3)
    yy, xx = np.mgrid[0:region.shape[0], 0:region.shape[1]] // tile
    checker = np.where(((yy + xx) % 2 == 0)[..., None], (255, 0, 255), (0, 255, 0))
    region[:] = ((255 - region[..., ::-1].astype(int)) + checker) // 2
    return out

"""Every kind of file a user can upload, with what the editor's one loader must make of it."""

from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from conftest import make_photo
from PIL import Image, ImageOps

H, W = 48, 64


@functools.cache
def _huge_png_bytes(side: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _huge_png(path: Path, side: int = 20000) -> None:
    """A valid greyscale PNG of side x side black pixels that is small on disk (a decompression bomb); compressed
    once per session (seconds), written wherever a test asks."""
    path.write_bytes(_huge_png_bytes(side))


def build(folder: Path) -> tuple[dict[str, tuple[Path, np.ndarray]], dict[str, tuple[Path, str]]]:
    """(good: name -> (file, the upright RGB uint8 picture expected), bad: name -> (file, words of the error))."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = make_photo(H, W, seed=5)
    grey = rgb.mean(axis=-1).round().astype(np.uint8)
    good: dict[str, tuple[Path, np.ndarray]] = {}

    def save(name: str, image: Image.Image, expected: np.ndarray, **kwargs) -> None:
        path = folder / name
        image.save(path, **kwargs)
        good[name] = (path, expected)

    save("rgb8.png", Image.fromarray(rgb), rgb)
    cv2.imwrite(str(folder / "rgb16.png"), (rgb[..., ::-1].astype(np.uint16) * 257))
    good["rgb16.png"] = (folder / "rgb16.png", rgb)
    save("grey8.png", Image.fromarray(grey), np.repeat(grey[..., None], 3, -1))
    save("grey16.png", Image.fromarray(grey.astype(np.uint16) * 257), np.repeat(grey[..., None], 3, -1))
    palette = Image.fromarray(rgb).quantize(32)
    save("palette.png", palette, np.asarray(palette.convert("RGB")))
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, : W // 2] = 0                      # the transparent half becomes white
    expected = rgb.copy()
    expected[:, : W // 2] = 255
    save("rgba.png", Image.fromarray(np.dstack([rgb, alpha])), expected)
    cmyk = folder / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(cmyk, quality=95)
    good["cmyk.jpg"] = (cmyk, np.asarray(Image.open(cmyk).convert("RGB")))
    rotated = folder / "exif_rotated.jpg"                 # stored sideways, EXIF says "rotate 90° clockwise"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(rgb))).save(rotated, quality=95, exif=exif)
    good["exif_rotated.jpg"] = (rotated, np.asarray(ImageOps.exif_transpose(Image.open(rotated)).convert("RGB")))
    assert good["exif_rotated.jpg"][1].shape == (H, W, 3)

    bad: dict[str, tuple[Path, str]] = {}
    (folder / "notes.png").write_text("this is not a picture")
    bad["notes.png"] = (folder / "notes.png", "not a readable image")
    Image.fromarray(rgb[:20, :20]).save(folder / "tiny.png")
    bad["tiny.png"] = (folder / "tiny.png", "at least 32")
    _huge_png(folder / "huge.png")
    bad["huge.png"] = (folder / "huge.png", "not accepted")
    return good, bad

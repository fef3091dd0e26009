"""Loading and validating photos: any source to RGB uint8, and the square crop the model sees.

``load_photo`` accepts a path, raw bytes, a PIL image or a numpy array and
returns uint8 HxWx3 RGB.  Documented behaviour for awkward input:

- EXIF orientation is applied (a phone photo shot upright comes out upright);
- grayscale (L, 1, I;16 …) is repeated into three channels; palette images are converted;
- alpha (RGBA, LA, PA) is composited onto white, so transparent areas are white;
- 16-bit and float data are rescaled to 0..255 (16-bit: divided by 257; float: assumed in [0, 1]);
- sides below ``MIN_SIDE`` or above ``MAX_SIDE`` pixels, empty files, bytes that are no image, truncated
  files and decompression bombs raise ``PhotoError`` (a ``ValueError`` whose ``reason`` says which, for
  messages in a user's words; the size is checked from the header, before decoding).

``square_crop`` takes the centred square, resizes it to the model's size and
returns a ``Crop`` that maps masks on the original photo to the model grid
(``editing.compose.paste_into_photo`` puts results back).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32
MAX_SIDE = 8000
REASONS = ("empty", "not an image", "truncated", "too small", "too large")


class PhotoError(ValueError):
    """A file or array that is no usable photo; ``reason`` is one of ``REASONS``, ``size`` (w, h) where known."""

    def __init__(self, message: str, reason: str, size: tuple[int, int] | None = None):
        super().__init__(message)
        self.reason, self.size = reason, size


def _check_size(width: int, height: int) -> None:
    if min(width, height) < MIN_SIDE:
        raise PhotoError(f"photo is {width}x{height} px; both sides must be at least {MIN_SIDE} px", "too small",
                         (width, height))
    if max(width, height) > MAX_SIDE:
        raise PhotoError(f"photo is {width}x{height} px; sides above {MAX_SIDE} px are not accepted "
                         f"(downscale it first)", "too large", (width, height))


def open_image(source) -> Image.Image:
    """A decoded PIL image from a path or bytes; its size is checked from the header before it is decoded.

    Touches no global state (PIL's pixel limit, warning filters), so threads can load photos at once.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no photo at {path}")
        stream, name = open(path, "rb"), str(path)
    else:
        stream, name = io.BytesIO(bytes(source)), "the given bytes"
    size = None
    try:
        with stream:
            if stream.seek(0, io.SEEK_END) == 0:
                raise PhotoError(f"{name} is empty (0 bytes), not a readable image", "empty")
            stream.seek(0)
            img = Image.open(stream)
            size = img.size
            _check_size(*img.size)          # MAX_SIDE**2 is below PIL's own bomb limit
            img.load()
    except Image.DecompressionBombError as err:
        raise PhotoError(f"{name} is too large to decode safely: photos with sides above {MAX_SIDE} px are not "
                         f"accepted (downscale it first)", "too large", size) from err
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        reason = "truncated" if size is not None else "not an image"     # the header was read, the data was not
        raise PhotoError(f"{name} is not a readable image ({err})", reason, size) from err
    return img


def upright_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the photo at ``path`` once its EXIF orientation is applied, from its header."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise PhotoError(f"{path} is not a readable image ({err})", "not an image") from err
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    if img.getexif().get(0x0112, 1) != 1:     # only a photo that needs turning is copied (24 MP: 0.2 s a copy)
        img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.float64)
        return _array_to_rgb(arr / 257.0 if arr.max(initial=0) > 255 else arr)
    if img.mode == "F":
        return _array_to_rgb(np.asarray(img))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8).copy()


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """uint8/uint16/float arrays, HxW, HxWx1, HxWx3 or HxWx4 -> uint8 HxWx3."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"a photo array must be HxW, HxWx3 or HxWx4; got shape {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0])
    if arr.dtype == np.uint16:
        arr = arr.astype(np.float64) / 257.0
    elif arr.dtype == bool:
        arr = arr.astype(np.float64) * 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ValueError("photo array holds NaN or infinite values")
        arr = arr * 255.0 if arr.max(initial=0) <= 1.0 else arr
    elif arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
    arr = np.clip(np.round(arr), 0, 255).astype(np.uint8) if arr.dtype != np.uint8 else arr
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.shape[-1] == 4:
        alpha = arr[..., 3:].astype(np.float64) / 255.0
        arr = np.round(arr[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def load_photo(source) -> np.ndarray:
    """A photo (path, bytes, PIL image or array) as RGB uint8 HxWx3; ValueError/FileNotFoundError if unusable."""
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        _check_size(*source.size)
        return _pil_to_rgb(source)
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        return _pil_to_rgb(open_image(source))
    raise ValueError(f"cannot read a photo from a {type(source).__name__}; give a path, bytes, a PIL image "
                     f"or a uint8 array")


@dataclass(frozen=True)
class Crop:
    """The centred square of the original photo that the model sees, and the model's size."""

    width: int          # the original photo's size
    height: int
    left: int           # the square in the original photo
    top: int
    side: int
    size: int           # the model's resolution

    @classmethod
    def centred(cls, width: int, height: int, size: int) -> Crop:
        side = min(width, height)
        return cls(width, height, (width - side) // 2, (height - side) // 2, side, size)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in the original photo."""
        return self.left, self.top, self.left + self.side, self.top + self.side

    def to_model(self, image: np.ndarray, resample=Image.Resampling.LANCZOS) -> np.ndarray:
        """An original-sized uint8 picture (HxW or HxWx3) cut to the square and resized to the model's size."""
        img = Image.fromarray(np.asarray(image)).crop(self.box)
        return np.asarray(img.resize((self.size, self.size), resample)).copy()

    def to_photo(self, image: np.ndarray, background: np.ndarray, resample=Image.Resampling.LANCZOS) -> np.ndarray:
        """``background`` (the original photo's size) with the square replaced by the model-sized ``image`` scaled
        to it (uint8, float32 or bool HxW or HxWx3); a new array of ``background``'s dtype."""
        image = np.asarray(image)
        if image.shape[:2] != (self.size, self.size):
            raise ValueError(f"the picture is {image.shape[1]}x{image.shape[0]}; it must be {self.size}x{self.size}")
        if self.side != self.size:
            scaled = Image.fromarray(image.astype(np.uint8) * 255 if image.dtype == bool else image)
            image = np.asarray(scaled.resize((self.side, self.side), resample))
            image = image > 127 if background.dtype == bool else image
        out = np.array(background, copy=True)
        out[self.top:self.top + self.side, self.left:self.left + self.side] = image
        return out


def square_crop(photo: np.ndarray, size: int) -> tuple[np.ndarray, Crop]:
    """The centred square of an RGB uint8 photo resized to ``size`` x ``size``, and its ``Crop``."""
    height, width = photo.shape[:2]
    crop = Crop.centred(width, height, size)
    return crop.to_model(photo), crop

"""Photo loading and validation: every source kind, awkward formats, size limits and the crop."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.editing.compose import paste_into_photo
from ganpaint_core.photo import MAX_SIDE, MIN_SIDE, Crop, load_photo, square_crop


def _png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_every_source_kind_gives_the_same_rgb(photo, tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(photo).save(path)
    for source in (photo, Image.fromarray(photo), str(path), path, path.read_bytes()):
        out = load_photo(source)
        assert out.dtype == np.uint8 and out.shape == photo.shape
        np.testing.assert_array_equal(out, photo)


def test_non_image_bytes_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not a readable image"):
        load_photo(b"this is not a picture at all")
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    with pytest.raises(ValueError, match="not a readable image"):
        load_photo(bad)
    with pytest.raises(FileNotFoundError):
        load_photo(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="cannot read a photo"):
        load_photo(12345)


@pytest.mark.parametrize("shape", [(MIN_SIDE - 1, 64), (64, MIN_SIDE - 1), (MAX_SIDE + 1, 40)])
def test_too_small_or_too_large_photos_are_refused(shape):
    img = Image.new("RGB", (shape[1], shape[0]), (10, 20, 30))
    with pytest.raises(ValueError, match="px"):
        load_photo(_png_bytes(img))
    with pytest.raises(ValueError, match="px"):
        load_photo(np.zeros((*shape, 3), np.uint8))


def test_decompression_bomb_is_refused():
    # A PNG header that claims 60000 x 60000 pixels: refused before any pixel is decoded.
    img = Image.new("L", (MIN_SIDE, MIN_SIDE))
    data = bytearray(_png_bytes(img))
    data[16:24] = (60000).to_bytes(4, "big") * 2      # IHDR width and height
    with pytest.raises(ValueError):
        load_photo(bytes(data))


def test_grayscale_rgba_and_16_bit_are_converted():
    gray = np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (40, 1))
    out = load_photo(_png_bytes(Image.fromarray(gray)))
    assert out.shape == (40, 64, 3) and (out[..., 0] == gray).all() and (out[..., 2] == gray).all()
    rgba = np.zeros((40, 64, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 32:, 3] = 255                              # left half transparent -> white
    out = load_photo(_png_bytes(Image.fromarray(rgba)))
    assert (out[:, :32] == 255).all() and (out[:, 32:] == [200, 0, 0]).all()
    deep = (gray.astype(np.uint16) * 257)
    out16 = load_photo(_png_bytes(Image.fromarray(deep)))
    np.testing.assert_array_equal(out16[..., 0], gray)
    np.testing.assert_array_equal(load_photo(deep)[..., 1], gray)
    np.testing.assert_array_equal(load_photo(gray.astype(np.float32) / 255.0)[..., 0], gray)


def test_exif_rotation_is_applied(photo):
    img = Image.fromarray(photo)                       # 128 wide, 96 high
    exif = Image.Exif()
    exif[0x0112] = 6                                   # "rotate 90 CW to display"
    out = load_photo(_png_bytes(img, "JPEG", exif=exif, quality=95))
    assert out.shape == (128, 96, 3)


def test_crop_maps_masks_in_and_results_back(photo):
    image, crop = square_crop(photo, 64)
    assert image.shape == (64, 64, 3)
    assert crop == Crop(128, 96, 16, 0, 96, 64) and crop.box == (16, 0, 112, 96)
    result = np.full((64, 64, 3), 7, np.uint8)
    region = np.zeros((64, 64), bool)
    region[20:40, 20:40] = True
    full = paste_into_photo(photo, crop, result, region, radius=2, sigma=1.0, blend="alpha")
    assert full.shape == photo.shape
    scale = 96 / 64
    inside = full[int(22 * scale):int(38 * scale), 16 + int(22 * scale):16 + int(38 * scale)]
    assert inside.shape[0] > 0 and (inside == 7).all()
    lo, hi = int((20 - 8) * scale), int((40 + 8) * scale)     # radius 2 + 4 sigma of feathering + resampling
    untouched = np.ones(photo.shape[:2], bool)
    untouched[lo:hi, 16 + lo:16 + hi] = False
    assert np.array_equal(full[untouched], photo[untouched]), "beyond the dilated region the photo is kept exactly"
    assert np.array_equal(paste_into_photo(photo, crop, result, np.zeros((64, 64), bool)), photo)
    multiband = paste_into_photo(photo, crop, result, region, radius=2, sigma=1.0)    # the default blend
    assert np.array_equal(multiband[untouched], photo[untouched]), "the multiband blend keeps the photo there too"
    core = (slice(int(26 * scale), int(34 * scale)), slice(16 + int(26 * scale), 16 + int(34 * scale)))
    assert np.abs(multiband[core].astype(int) - 7).mean() < 0.5 * np.abs(photo[core].astype(int) - 7).mean()
    with pytest.raises(ValueError, match="unknown blend"):
        paste_into_photo(photo, crop, result, region, blend="poisson")
    with pytest.raises(ValueError, match="belongs to"):
        paste_into_photo(photo[:50], crop, result, region)


@pytest.mark.parametrize("size", [37, 128, 256])
def test_multiband_blend_of_the_difference_equals_the_two_pyramid_blend(size):
    """One pyramid of source - photo gives the two pyramids' blend (the bands are linear): float64 rounding at most
    flips a pixel's rounding by one level."""
    from eval.bench.edit_stages import two_pyramid_blend
    from ganpaint_core.editing.compose import multiband_blend
    from ganpaint_core.editing.masks import feather

    rng = np.random.default_rng(size)
    photo, source = (rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2))
    region = np.zeros((size, size), bool)
    region[size // 4:size // 2, size // 3:size - 3] = True
    alpha = feather(region, 2, 1.0)
    n = max(1, int(np.log2(size)) - 2)
    ours, reference = multiband_blend(photo, source, alpha), two_pyramid_blend(photo, source, alpha, n)
    diff = np.abs(ours.astype(int) - reference.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert not np.array_equal(ours, photo) and not np.array_equal(ours, source)

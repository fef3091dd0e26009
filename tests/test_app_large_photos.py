"""Large photos in the demo: the canvas gets a small working copy, the result comes back at the photo's own size
(JPEG beyond LOSSLESS_PIXELS), strokes painted on the working copy land where they were painted, and the
paste-back that only touches the edit's support gives what blending the whole square gives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_photo
from editor_support import app_on_tiny_editor
from PIL import Image
from test_app import no_progress, read

import app
from ganpaint_core.editing.compose import multiband_blend, paste_into_photo
from ganpaint_core.editing.masks import feather
from ganpaint_core.editing.strokes import EDIT_COLOR
from ganpaint_core.photo import Crop


def whole_square_paste(photo, crop, image, region, radius=2, sigma=1.0):
    """The paste-back as it was: the render and alpha resized to the whole square, blended over all of it."""
    out = photo.copy()
    alpha = feather(region, radius, sigma).astype(np.float32)
    box = out[crop.top:crop.top + crop.side, crop.left:crop.left + crop.side]
    small = np.asarray(Image.fromarray(box).resize((crop.size, crop.size), Image.Resampling.LANCZOS))
    image = multiband_blend(small, image, alpha)
    image = np.asarray(Image.fromarray(image).resize((crop.side, crop.side), Image.Resampling.LANCZOS))
    alpha = np.asarray(Image.fromarray(alpha).resize((crop.side, crop.side), Image.Resampling.BILINEAR)).clip(0, 1)
    alpha = alpha[..., None]
    box[...] = np.round(alpha * image.astype(np.float32) + (1 - alpha) * box.astype(np.float32)).astype(np.uint8)
    return out


@pytest.mark.parametrize("width, height, size", [(1237, 911, 128), (501, 777, 256), (2400, 1600, 128)])
def test_paste_back_on_the_edit_support_equals_the_whole_square_blend(width, height, size):
    rng = np.random.default_rng(0)
    photo = (rng.random((height, width, 3)) * 255).astype(np.uint8)
    image = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    region = np.zeros((size, size), bool)
    region[size // 3:size // 2, size // 4:size // 2] = True
    region[:3, -4:] = True                                   # a second piece at the square's corner
    crop = Crop.centred(width, height, size)
    fast, slow = paste_into_photo(photo, crop, image, region), whole_square_paste(photo, crop, image, region)
    difference = np.abs(fast.astype(int) - slow)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3      # float rounding at most
    far = np.ones((height, width), bool)          # beyond the feathered region's reach: the photo's own pixels
    top, left, side, scale = crop.top, crop.left, crop.side, crop.side / size
    reach = int(np.ceil(6 * scale))                # radius 2 + blur 2 sigma + the bilinear upscale, in model pixels
    far[top + int(size // 3 * scale) - reach:top + int(size // 2 * scale) + reach,
        left + int(size // 4 * scale) - reach:left + int(size // 2 * scale) + reach] = False
    far[top:top + int(3 * scale) + reach, left + side - int(4 * scale) - reach:left + side] = False
    assert np.array_equal(fast[far], photo[far])


@pytest.fixture
def tiny_app(monkeypatch):
    return app_on_tiny_editor(monkeypatch, 2)


def test_a_large_photo_opens_as_a_working_copy_and_comes_back_at_its_own_size(tiny_app, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "LOSSLESS_PIXELS", 1_000_000)        # the test's photo counts as large
    photo = make_photo(1200, 1800)
    Image.fromarray(photo).save(tmp_path / "large.jpg", quality=95)
    canvas_path, state, message = app.upload_photo(str(tmp_path / "large.jpg"), None, False)
    canvas = read(canvas_path)
    assert max(canvas.shape[:2]) == app.CANVAS_SIDE and canvas.shape[1] / canvas.shape[0] == pytest.approx(1.5, 0.01)
    assert "1800x1200" in message
    result, (before, after), message, state, _ = app.fit_photo(None, state, no_progress)
    assert result.endswith(".jpg") and read(result).shape == (1200, 1800, 3)
    assert max(read(before).shape[:2]) <= app.PREVIEW_SIDE
    # strokes as the page sends them: painted on the working copy, the canvas's background exported as PNG
    layer = np.zeros((*canvas.shape[:2], 4), np.uint8)
    h, w = canvas.shape[:2]
    layer[h // 3:h // 2, w // 3:w // 2] = (*EDIT_COLOR, 255)
    value = {"background": np.dstack([canvas, np.full((h, w), 255, np.uint8)]), "layers": [layer], "composite": None}
    result, _, message, state, download = app.edit_photo(value, "tree", "add", 1.0, state, no_progress)
    edited = read(result)
    assert edited.shape == (1200, 1800, 3) and "(1 edit(s))" in message
    changed = np.abs(edited.astype(int) - read(tmp_path / "large.jpg")).max(axis=-1) > 24
    ys, xs = np.nonzero(changed)
    assert changed.any() and 300 <= ys.mean() <= 600 and 600 <= xs.mean() <= 900, "the edit lands where painted"

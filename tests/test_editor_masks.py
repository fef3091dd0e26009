"""Mask validation, resizing, dilation, feathering and pooling to the layer grid."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ganpaint_core.editing.masks import as_bool_mask, dilate, feather, load_mask, to_grid, to_model_mask
from ganpaint_core.photo import Crop


def test_empty_full_and_wrong_size_masks():
    with pytest.raises(ValueError, match="empty"):
        to_model_mask(np.zeros((64, 64), bool), 64)
    assert to_model_mask(np.zeros((64, 64), bool), 64, allow_empty=True).sum() == 0
    assert to_model_mask(np.ones((64, 64), bool), 64).all()          # a full mask is accepted
    with pytest.raises(ValueError, match="must be 64x64"):
        to_model_mask(np.ones((50, 64), bool), 64)
    with pytest.raises(ValueError, match="or the photo's 128x96"):
        to_model_mask(np.ones((50, 64), bool), 64, Crop.centred(128, 96, 64))
    with pytest.raises(ValueError, match="HxW"):
        to_model_mask(np.ones((4, 64, 64, 1), bool), 64)


def test_a_mask_on_the_original_photo_gets_the_photo_crop():
    crop = Crop.centred(128, 96, 64)                  # keeps columns 16..112
    mask = np.zeros((96, 128), bool)
    mask[:, :16] = True                                # outside the crop: nothing left
    with pytest.raises(ValueError, match="empty"):
        to_model_mask(mask, 64, crop)
    mask[:, 64:] = True
    out = to_model_mask(mask, 64, crop)
    assert out[:, 40:].all() and not out[:, :20].any()


def test_kinds_of_mask_pictures():
    alpha = np.zeros((64, 64, 4), np.uint8)
    alpha[10:20, 10:20, 3] = 255                       # RGBA strokes on a transparent layer
    assert as_bool_mask(alpha).sum() == 100
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[0, 0, 2] = 9
    assert as_bool_mask(rgb).sum() == 1
    assert as_bool_mask(np.full((8, 8), 0.4)).sum() == 0 and as_bool_mask(np.full((8, 8), 0.6)).all()
    buf = io.BytesIO()
    Image.fromarray((alpha[..., 3] > 0).astype(np.uint8) * 255).save(buf, format="PNG")
    assert load_mask(buf.getvalue()).sum() == 100
    with pytest.raises(ValueError, match="not a readable image"):
        load_mask(b"garbage")


def test_dilate_feather_and_grid_pooling():
    mask = np.zeros((64, 64), bool)
    mask[25:29, 25:29] = True                          # inside grid cell (3, 3) of 8 px cells
    assert dilate(mask, 2).sum() > mask.sum() and dilate(mask, 0).sum() == mask.sum()
    alpha = feather(mask, 2, 1.0)
    assert alpha.dtype == np.float32 and alpha.max() == 1 and (alpha[mask] == 1).all()
    assert alpha[0, 0] == 0 and 0 < alpha[26, 22] < 1
    grid = to_grid(mask, 8)
    assert grid.shape == (1, 1, 8, 8) and grid.sum() == 1 and grid[0, 0, 3, 3] == 1
    area = to_grid(mask, 8, "area")
    assert abs(float(area.sum()) - 16 / 64) < 1e-6

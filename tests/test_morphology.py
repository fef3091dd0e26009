"""The shared dilation and erosion grow and shrink a mask as scipy's iterated cross does (ganpaint_core.morphology)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_dilation, binary_erosion

from ganpaint_core.morphology import dilate, erode


@pytest.mark.parametrize("radius", [1, 2, 4, 8, 13])
@pytest.mark.parametrize("shape", [(128, 128), (37, 61)])
def test_dilate_equals_scipys_iterated_cross(radius, shape):
    """Pixel for pixel, masks touching the border and a non-contiguous view included."""
    rng = np.random.default_rng(radius)
    mask = rng.random(shape) < 0.01
    mask[0, 3] = mask[-1, -1] = mask[5, 0] = True
    grown = dilate(mask, radius)
    assert grown.dtype == bool
    np.testing.assert_array_equal(grown, binary_dilation(mask, iterations=radius))
    view = mask[::2, ::-1]
    np.testing.assert_array_equal(dilate(view, radius), binary_dilation(view, iterations=radius))


def test_dilate_leaves_empty_masks_and_radius_zero_alone():
    mask = np.zeros((9, 9), bool)
    assert not dilate(mask, 3).any()
    mask[4, 4] = True
    grown = dilate(mask, 0)
    np.testing.assert_array_equal(grown, mask)
    assert grown is not mask
    assert dilate(mask, 2).sum() == 13        # the diamond of radius 2


def test_dilate_grows_other_than_2d_masks_as_scipys_cross():
    cube = np.zeros((5, 6, 7), bool)
    cube[2, 3, 3] = True
    assert np.array_equal(dilate(cube, 1), binary_dilation(cube))


@pytest.mark.parametrize("radius", [1, 2, 3, 6])
@pytest.mark.parametrize("shape", [(128, 128), (37, 61)])
def test_erode_equals_scipys_iterated_cross(radius, shape):
    """Pixel for pixel: blobs that touch the border (which counts as outside), holes, a non-contiguous view."""
    rng = np.random.default_rng(radius)
    mask = binary_dilation(rng.random(shape) < 0.02, iterations=4) & ~(rng.random(shape) < 0.01)
    mask[:, :9] = True
    shrunk = erode(mask, radius)
    assert shrunk.dtype == bool and shrunk.sum() < mask.sum()
    np.testing.assert_array_equal(shrunk, binary_erosion(mask, iterations=radius))
    view = mask[::2, ::-1]
    np.testing.assert_array_equal(erode(view, radius), binary_erosion(view, iterations=radius))
    assert np.array_equal(erode(mask, 0), mask) and not erode(np.zeros(shape, bool), radius).any()
    cube = np.zeros((5, 6, 7), bool)
    cube[1:4, 1:5, 1:6] = True
    assert np.array_equal(erode(cube, 1), binary_erosion(cube))

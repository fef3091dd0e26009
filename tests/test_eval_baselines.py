"""Compositing baselines against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from eval.run.baselines import BASELINES, copy_paste, feather, feather_alpha, laplacian_pyramid, poisson, poisson_mixed


def _pictures(seed=0, size=48):
    rng = np.random.default_rng(seed)
    photo = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), bool)
    mask[10:30, 14:40] = True
    return photo, source, mask


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_empty_mask_gives_the_photo(name):
    photo, source, _ = _pictures()
    out = BASELINES[name](photo, source, np.zeros(photo.shape[:2], bool))
    assert out.dtype == np.uint8 and out.shape == photo.shape
    np.testing.assert_array_equal(out, photo)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_identical_pictures_are_left_alone(name):
    photo, _, mask = _pictures()
    np.testing.assert_array_equal(BASELINES[name](photo, photo, mask), photo)


def test_copy_paste_takes_the_source_inside_only():
    photo, source, mask = _pictures()
    out = copy_paste(photo, source, mask)
    np.testing.assert_array_equal(out[mask], source[mask])
    np.testing.assert_array_equal(out[~mask], photo[~mask])


def test_feather_of_a_full_mask_is_the_source():
    photo, source, _ = _pictures()
    np.testing.assert_array_equal(feather(photo, source, np.ones(photo.shape[:2], bool)), source)


def test_feather_alpha_is_one_inside_and_falls_off_outside():
    _, _, mask = _pictures()
    alpha = feather_alpha(mask, sigma=2.0)
    assert np.all(alpha[mask] == 1.0)
    assert 0 < alpha[9, 20] < 1 and alpha[0, 0] < 1e-6
    assert alpha[9, 20] > alpha[7, 20]


def test_poisson_of_a_shifted_source_reproduces_the_target():
    # Same gradients as the photo, so the membrane is flat: the photo comes back inside the mask.
    photo, _, mask = _pictures()
    photo = np.clip(photo, 40, 200).astype(np.uint8)
    source = (photo.astype(int) + 37).astype(np.uint8)
    np.testing.assert_array_equal(poisson(photo, source, mask), photo)


def test_poisson_of_a_constant_source_into_a_constant_target_is_the_target():
    photo = np.full((32, 32, 3), 90, np.uint8)
    source = np.full((32, 32, 3), 200, np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    np.testing.assert_array_equal(poisson(photo, source, mask), photo)


def test_mixed_poisson_of_a_constant_source_keeps_the_photo():
    photo, _, mask = _pictures()
    source = np.full_like(photo, 128)
    np.testing.assert_array_equal(poisson_mixed(photo, source, mask), photo)


def test_poisson_matches_a_linear_ramp_and_keeps_the_outside():
    # A ramp solves the Laplace equation: source ramp, photo ramp + offset -> photo ramp everywhere.
    y, x = np.mgrid[0:40, 0:40]
    ramp = (60 + 2 * x + y).astype(np.uint8)
    photo = np.repeat(ramp[..., None], 3, axis=2)
    source = np.repeat((ramp - 30)[..., None], 3, axis=2).astype(np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[5:35, 0:20] = True          # touches the picture's left edge: natural boundary there
    out = poisson(photo, source, mask)
    np.testing.assert_array_equal(out, photo)


def test_poisson_whole_picture_mask_keeps_source_gradients_and_mean():
    photo, source, _ = _pictures(size=24)
    out = poisson(photo, source, np.ones((24, 24), bool))
    assert np.abs(out.astype(int) - source.astype(int)).max() <= 1


def test_pyramid_blend_with_full_mask_is_the_source_and_blends_smoothly():
    photo = np.zeros((64, 64, 3), np.uint8)
    source = np.full((64, 64, 3), 200, np.uint8)
    np.testing.assert_array_equal(laplacian_pyramid(photo, source, np.ones((64, 64), bool), mask_sigma=0), source)
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    row = laplacian_pyramid(photo, source, mask)[32, :, 0].astype(int)
    assert row[0] >= 195 and row[-1] <= 5
    assert np.all(np.diff(row) <= 0) and 0 < row[32] < 200   # a monotone seam, no hard step


def test_mismatched_inputs_are_refused():
    photo, source, mask = _pictures()
    with pytest.raises(ValueError, match="same size"):
        copy_paste(photo, source[:10], mask)
    with pytest.raises(ValueError, match="mask"):
        poisson(photo, source, mask[:10])

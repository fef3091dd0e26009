"""Metrics on pictures with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ganpaint_core import metrics


def test_psnr_known_value_and_cap():
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a + np.uint8(10)
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))
    assert metrics.psnr(a, a) == metrics.PSNR_CAP


def test_masked_metrics_only_see_their_region():
    a = np.full((16, 16, 3), 100, np.uint8)
    b = a.copy()
    b[:8] = 0
    region = np.zeros((16, 16), bool)
    region[8:] = True
    assert metrics.psnr(a, b, region) == metrics.PSNR_CAP
    assert metrics.l1(a, b, region) == 0.0
    assert metrics.l1(a, b, ~region) == pytest.approx(100 / 255)
    assert metrics.l1(a, b) == pytest.approx(50 / 255)
    assert np.isnan(metrics.l1(a, b, np.zeros((16, 16), bool)))


def test_ssim_is_one_for_identical_and_lower_for_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, noisy) < 0.9


def test_outside_region_excludes_a_margin():
    mask = np.zeros((20, 20), bool)
    mask[10, 10] = True
    out = metrics.outside_region(mask, 2)
    assert not out[10, 12] and out[10, 13] and not out[10, 10]
    assert metrics.default_margin(128) == 4


def test_concept_share_and_label_accuracy():
    labels = np.zeros((4, 4), np.uint8)
    labels[:2] = 2  # tree
    region = np.ones((4, 4), bool)
    assert metrics.concept_share(labels, "tree", region) == 0.5
    assert metrics.label_accuracy(labels, np.zeros((4, 4), np.uint8), region) == 0.5
    with pytest.raises(ValueError, match="unknown concept"):
        metrics.concept_share(labels, "unicorn", region)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="region"):
        metrics.l1(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8), np.ones((3, 3), bool))


def test_lpips_is_either_usable_or_says_why():
    scorer = metrics.LPIPS()
    a = np.zeros((32, 32, 3), np.uint8)
    if scorer.available:
        assert scorer(a, a) == pytest.approx(0.0, abs=1e-6)
    else:
        assert scorer.reason and np.isnan(scorer(a, a))

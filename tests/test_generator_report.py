"""The shipped generator's world matches the scene world (through the segmenter)."""

import numpy as np
import pytest

from eval.studies.generator_report import KEY_CONCEPTS, frechet, report
from ganpaint_core.models import MODELS_DIR, load_model

SHIPPED = (MODELS_DIR / "default" / "generator.safetensors").exists()


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert frechet(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet(a, a + 1.0) == pytest.approx(8.0, rel=0.05)


def test_segmenter_stats_run_the_encoder_once_and_match_the_segmenters_own_labels_and_features():
    import torch

    from eval.studies.generator_report import segmenter_stats
    from ganpaint_core.concepts import NUM_CONCEPTS
    from ganpaint_core.imaging import to_tensor
    from ganpaint_core.networks.segmenter import Segmenter

    torch.manual_seed(0)
    segmenter = Segmenter((8, 16, 16, 16)).eval()
    images = np.random.default_rng(0).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    calls = []
    segmenter.down[0].register_forward_hook(lambda *_: calls.append(1))
    shares, feats = segmenter_stats(segmenter, images, batch=3)
    assert len(calls) == 3                                       # one encoder pass per batch, not two
    labels = segmenter.predict(images)
    np.testing.assert_array_equal(shares, np.bincount(labels.ravel(), minlength=NUM_CONCEPTS) / labels.size)
    with torch.inference_mode():
        levels = segmenter.features(to_tensor(images))
    np.testing.assert_allclose(feats, torch.cat([f.mean(dim=(2, 3)) for f in levels], 1).numpy(), rtol=1e-5)
    none, same = segmenter_stats(segmenter, images, batch=3, shares=False)
    assert none is None and np.array_equal(same, feats)


@pytest.fixture(scope="module")
def shipped_report():
    return report(load_model("default"), samples=300, seed=1)


@pytest.mark.skipif(not SHIPPED, reason="models/default has no generator yet")
@pytest.mark.parametrize("name", KEY_CONCEPTS)
def test_shipped_generator_concept_share_within_factor_1_5(shipped_report, name):
    result, samples = shipped_report
    assert samples.shape[1:] == (128, 128, 3)
    ratio = result["share_ratio"][name]
    assert 1 / 1.5 <= ratio <= 1.5, f"{name}: generated/scene pixel share ratio {ratio:.2f}"
    assert result["frechet_segmenter_features"] >= result["frechet_floor_two_scene_sets"]

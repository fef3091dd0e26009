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

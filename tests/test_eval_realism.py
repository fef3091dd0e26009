"""The realism model on a small fixed set: held-out real scenes above the generator's samples, above the same
scenes with a pasted, hard-edged square, and far above broken composites (docs/eval/realism.md has the measured
ordering, including where the generator's samples fall against crude copy-paste)."""

from __future__ import annotations

import numpy as np
import pytest

from eval.measures.realism import RealismModel, ordering_sets
from human_study.images import broken_composite

N = 24


@pytest.fixture(scope="module")
def measured():
    from ganpaint_core.models import load_model

    bundle = load_model("default")
    model = RealismModel.from_model(bundle, n=48)
    sets = ordering_sets(bundle.generator, N)
    mask = np.zeros(sets["real"].shape[1:3], bool)
    mask[48:80, 48:80] = True
    rng = np.random.default_rng(0)
    sets["broken"] = np.stack([broken_composite(x, mask, rng) for x in sets["real"]])
    return model, sets, {k: model.score(v) for k, v in sets.items()}


def test_real_scenes_score_above_copy_paste_with_a_visible_seam_and_broken_composites(measured):
    _, _, score = measured
    for crude in ("copy_paste", "copy_paste_generated", "broken"):
        assert score["real"].mean() > score[crude].mean()
        assert (score["real"] > score[crude]).mean() >= 0.8     # the same scene with a pasted square: paired
    assert (score["real"] > score["broken"]).all()
    assert score["broken"].max() < min(score["copy_paste"].min(), score["generated"].min())


def test_real_scenes_score_above_the_generators_samples(measured):
    _, _, score = measured
    real, generated = score["real"], score["generated"]
    assert real.mean() - generated.mean() > 2 * np.hypot(real.std(ddof=1), generated.std(ddof=1)) / np.sqrt(N)
    assert (real[:, None] > generated[None, :]).mean() >= 0.75      # a random real scene beats a random sample


def test_a_pictures_score_does_not_depend_on_the_others_in_its_batch(measured):
    model, sets, score = measured
    alone = np.array([model.score(x)[0] for x in sets["generated"][:4]])
    assert np.allclose(alone, score["generated"][:4], atol=1e-4)
    with_others = model.score(np.concatenate([sets["generated"][:4], sets["real"][:4]]))[:4]
    assert np.allclose(with_others, score["generated"][:4], atol=1e-4)


def test_kid_puts_broken_composites_far_behind_real_scenes(measured):
    model, sets, _ = measured
    kid = {k: model.kid(sets[k], subsets=20)[0] for k in ("real", "copy_paste", "broken")}
    assert kid["broken"] > 5 * max(kid["real"], kid["copy_paste"], 1e-4)


def test_identical_pictures_score_identically_and_bad_input_is_refused(measured):
    model, sets, _ = measured
    twice = model.score(np.stack([sets["real"][0], sets["real"][0]]))
    assert twice[0] == twice[1]
    with pytest.raises(ValueError, match="at least 2"):
        model.kid(sets["real"][:1])


class _MeanScore:
    """A stand-in realism model: a picture's score is its mean, KID the mean of all scores."""

    def score(self, images):
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1).mean(1)

    def kid(self, images):
        return float(np.mean(images)), 0.0


def test_photos_at_their_own_size_are_measured_on_the_models_square(tmp_path):
    import pandas as pd
    from PIL import Image

    from eval.measures.realism import SquareView, measure_run
    from ganpaint_core.photo import square_crop

    rng = np.random.default_rng(0)
    photos = {"wide": rng.integers(0, 256, (40, 64, 3), dtype=np.uint8),
              "square": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)}
    for task, photo in photos.items():
        folder = tmp_path / "pairs" / "images" / task
        folder.mkdir(parents=True)
        for name in ("ours", "original"):
            Image.fromarray(photo).save(folder / f"{name}.png")
    edits = pd.DataFrame({"task_id": ["square", "wide"], "method": ["ours", "ours"]})
    per_picture, kid = measure_run(tmp_path, edits, ["ours"], _MeanScore(), size=32)
    expected = [square_crop(photos[t], 32)[0].mean() for t in ("square", "wide")]
    np.testing.assert_allclose(per_picture.query("method == 'ours'")["realism"], expected)
    view = SquareView(_MeanScore(), 32)
    np.testing.assert_allclose(view.score(photos["wide"][None]), expected[1:])

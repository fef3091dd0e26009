"""One edited region for every method: the compositing baselines change nothing beyond the editor's paste-back
region, and the seam score sees a hard seam."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from eval.measures.seams import boundary_ring, seam_score
from eval.run.baselines import alpha_blend
from eval.run.methods import METHODS, composite, shared_region
from ganpaint_core.editing.compose import paste_into_photo
from ganpaint_core.editing.editor import FitOptions
from ganpaint_core.editing.masks import paste_alpha
from ganpaint_core.photo import Crop

COMPOSITES = [m for m in METHODS.values() if m.is_composite]


def _task(size: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    photo = np.clip(gaussian_filter(rng.uniform(0, 255, (size, size, 3)), (3, 3, 0)) * 1.5 - 60, 0, 255)
    source = np.clip(255 - photo + rng.normal(0, 20, photo.shape), 0, 255)
    mask = np.zeros((size, size), bool)
    mask[20:36, 24:44] = True
    mask[30:40, 18:30] = True
    return photo.astype(np.uint8), source.astype(np.uint8), mask


def test_every_compositing_method_is_tested():
    assert {m.name for m in COMPOSITES} == {"copy_paste", "feather", "poisson", "poisson_mixed", "pyramid",
                                            "ours_alpha"}


@pytest.mark.parametrize("options", [FitOptions(), FitOptions(paste_radius=5, paste_sigma=2.5)],
                         ids=["default", "wider"])
@pytest.mark.parametrize("method", COMPOSITES, ids=lambda m: m.name)
def test_compositing_changes_nothing_beyond_the_shared_region(method, options):
    photo, source, mask = _task()
    region = shared_region(mask, options)
    out = composite(method, photo, source, region)
    changed = (out != photo).any(-1)
    assert changed.any()                                    # it did paste something
    assert not (changed & ~region.support).any()            # and nothing outside the region
    assert (out[mask] != photo[mask]).any(-1).mean() > 0.9  # the painted pixels come from the source's edit


def test_the_region_is_the_editors_paste_back_alpha():
    photo, source, mask = _task()
    options = FitOptions()
    region = shared_region(mask, options)
    np.testing.assert_array_equal(region.alpha, paste_alpha(mask, options))
    assert region.hard[mask].all() and region.support[region.hard].all() and (region.alpha[mask] == 1).all()
    np.testing.assert_array_equal(composite(METHODS["feather"], photo, source, region),
                                  alpha_blend(photo, source, region.alpha))
    ours = paste_into_photo(photo, Crop.centred(64, 64, 64), source, mask, options.paste_radius, options.paste_sigma,
                            options.paste_blend)           # what Session.render(paste_back=True) does with G'
    changed = (ours != photo).any(-1)
    assert options.paste_blend == "multiband" and changed[mask].mean() > 0.9 and not (changed & ~region.support).any()
    assert not np.array_equal(ours, alpha_blend(photo, source, region.alpha))


def test_seam_score_sees_a_hard_seam_and_not_a_smooth_one():
    size = 64
    yy, xx = np.mgrid[0:size, 0:size]
    photo = np.repeat(((xx + yy) * 1.5).astype(np.uint8)[..., None], 3, -1)
    mask = np.zeros((size, size), bool)
    mask[20:44, 20:44] = True
    assert seam_score(photo, photo, mask) == 0
    hard = photo.copy()
    hard[mask] = 250
    blended = alpha_blend(photo, np.full_like(photo, 250), gaussian_filter(mask.astype(float), 4))
    assert seam_score(hard, photo, mask) > 3 * seam_score(blended, photo, mask) > 0
    ring = boundary_ring(mask)
    assert ring[19, 30] and ring[21, 30] and not ring[30, 30] and not ring[5, 5]


def _session(photo_shape=None, seed: int = 0):
    from tests.conftest import make_photo
    from tests.editor_support import tiny_editor

    editor = tiny_editor(seed)
    size = editor.size
    mask = np.zeros((size, size), bool)
    mask[size // 4:size * 5 // 8, size // 3:size * 2 // 3] = True
    return editor, editor.fit(make_photo(*(photo_shape or (size, size)), seed=seed)), mask


@pytest.mark.parametrize("name", list(METHODS))
def test_at_the_models_size_every_method_renders_as_before(name):
    """A photo of the model's size (a scene task): the photo-size render of each method is its model-size
    render of before (ours: the editor's paste-back; composites: over the model-size region; others: G or G')."""
    from eval.run.methods import render
    from eval.run.tasks import Task

    editor, session, mask = _session()
    task = Task("t", "p.png", "m.png", editor.concepts[0], "add")
    method = METHODS[name]
    got = render(method, session, task, mask)
    if method.render == "paste_back":
        expected = session.render(adapted=True, paste_back=True)
    elif method.is_composite:
        source = session.render(adapted=method.source == "adapted")
        expected = composite(method, session.photo, source, shared_region(mask, session.options))
    elif method.render == "plain":
        expected = session.render(adapted=False)
    elif method.render == "keep":
        expected = session.render(adapted=True, clear=False)
    else:                                             # G' (after the refine that render() has just run)
        expected = session.render(adapted=True)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", [m.name for m in COMPOSITES] + ["ours", "plain_g"])
def test_at_the_photos_size_methods_change_only_the_models_square_within_the_shared_region(name):
    from eval.run.methods import render
    from eval.run.tasks import Task

    editor, session, mask = _session((80, 128))       # the model sees the photo's centred 80x80 square
    got = render(METHODS[name], session, Task("t", "p.png", "m.png", editor.concepts[0], "add"), mask)
    assert got.shape == session.original.shape
    region = shared_region(mask, session.options, session.crop)
    assert region.alpha.shape == (80, 128) and not region.support[:, :24].any()
    changed = (got != session.original).any(-1)
    if name == "plain_g":                             # a generator render fills the model's square
        assert changed[:, 24:104].mean() > 0.5 and not changed[:, :24].any() and not changed[:, 104:].any()
    else:
        assert changed.any() and not (changed & ~region.support).any()
    if name == "ours":
        np.testing.assert_array_equal(got, session.to_photo())

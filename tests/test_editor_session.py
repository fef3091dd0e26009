"""The editor on a tiny random-weight model: fit, edits, composition, undo, ablations, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from editor_support import blob, tiny_editor

from ganpaint_core.editing.adaptation import adaptation_layers
from ganpaint_core.editing.masks import dilate
from ganpaint_core.networks.proggan import ProgressiveGenerator


@pytest.fixture(scope="module")
def editor():
    return tiny_editor()


@pytest.fixture(scope="module")
def fitted(editor):
    from conftest import make_photo

    return editor.fit(make_photo(96, 128))


def _psnr(a, b, region=None):
    region = np.ones(a.shape[:2], bool) if region is None else region
    mse = ((a.astype(float) - b.astype(float)) ** 2)[region].mean()
    return 100.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def test_render_scale_applies_to_that_call_only():
    g = ProgressiveGenerator([16, 16, 8, 8]).eval()
    z = torch.randn(2, 16)
    with torch.no_grad():
        r = g.features(z, "layer2")
        base = g.render_from(r, "layer2")
        zeroed = g.render_from(r, "layer2", scale={"layer3": torch.zeros(())})
        assert torch.equal(g.render_from(r, "layer2"), base) and torch.equal(g(z), base)
    assert not torch.equal(zeroed, base)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in g.modules())
    assert g.output_shape("layer3") == (8, 8, 8)


def test_concurrent_sessions_give_what_each_gets_alone(editor):
    """Two photos fitted and edited in parallel threads: bit-identical to the same work done one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import make_photo

    photos = [make_photo(64, 64, seed=seed) for seed in (1, 2)]

    def work(photo):
        s = editor.fit(photo)
        a = s.edit(blob(64, 8, 8, 16), "tree", "add").image
        b = s.fork().edit(blob(64, 30, 30, 20), "door", "remove").image
        return s.reconstruction(), a, b, s.to_photo()

    serial = [work(p) for p in photos]
    for _ in range(2):
        with ThreadPoolExecutor(2) as pool:
            parallel = list(pool.map(work, photos))
        for one, other in zip(serial, parallel, strict=True):
            for x, y in zip(one, other, strict=True):
                np.testing.assert_array_equal(x, y)


def test_fork_shares_the_fit_not_the_history(fitted):
    fitted.reset()
    twin = fitted.fork()
    twin.edit(blob(64, 8, 8, 16), "tree", "add")
    assert len(twin.operations) == 1 and fitted.operations == ()
    np.testing.assert_array_equal(fitted.render(paste_back=True), fitted.reconstruction())
    assert twin.r is fitted.r


def test_readapt_fits_its_own_adaptation_on_the_same_inversion(fitted):
    sibling = fitted.readapt("weights")
    assert sibling.adapt == "weights" and sibling.r is fitted.r and fitted.adapt == "activations"
    free = fitted.readapt("activations", regularize=False)
    assert free.options.lam == 0 and fitted.options.lam > 0


def test_adaptation_layers_are_the_ends_of_the_resolution_stages():
    assert adaptation_layers(ProgressiveGenerator([128, 256, 128, 64, 32, 16, 8]), "layer4") == \
        ["layer6", "layer8", "layer10", "layer12"]
    assert adaptation_layers(ProgressiveGenerator([8] * 8), "layer4") == \
        ["layer6", "layer8", "layer10", "layer12", "layer14"]


def test_fit_gives_a_session_whose_adapted_render_beats_the_inversion(editor, fitted):
    s = fitted
    assert s.photo.shape == (64, 64, 3) and s.crop.box == (16, 0, 112, 96)
    q = s.quality()
    assert q["reconstruction_psnr"] > q["inversion_psnr"] + 3
    assert s.fit_seconds > 0 and set(s.timings) >= {"z_seconds", "r_seconds", "adapt_seconds"}
    assert s.to_photo().shape == (96, 128, 3)


def test_progress_reports_rising_fractions_up_to_one(editor, photo):
    seen = []
    editor.fit(photo, progress=lambda f, m: seen.append((f, m)), adapt_steps=3)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(isinstance(m, str) for _, m in seen)


def test_edit_changes_the_mask_and_pastes_the_photo_back_outside(fitted):
    s = fitted
    s.reset()
    mask = blob(64, 20, 20, 16)
    out = s.edit(mask, "tree", "remove").image
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - s.reconstruction().astype(int))[mask].mean() > 1
    outside = ~dilate(mask, 2 + 4)                     # paste radius + 4 sigma of feathering
    np.testing.assert_array_equal(out[outside], s.photo[outside])
    raw = s.render(paste_back=False)
    assert _psnr(raw, s.photo, outside) < 100


def test_edits_compose_undo_and_reset(fitted):
    s = fitted
    recon = s.reset().image
    a = s.edit(blob(64, 8, 8, 16), "tree", "add", "high").image
    b = s.edit(blob(64, 36, 36, 16), "door", "remove", 0.5).image
    assert len(s.operations) == 2 and not np.array_equal(a, b)
    np.testing.assert_array_equal(s.undo().image, a)
    np.testing.assert_array_equal(s.reset().image, recon)
    np.testing.assert_array_equal(s.undo().image, recon)      # nothing left to undo: no change
    assert s.operations == ()


def test_plain_render_and_appearance_copy(fitted):
    s = fitted
    s.reset()
    target, reference = blob(64, 4, 4, 20), blob(64, 40, 40, 20)
    out = s.copy_appearance(target, reference).image
    assert np.abs(out.astype(int) - s.photo.astype(int))[target].mean() > 1
    assert not np.array_equal(s.render(adapted=False), s.render(adapted=True))
    with pytest.raises(ValueError, match="reference mask: the mask is empty"):
        s.copy_appearance(target, np.zeros((64, 64), bool))


def test_a_mask_of_the_original_photo_size_is_cropped(fitted):
    s = fitted
    s.reset()
    full = np.zeros((96, 128), bool)
    full[20:60, 40:80] = True
    s.edit(full, "tree", "add")
    assert s.operations[-1].mask.shape == (64, 64) and s.operations[-1].mask.any()


@pytest.mark.parametrize("kwargs, message", [
    (dict(concept="unicorn", action="add"), "unknown concept"),
    (dict(concept="roof", action="add"), "no units"),
    (dict(concept="tree", action="paint"), "unknown action"),
    (dict(concept="tree", action="add", strength="huge"), "unknown strength"),
    (dict(concept="tree", action="add", strength=1.5), r"in \[0, 1\]"),
])
def test_bad_edit_requests_are_clear_errors(fitted, kwargs, message):
    fitted.reset()
    with pytest.raises(ValueError, match=message):
        fitted.edit(blob(64, 8, 8, 8), **kwargs)
    assert fitted.operations == ()


def test_empty_full_and_mis_sized_masks(fitted):
    s = fitted
    s.reset()
    with pytest.raises(ValueError, match="empty"):
        s.edit(np.zeros((64, 64), bool), "tree", "add")
    with pytest.raises(ValueError, match="must be 64x64"):
        s.edit(np.ones((10, 20), bool), "tree", "add")
    out = s.edit(np.ones((64, 64), bool), "tree", "remove").image     # full mask: the whole picture is edited
    assert out.shape == (64, 64, 3) and not np.array_equal(out, s.photo)


def test_ablations_run_and_plain_g_reconstruction_is_the_inversion(editor, photo):
    plain = editor.fit(photo, adapt="none")
    np.testing.assert_array_equal(plain.reconstruction(), plain.inversion())
    weights = editor.fit(photo, adapt="weights")
    assert weights.quality()["reconstruction_psnr"] > weights.quality()["inversion_psnr"]
    free = editor.fit(photo, regularize=False)
    assert free.options.lam == 0 and free.adapt == "activations"
    for s in (plain, weights, free):
        assert s.edit(blob(64, 8, 8, 16), "tree", "add").image.shape == (64, 64, 3)
    with pytest.raises(ValueError, match="unknown adaptation"):
        editor.fit(photo, adapt="everything")


def test_clearing_perturbations_lets_the_edit_through(editor, photo):
    mask = blob(64, 16, 16, 24)
    # the units removal (zeroing units on the edit layer) is what clearing is about; the default removal continues
    # the surroundings and handles the perturbations itself (tests/test_editor_removal.py)
    kept = editor.fit(photo, clear_perturbations=False, paste_back=False, remove="units")
    cleared = editor.fit(photo, clear_perturbations=True, paste_back=False, remove="units")
    moved = []
    for s in (kept, cleared):
        edited = s.edit(mask, "tree", "remove").image
        moved.append(np.abs(edited.astype(int) - s.reconstruction().astype(int))[mask].mean())
    assert moved[1] > moved[0]


def test_refine_refits_outside_the_edit_and_undo_drops_it(fitted):
    s = fitted
    s.reset()
    mask = blob(64, 16, 16, 20)
    edited = s.edit(mask, "tree", "remove").image
    raw = s.render(paste_back=False)
    refined = s.refine(steps=4).image
    assert len(s.operations) == 1 and not np.array_equal(s.render(paste_back=False), raw)
    assert refined.shape == (64, 64, 3)
    np.testing.assert_array_equal(s.undo().image, edited)
    assert len(s.operations) == 1


def test_segment_and_concepts(editor, fitted):
    assert "tree" in editor.concepts and "roof" not in editor.concepts
    labels = editor.segment(fitted.photo)
    assert labels.shape == (64, 64) and labels.dtype == np.uint8

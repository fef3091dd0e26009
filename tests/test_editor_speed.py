"""The edit path's shortcuts (windowed re-render, per-state renders) give the pictures of a full render."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from editor_support import blob, tiny_editor


@pytest.fixture(scope="module")
def editor():
    return tiny_editor()


@pytest.fixture(scope="module")
def fitted(editor):
    from conftest import make_photo

    return editor.fit(make_photo(64, 64, seed=3))


def _full(session):
    """A fork of ``session`` that renders every state in full (no recorded base)."""
    twin = session.fork()
    twin._base = lambda generator: None
    return twin


def _same(session, reference):
    for adapted, clear in ((True, True), (True, False), (False, True)):
        torch.testing.assert_close(session._render_tensor(adapted, clear), reference._render_tensor(adapted, clear),
                                   rtol=1e-4, atol=5e-4)     # G's large closed-form deltas amplify rounding
    a, b = session.result().image.astype(int), reference.result().image.astype(int)
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 1e-3


def _edits(session):
    yield session.edit(blob(64, 4, 4, 12), "tree", "add")
    yield session.edit(blob(64, 40, 30, 16), "dome", "add", "high")
    yield session.copy_appearance(blob(64, 20, 44, 10), blob(64, 50, 2, 10))
    yield session.edit(blob(64, 30, 10, 20), "door", "remove")
    yield session.edit(blob(64, 0, 48, 16), "tree", "add", "low")      # an add after a remove


def test_windowed_edits_equal_full_renders(fitted, monkeypatch):
    from ganpaint_core.editing import adaptation

    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return window_render(*args, **kwargs)

    window_render = adaptation.render_window
    monkeypatch.setattr(adaptation, "render_window", counted)
    session, reference = fitted.fork(window_render=True), _full(fitted)
    assert session._base(session.adapted) is not None
    for _, _ in zip(_edits(session), _edits(reference), strict=True):
        _same(session, reference)
    assert len(calls) >= 5          # the session took the windowed path; the reference never did


def test_undo_and_reset_give_the_states_renders(fitted):
    session = fitted.fork()
    start = session.result().image
    first = session.edit(blob(64, 10, 10, 14), "tree", "add").image
    session.edit(blob(64, 36, 36, 14), "dome", "add")
    assert np.array_equal(session.undo().image, first)
    assert np.array_equal(session.reset().image, start)
    assert np.array_equal(start, fitted.reconstruction())
    again = session.edit(blob(64, 10, 10, 14), "tree", "add").image      # a new state, rendered afresh
    assert np.array_equal(again, first)
    other = session.fork(paste_back=False)           # other options: other renders, never the cached ones
    assert not np.array_equal(other.edit(blob(64, 10, 10, 14), "tree", "add").image, first)


def test_a_refined_session_renders_from_its_own_base(fitted):
    session, reference = fitted.fork(window_render=True), _full(fitted)
    for s in (session, reference):
        s.edit(blob(64, 20, 20, 16), "tree", "add")
        s.refine(steps=2)
        s.edit(blob(64, 2, 40, 12), "dome", "add")
    _same(session, reference)
    assert len(session._bases) <= 3


def test_every_edit_reports_its_stages(fitted):
    session = fitted.fork()
    session.edit(blob(64, 20, 20, 16), "tree", "add")
    assert {"labels", "operation", "render", "paste"} <= set(session.stage_seconds)
    session.edit(blob(64, 30, 10, 20), "door", "remove")
    assert all(v >= 0 for v in session.stage_seconds.values())


def test_the_weight_adaptation_still_renders_in_full(fitted):
    session = fitted.readapt("weights")
    assert session._base(session.adapted) is None
    image = session.edit(blob(64, 20, 20, 16), "tree", "add").image
    assert image.shape == (64, 64, 3)


def test_the_demo_renders_once_per_edit(fitted, monkeypatch):
    """``edit`` then ``to_photo`` (the demo's edit, shown at the photo's size), ``undo``, ``reset``: one render."""
    from ganpaint_core.editing.editor import Session

    calls = []
    render_tensor = Session._render_tensor

    def counted(self, *args):
        calls.append(len(self.operations))
        return render_tensor(self, *args)

    monkeypatch.setattr(Session, "_render_tensor", counted)
    session = fitted.fork()
    session.edit(blob(64, 20, 20, 16), "tree", "add")
    photo = session.to_photo()
    session.edit(blob(64, 40, 4, 16), "door", "remove")
    session.to_photo()
    session.undo()
    assert np.array_equal(session.to_photo(), photo)
    session.reset()
    session.to_photo()
    assert calls == [1, 2]          # one render per edit; undo and reset re-render nothing


def test_the_windowed_render_is_on_by_size_unless_set(fitted):
    from ganpaint_core.editing.editor import WINDOW_MIN_SIZE

    assert fitted.editor.size < WINDOW_MIN_SIZE and not fitted.windowed()
    assert fitted.fork(window_render=True).windowed() and not fitted.fork(window_render="false").windowed()
    with pytest.raises(ValueError, match="window_render is auto, true or false"):
        fitted.fork(window_render="sometimes").windowed()


@pytest.mark.parametrize("channels_last", [True, False])
def test_render_factors_are_the_factors_bit_for_bit_and_follow_the_deltas(channels_last):
    """G''s renders take ``1 + delta`` kept in the activations' memory format, the cleared cells set to 1: the same
    values as ``factors`` (``1 + delta * keep``), remade when a delta changes (in place or replaced)."""
    from conftest import make_photo

    from ganpaint_core.editing.editor import Editor

    editor = tiny_editor()
    if not channels_last:
        editor = Editor(editor.generator, editor.segmenter, dissection=editor.dissection, options=editor.options,
                        channels_last=False)
    session = editor.fit(make_photo(64, 64, seed=5))
    adapted = session.adapted
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    region = np.zeros((64, 64), bool)
    region[5:30, 17:41] = True
    region[50:, :3] = True
    with torch.inference_mode():
        for clear in (None, region, np.zeros_like(region)):
            kept, plain = adapted.render_factors(clear), adapted.factors(clear)
            assert kept.keys() == plain.keys()
            for name in plain:
                assert torch.equal(kept[name], plain[name]), name
                assert kept[name].is_contiguous(memory_format=fmt)
        first = adapted.render_factors()
        assert all(adapted.render_factors()[k] is v for k, v in first.items())     # made once
    name = adapted.layers[0]
    adapted.deltas[name].add_(0.25)                                                  # changed in place
    with torch.inference_mode():
        assert torch.equal(adapted.render_factors()[name], 1 + adapted.deltas[name])
    adapted.deltas[name] = adapted.deltas[name] * 0                                  # replaced
    with torch.inference_mode():
        assert torch.equal(adapted.render_factors(region)[name], adapted.factors(region)[name])
        r = session.features()
        assert torch.equal(adapted.render(r, region), adapted.generator.render_from(
            r, adapted.layer, scale=adapted.factors(region)))
    clone = adapted.clone()
    clone.deltas[name].fill_(0.5)
    with torch.inference_mode():
        assert torch.equal(clone.render_factors()[name], torch.full_like(clone.deltas[name], 1.5))
        assert not torch.equal(adapted.render_factors()[name], clone.render_factors()[name])


def test_a_windowed_render_takes_the_kept_factors_bit_for_bit(fitted):
    """Without gradients a windowed render reads ``render_factors``' windows; with them, ``1 + delta * keep`` made
    on each window as before: the same picture."""
    session = fitted.fork(window_render=True)
    session.edit(blob(64, 20, 12, 18), "tree", "add")
    adapted, base = session.adapted, session._base(session.adapted)
    clear = np.zeros((64, 64), bool)
    clear[16:44, 8:36] = True
    changed = session.operations[-1].fine.mask if session.operations[-1].fine is not None else None
    with torch.no_grad():
        r = session.features()
        fast = adapted.render(r, clear, base=base, changed=changed)
        with torch.enable_grad():
            before = adapted.render(r, clear, base=base, changed=changed)
    assert torch.equal(fast, before)
    assert not torch.equal(fast, base.image)


def test_the_pooled_clear_masks_are_the_adaptive_max_pools():
    from torch.nn import functional as F

    from ganpaint_core.editing.adaptation import _pooled

    rng = np.random.default_rng(2)
    for side in (64, 96, 128, 100):
        mask = rng.random((side, side)) > 0.995
        sizes = [s for s in (4, 8, 12, 16, 25, 32, 50, 64, 128) if s <= 2 * side]
        grids = _pooled(mask, sizes)
        m = torch.from_numpy(mask.astype(np.float32))[None, None]
        for size in sizes:
            want = F.adaptive_max_pool2d(m, size) if side > size else F.interpolate(m, size=(size, size))
            assert np.array_equal(grids[size], want[0, 0].numpy() > 0), (side, size)


@pytest.mark.parametrize("radius, sigma", [(2, 1.0), (8, 4.0), (0, 0.7), (3, 2.5)])
def test_the_feather_blurs_only_near_the_mask_bit_for_bit(radius, sigma):
    from scipy.ndimage import gaussian_filter

    from ganpaint_core.editing.masks import dilate, feather

    rng = np.random.default_rng(7)
    masks = [np.zeros((40, 40), bool), np.ones((40, 40), bool)]
    for i in range(24):
        m = rng.random((40, 40)) < (0.002, 0.02, 0.3)[i % 3]
        m[:, 0] |= i % 4 == 0                   # the picture's borders, where the blur reflects
        m[-1, 5:9] |= i % 5 == 0
        masks.append(m)
    for m in masks:
        grown = dilate(m, radius).astype(np.float32)
        whole = np.maximum(gaussian_filter(grown, sigma, truncate=2.0), m.astype(np.float32)).clip(0, 1)
        got = feather(m, radius, sigma)
        assert got.dtype == whole.dtype and np.array_equal(got, whole)


def test_layer_names_are_the_named_children(editor):
    g = editor.generator
    assert g.layer_names == [name for name, _ in g.named_children()]
    assert g.layer_names[-1].startswith("output_") and g.resolution_of(g.layer_names[-1]) == g.resolution


def test_to_uint8_in_place_gives_the_old_conversion_and_leaves_its_input():
    """``to_uint8`` (one new tensor, then in place) = add, multiply, round and clamp as four new tensors, bit for
    bit, in both memory formats and beyond [-1, 1]; the render it converts is not changed."""
    from ganpaint_core.imaging import to_uint8

    torch.manual_seed(0)
    for x in (1.3 * torch.randn(1, 3, 32, 32), (1.3 * torch.randn(2, 3, 16, 16)).contiguous(
            memory_format=torch.channels_last), torch.tensor([-1.0, -0.9961, 0.0039, 1.0, 2.0]).view(1, 1, 1, 5)):
        kept = x.clone()
        want = x.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        np.testing.assert_array_equal(to_uint8(x), want)
        assert torch.equal(x, kept)

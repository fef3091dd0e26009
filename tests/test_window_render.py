"""The windowed render (re-rendering only what an edit changes) equals the full render to float rounding."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.networks.window_render import Window, record, render_window

SIZES = [16, 32, 32, 16, 16, 8]      # 64 px; layer4 at 8x8


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return ProgressiveGenerator(SIZES).eval().requires_grad_(False).fold_scales()


def _edited(r, cells):
    out = r.clone()
    for y, x in cells:
        out[:, :, y, x] += torch.randn(r.shape[1])
    return out


@pytest.mark.parametrize("cells", [[(0, 0)], [(3, 4)], [(7, 7), (6, 7)], [(2, 2), (5, 6)], []])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("folded", [False, True])
def test_windowed_render_equals_the_full_render(generator, cells, channels_last, folded):
    """Folded (renders: ``upconvolve``) and unfolded (upsample, then the conv), in both memory formats."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    g = generator.to(memory_format=fmt)
    if not folded:
        g = copy.deepcopy(g).unfold_scales()
    with torch.inference_mode():
        r = g.features(torch.randn(1, 16), "layer4").contiguous(memory_format=fmt)
        base = record(g, r, "layer4")
        assert torch.equal(base.image, g.render_from(r, "layer4"))
        edited = _edited(r, cells)
        full = g.render_from(edited, "layer4")
        part = render_window(g, edited, base)
    assert part.shape == full.shape
    torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-5)
    if not cells:
        assert torch.equal(part, base.image)
    else:
        assert not torch.equal(part, base.image)


def test_factors_and_edits_that_differ_inside_a_region(generator):
    """Per-pixel factors and a finer-layer edit that differ from the recorded render's inside ``changed``."""
    g = generator.to(memory_format=torch.contiguous_format)
    torch.manual_seed(1)
    with torch.inference_mode():
        r = g.features(torch.randn(1, 16), "layer4")
        factors = {name: 1 + 0.3 * torch.randn(1, *g.output_shape(name)) for name in ("layer6", "layer8")}
        base = record(g, r, "layer4", scale=factors)
        changed = np.zeros((64, 64), bool)
        changed[40:52, 9:20] = True
        keep = {name: 1 - torch.nn.functional.adaptive_max_pool2d(
            torch.from_numpy(changed.astype(np.float32))[None, None], f.shape[-1]) for name, f in factors.items()}
        cleared = {name: 1 + (f - 1) * keep[name] for name, f in factors.items()}
        a6 = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(changed.astype(np.float32))[None, None], 16)
        value = torch.randn(1, 16, 1, 1)
        edited = _edited(r, [(5, 1)])
        full = g.render_from(edited, "layer4", scale=cleared, edit={"layer6": lambda x: (1 - a6) * x + a6 * value})
        part = render_window(g, edited, base, changed, scale=lambda name, w: w.of(cleared[name]) if name in cleared
                             else None, edit={"layer6": lambda x, w: (1 - w.of(a6)) * x + w.of(a6) * value})
    torch.testing.assert_close(part, full, rtol=1e-5, atol=1e-5)
    outside = np.ones((64, 64), bool)
    outside[8:64, 0:40] = False         # beyond the reach of cell (5, 1) and of the changed pixels: not recomputed
    assert torch.equal(part[0][:, outside], base.image[0][:, outside])


def test_window_geometry():
    w = Window.around(np.pad(np.ones((2, 3), bool), ((4, 2), (1, 4))))
    assert (w.top, w.bottom, w.left, w.right, w.size) == (4, 6, 1, 4, 8)
    assert w.at(16) == Window(8, 12, 2, 8, 16) and w.at(4) == Window(2, 3, 0, 2, 4)
    assert w.grown(3) == Window(1, 8, 0, 7, 8) and w.area == 6
    assert Window.around(np.zeros((8, 8), bool)).empty
    assert w.union(Window(0, 1, 7, 8, 8)) == Window(0, 6, 1, 8, 8)


def test_mismatched_features_are_a_clear_error(generator):
    with torch.inference_mode():
        r = generator.features(torch.randn(1, 16), "layer4")
        base = record(generator, r, "layer4")
        with pytest.raises(ValueError, match="recorded render"):
            render_window(generator, r[:, :8], base)


@pytest.mark.parametrize("channels_last", [False, True])
def test_upsampling_blocks_equal_upsample_then_conv(channels_last):
    """``GenBlock.upconvolve`` (four 2x2 convs on the unsampled input, for renders) against nearest x2 upsample +
    3x3 conv (where gradients flow back, as in the fit's steps)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(2)
    g = ProgressiveGenerator([32, 64, 48, 24, 12]).eval().requires_grad_(False).fold_scales().to(memory_format=fmt)
    r = g.features(torch.randn(3, 32), "layer2")
    assert all(b.fast_upsample(r) == b.upsample for b in g.children())
    fast = g.render_from(r, "layer2")
    r.requires_grad_(True)
    assert not any(b.fast_upsample(r) for b in g.children())
    slow = g.render_from(r, "layer2")
    with torch.no_grad():
        assert g.layer3.fast_upsample(r)
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-5, atol=1e-5)
    assert fast.abs().max() > 0.1
    with torch.no_grad():           # compact, in the network's memory format: later layers read it as they would
        assert g.layer3(g.layer2(r)).is_contiguous(memory_format=fmt)
    g.fold_scales(phases=False)
    assert not any(b.fast_upsample(r.detach()) for b in g.children())
    torch.testing.assert_close(g.render_from(r.detach(), "layer2"), slow.detach(), rtol=1e-5, atol=1e-5)
    g.fold_scales()
    g.layer3.conv.weight.requires_grad_(True)       # a block whose weights train runs unfolded
    assert not g.layer3.fast_upsample(r.detach())


def test_recorded_prefix_gives_the_blocks_a_render_would_compute(generator):
    """``recorded_prefix``: while r is the record's, the blocks up to the first scaled one (its output before the
    factors) are the record's, bit for bit what the blocks compute; a block in ``stop``, a block scaled only in the
    render, or other features end it earlier."""
    from ganpaint_core.networks.window_render import recorded_prefix

    g = generator.to(memory_format=torch.contiguous_format)
    torch.manual_seed(2)
    names = g.layer_names[g.layer_names.index("layer4") + 1:]
    with torch.inference_mode():
        r = g.features(torch.randn(1, 16), "layer4")
        scale = {name: 1 + 0.3 * torch.randn(1, *g.output_shape(name)) for name in ("layer6", "layer8")}
        base = record(g, r, "layer4", scale)
        assert list(base.raw) == ["layer6"]
        assert torch.equal(base.raw["layer6"] * scale["layer6"], base.outputs["layer6"])
        k, x = recorded_prefix(base, r, names, scale, set())
        assert (k, names[k - 1]) == (2, "layer6")
        assert torch.equal(x, g.layer6(g.layer5(r)))
        assert recorded_prefix(base, r, names, scale, {"layer6"})[0] == 1          # stopped before layer6
        k, x = recorded_prefix(base, r, names, {"layer5"}, set())                  # scaled in the render alone
        assert k == 1 and torch.equal(x, g.layer5(r))
        other = r.clone()
        other[..., 0, 0] += 1
        k, x = recorded_prefix(base, other, names, scale, set())
        assert k == 0 and x is other
        assert recorded_prefix(None, r, names, scale, set())[0] == 0
        plain = record(g, r, "layer4")                                          # no factors: every block
        k, x = recorded_prefix(plain, r, names, {}, set())
        assert k == len(names) and torch.equal(x, g.render_from(r, "layer4"))

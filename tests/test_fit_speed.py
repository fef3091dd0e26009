"""The fit's speed levers keep its results: folded scales, the closed-form last-layer delta, early stopping."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from paper_support import needs_reference, oracle, proggan_state

from ganpaint_core.editing.adaptation import ActivationAdaptation, solve_last_layer
from ganpaint_core.editing.fitting import adam_loop
from ganpaint_core.models import generator_from_state_dict
from ganpaint_core.networks.proggan import ProgressiveGenerator

SIZES = [32, 32, 32, 16, 8]     # 32 px, five resolutions: small enough to run anywhere


def small_generator(seed: int = 0) -> ProgressiveGenerator:
    torch.manual_seed(seed)
    g = ProgressiveGenerator(SIZES).eval().requires_grad_(False)
    with torch.no_grad():       # non-zero biases, so that folding them is tested too
        for block in g.children():
            block.wscale.b.normal_(0, 0.3)
    return g


@pytest.mark.parametrize("channels_last", [False, True])
def test_folded_layers_give_the_unfolded_outputs_and_gradients(channels_last):
    g = small_generator()
    if channels_last:
        g = g.to(memory_format=torch.channels_last)
    z = torch.randn(3, 32)
    scale = {"layer6": 1 + 0.3 * torch.randn(3, 16, 16, 16)}

    def run():
        zz = z.clone().requires_grad_(True)
        image = g(zz)
        r = g.features(z, "layer4").requires_grad_(True)
        rendered = g.render_from(r, "layer4", scale=scale)
        (image.sum() + rendered.pow(2).sum()).backward()
        return image.detach(), rendered.detach(), zz.grad, r.grad

    plain = run()
    g.fold_scales()
    assert all(block.folded for block in g.children())
    folded = run()
    for a, b in zip(plain, folded, strict=True):
        assert not torch.equal(a, torch.zeros_like(a))
        assert (b - a).abs().max() <= 1e-4 * a.abs().max()     # float rounding


def test_folding_keeps_the_checkpoint_layout_and_follows_new_weights():
    g = small_generator()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    g.fold_scales()
    after = g.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    other = small_generator(seed=1)
    g.load_state_dict(other.state_dict())           # a folded generator given new weights re-folds them
    z = torch.randn(2, 32)
    torch.testing.assert_close(g(z), other(z), rtol=1e-4, atol=1e-5)


def test_weights_that_train_bypass_the_folded_copies():
    g = small_generator().fold_scales()
    block = g.layer3
    block.requires_grad_(True)
    g(torch.randn(1, 32)).sum().backward()
    assert block.conv.weight.grad is not None and block.wscale.b.grad is not None
    assert g.layer2.conv.weight.grad is None


@needs_reference
def test_the_folded_proggan256_reproduces_the_oracle():
    expected = oracle("proggan256_oracle.npz")
    g = generator_from_state_dict(proggan_state()).eval().fold_scales()
    with torch.no_grad():
        r = g.features(torch.from_numpy(expected["z"]), "layer4")
        assert np.abs(r.numpy() - expected["layer4"]).max() < 1e-4
        assert np.abs(g.render_from(r, "layer4").numpy() - expected["image"]).max() < 1e-4


def test_the_closed_form_last_layer_reproduces_a_picture():
    g = small_generator().fold_scales()
    torch.manual_seed(1)
    r = g.features(torch.randn(1, 32), "layer4")
    with torch.no_grad():   # another z's picture, plus noise
        x = g(torch.randn(1, 32)) + 0.01 * torch.randn(1, 3, 32, 32)
    adapted = ActivationAdaptation(g, "layer4", r)
    before = (adapted.render(r) - x).abs()
    info = solve_last_layer(adapted, r, x)
    after = (adapted.render(r) - x).abs()
    assert after.max() < 1e-3 < before.max()
    assert info["max_error"] == pytest.approx(float(after.max()), abs=1e-4)
    assert info["kept_pixels"] == 0
    assert set(adapted.deltas) == {"layer6", "layer8"} and adapted.deltas["layer6"].abs().max() == 0


def test_the_closed_form_keeps_a_delta_it_cannot_improve():
    g = small_generator().fold_scales()
    torch.manual_seed(1)
    r = g.features(torch.randn(1, 32), "layer4")
    with torch.no_grad():
        x = g(torch.randn(1, 32))
    x[..., :4, :4] = 50.0                       # far outside any picture: those pixels cannot be reached
    adapted = ActivationAdaptation(g, "layer4", r)
    info = solve_last_layer(adapted, r, x)
    assert 0 < info["kept_pixels"] <= 16
    err = (adapted.render(r) - x).abs().amax(1)[0]
    assert err[4:, 4:].max() < 1e-3


def test_solving_needs_the_output_block_after_the_last_adapted_layer():
    g = small_generator()
    r = g.features(torch.randn(1, 32), "layer4")
    adapted = ActivationAdaptation(g, "layer4", r, layers=["layer6"])
    with pytest.raises(ValueError, match="not the 1x1 output block"):
        solve_last_layer(adapted, r, torch.zeros(1, 3, 32, 32))


def test_early_stopping_stops_on_a_plateau_and_not_before():
    x = torch.zeros(1, requires_grad=True)
    taken: list[int] = []
    final = adam_loop([x], lambda: (x - 3).pow(2).sum(), 500, 0.1, patience=5, taken=taken)
    assert taken[0] < 500                      # reached the minimum and stopped
    assert final < 1e-2 * 9                    # ... but only once the loss had fallen to the plateau
    far = torch.zeros(1, requires_grad=True)   # a loss that keeps falling: every step runs
    taken.clear()
    adam_loop([far], lambda: (far - 1000).pow(2).sum(), 200, 1.0, patience=5, min_gain=1e-5, taken=taken)
    assert taken == [200]
    off = torch.zeros(1, requires_grad=True)   # patience 0 (the default): never stops early
    taken.clear()
    adam_loop([off], lambda: (off - 3).pow(2).sum(), 300, 0.5, taken=taken)
    assert taken == [300]


def test_the_editor_folds_solves_and_keeps_bf16_off_below_256_px(photo):
    from editor_support import tiny_editor

    editor = tiny_editor()
    assert all(block.folded for block in editor.generator.children())
    assert editor.bf16() is False and editor.bf16(replace(editor.options, bf16=True)) is True
    with pytest.raises(ValueError, match="auto, true or false"):
        editor.bf16(replace(editor.options, bf16="sometimes"))
    solved = editor.fit(photo).quality()["reconstruction_psnr"]
    iterative = editor.fit(photo, solve_last=False).quality()["reconstruction_psnr"]
    assert solved > iterative + 10

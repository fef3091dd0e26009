"""The placement search's shortcuts give the placements of the search they replaced, bit for bit.

``Reference`` below is the search as it stood at 8ab23a5 (torch throughout: one ``F.interpolate`` per exemplar and
height, ``F.avg_pool2d`` levels, the refinement's scores as ``F.conv2d``, bit for bit its im2col product), kept
here to compare against."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.cpu import torch_threads
from ganpaint_core.editing import placement as P
from ganpaint_core.models import MODELS_DIR

EXEMPLARS = MODELS_DIR / "default" / "exemplars.safetensors"
shipped = pytest.mark.skipif(not EXEMPLARS.is_file(), reason="the default model is not shipped")
STRENGTHS = ("low", "medium", "high")


def _resized(shape: np.ndarray, height: int, width: int) -> torch.Tensor:
    """8ab23a5's resampling of a uint8 exemplar shape to ``height`` x ``width`` (bilinear, then halved): float 0/1."""
    t = torch.from_numpy(shape.astype(np.float32) / 255)[None, None]
    return (F.interpolate(t, size=(height, width), mode="bilinear", align_corners=False)[0, 0] > 0.5).float()


class Reference:
    """The placement search at 8ab23a5, stripped of its caches: (score, exemplar, height, top, left)."""

    def __init__(self, shapes: np.ndarray, sizes: np.ndarray):
        self.shapes, self.aspects = np.asarray(shapes), sizes[:, 1] / np.maximum(sizes[:, 0], 1)

    def width(self, index: int, height: int, side: int) -> int:
        return max(1, min(side, int(round(height * self.aspects[index]))))

    def at(self, h: int, side: int):
        widths = np.array([self.width(i, h, side) for i in range(len(self.shapes))])
        kernels = torch.zeros(len(self.shapes), h, int(widths.max()))
        lefts = (kernels.shape[-1] - widths) // 2
        for i, (shape, w, left) in enumerate(zip(self.shapes, widths, lefts, strict=True)):
            kernels[i, :, left:left + w] = _resized(shape, h, int(w))
        return kernels, lefts, kernels.sum((1, 2))

    def stack(self, index: int, heights, side: int):
        widths = [self.width(index, h, side) for h in heights]
        stack = torch.zeros(len(heights), 1, max(heights), max(widths))
        for i, (h, w) in enumerate(zip(heights, widths, strict=True)):
            stack[i, 0, :h, :w] = _resized(self.shapes[index], h, w)
        return stack, stack.sum((1, 2, 3))

    def coarse(self, small, height, penalty, scales, keep):
        side = small.shape[-1]
        rows, cols = np.nonzero(small.numpy() > 0)
        y0, x0 = int(rows.min()), int(cols.min())
        box = small[y0:rows.max() + 1, x0:cols.max() + 1]
        heights = tuple(sorted({max(2, int(round(s * height))) for s in scales}))
        made = [self.at(h, side) for h in heights]
        big_h, big_w = max(k.shape[1] for k, _, _ in made), max(k.shape[2] for k, _, _ in made)
        size = (P.fft_size(box.shape[0] + big_h - 1), P.fft_size(box.shape[1] + big_w - 1))
        n = len(self.shapes)
        stack = torch.zeros(len(heights) * n, big_h, big_w)
        for i, (kernels, _, _) in enumerate(made):
            stack[i * n:(i + 1) * n, :kernels.shape[1], :kernels.shape[2]] = kernels
        spectrum, sums = torch.fft.rfft2(stack, s=size).conj(), torch.cat([s for _, _, s in made])
        corr = torch.fft.irfft2(torch.fft.rfft2(box, s=size)[None] * spectrum, s=size)
        peak, flat = corr.flatten(1).max(1)
        best = (1 + penalty) * peak - penalty * sums
        found = []
        for k in torch.argsort(best, descending=True)[:keep].tolist():
            dy, dx = divmod(int(flat[k]), size[1])
            dy, dx = dy - size[0] if dy >= box.shape[0] else dy, dx - size[1] if dx >= box.shape[1] else dx
            h_index, e = divmod(k, n)
            found.append((float(best[k]), e, heights[h_index], y0 + dy, x0 + dx + int(made[h_index][1][e])))
        return found

    def refine(self, target, candidates, penalty, spread, keep):
        """Each candidate's doubled height +-``spread`` and doubled position +-2 px scored by ``F.conv2d`` (bit for
        bit the im2col product of 8ab23a5: test_correlate_is_conv2d_bit_for_bit)."""
        found = []
        for _, e, h, y, x in candidates:
            heights = tuple(range(max(2, 2 * h - spread), 2 * h + spread + 1))
            stack, sums = self.stack(e, heights, target.shape[-1])
            top, left = 2 * y - 2, 2 * x - 2
            padded = F.pad(target, [stack.shape[-1] + 4] * 2 + [stack.shape[-2] + 4] * 2)  # zeros beyond the border
            m = stack.shape[-2] + 4
            window = padded[..., top + m:top + m + stack.shape[-2] + 4, left + stack.shape[-1] + 4:
                            left + 2 * stack.shape[-1] + 8]
            values, flats = ((1 + penalty) * F.conv2d(window, stack)[0].flatten(1) - penalty * sums[:, None]).max(1)
            found += [(v, e, fh, top + f // 5, left + f % 5)
                      for fh, v, f in zip(heights, values.tolist(), flats.tolist(), strict=True)]
        return sorted(found, key=lambda f: f[0], reverse=True)[:keep]

    def search(self, target, penalty=P.PENALTY, scales=P.SCALES, search=P.SEARCH, keep=P.KEEP):
        """On one torch thread, as the search runs (the FFT's rounding, and so its ties, depend on threads)."""
        with torch.no_grad(), torch_threads(1):
            levels = [torch.from_numpy(target.astype(np.float32))[None, None]]
            while levels[-1].shape[-1] > search and levels[-1].shape[-1] % 2 == 0:
                levels.append(F.avg_pool2d(levels[-1], 2))
            ys = np.nonzero(levels[-1][0, 0].numpy() > 0)[0]
            candidates = self.coarse(levels[-1][0, 0], ys.max() - ys.min() + 1, penalty, scales, keep)
            for step, level in enumerate(reversed(levels[:-1])):
                candidates = self.refine(level, candidates, penalty, 2 if step == 0 else 1,
                                         keep if step < len(levels) - 2 else 1)
        return candidates[0]


def _shapes(n: int, seed: int = 0) -> dict:
    """``n`` blobby uint8 exemplar shapes of 24 x 24 (soft edges, like the shipped ones) with their sizes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:24, :24] / 23.0
    shapes, sizes = [], []
    for _ in range(n):
        cy, cx, ry, rx = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.5)
        d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        shapes.append((np.clip(1.5 - d, 0, 1) * 255).astype(np.uint8))
        sizes.append([rng.integers(10, 60), rng.integers(10, 60)])
    return {"shapes": np.stack(shapes), "sizes": np.array(sizes, np.float32)}


def test_correlate_is_conv2d_bit_for_bit():
    """0/1 kernels over 0/1 targets and their averages over 2^k blocks: every partial sum is exact."""
    rng = np.random.default_rng(1)
    sizes = [(int(h), int(w)) for h, w in rng.integers(2, 40, size=(6, 2))] + [(130, 110)]   # both products
    assert 3 * 130 * 110 >= P.NUMPY_PRODUCT
    for k in (0, 1, 2, 3):
        for h, w in sizes:
            full = torch.from_numpy(rng.random((1, 1, (h + 4) << k, (w + 4) << k)) > 0.4).float()
            window = F.avg_pool2d(full, 2 ** k) if k else full
            stack = torch.from_numpy(rng.random((int(rng.integers(3, 6)), 1, h, w)) > 0.5).float()
            ours = P.correlate(window[0, 0].numpy(), stack[:, 0].numpy())
            assert np.array_equal(ours, F.conv2d(window, stack)[0].flatten(1).numpy())


def test_the_halved_levels_are_the_average_pools():
    rng = np.random.default_rng(2)
    level = (rng.random((128, 128)) > 0.5).astype(np.float32)
    for _ in range(4):
        pooled = F.avg_pool2d(torch.from_numpy(level)[None, None], 2)[0, 0].numpy()
        level = P._halved(level)
        assert np.array_equal(level, pooled)


def test_the_kept_kernels_and_stacks_are_the_resampled_shapes():
    bank = P.Templates(**_shapes(5))
    for index in range(5):
        for heights in ((2, 3, 4), (17, 18, 19, 20, 21), (60,), (126, 127, 128)):
            stack, sums = bank.stack(index, heights, 128)
            assert stack.dtype == np.float32
            for i, h in enumerate(heights):
                shape = _resized(bank.shapes[index], h, bank.width(index, h, 128)).numpy()
                assert np.array_equal(bank.kernel(index, h, 128), shape > 0)
                assert np.array_equal(stack[i, :h, :shape.shape[1]], shape)
                assert not stack[i, h:].any() and not stack[i, :, shape.shape[1]:].any()
                assert float(sums[i]) == float(shape.sum())


@pytest.mark.parametrize("side", [16, 32, 128])
def test_the_coarse_kernels_resampled_in_batches_are_each_resampled_alone(side):
    """Exemplars of one width are resampled in one call: each the same as ``_resized`` alone."""
    exemplars = _shapes(24, seed=side)
    bank, reference = P.Templates(**exemplars), Reference(**exemplars)
    for h in sorted({2, 3, 7, side // 2, side - 1, side}):
        assert [bank.width(i, h, side) for i in range(24)] == bank.widths(h, side).tolist()
        for ours, theirs in zip(bank.at(h, side), reference.at(h, side), strict=True):
            assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("size", [64, 128, 256])
def test_the_search_places_as_the_reference_search_does_on_blobs(size):
    from eval.run.tasks import random_blob

    exemplars = _shapes(12, seed=size)
    rng = np.random.default_rng(size)
    masks = [random_blob(size, rng) for _ in range(10)]
    reference = Reference(**exemplars)
    for mask, penalty in zip(masks, (2.0, 0.5, 6.0, 1.5, 2 / 2.25) * 2, strict=True):
        assert P.search_placement(mask, P.templates(exemplars), penalty) == reference.search(mask, penalty)


def _scene_adds(count: int, size: int = 128):
    """(target, concept, penalty) of ``count`` adds per concept of the shipped exemplars, strengths in turn: random
    blobs over held-out scene renders, each target cut by that scene's labels as an add cuts it (``target_region``)."""
    from eval.run.tasks import random_blob
    from ganpaint_core.concepts import NAMES
    from ganpaint_core.dissection.exemplars import load_exemplars
    from ganpaint_core.editing.edits import exemplar_strength
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    exemplars = load_exemplars(EXEMPLARS)
    growth = {s: exemplar_strength(s)[1] for s in STRENGTHS}
    rng = np.random.default_rng(24)
    adds = []
    for k in range(count):
        if k % 10 == 0:
            labels = render(sample_scene(HELDOUT_SEED_START + 700_000 + k), size)[1]
        mask = random_blob(size, rng)
        for concept in exemplars:
            strength = STRENGTHS[(k + len(adds)) % 3]
            target = P.target_region(mask, concept, labels, NAMES)
            adds.append((target, concept, P.concept_penalty(concept, growth[strength])))
    return exemplars, adds


@shipped
def test_the_shipped_exemplars_place_scene_adds_of_every_concept_as_the_reference_does():
    """40 adds of every concept with exemplars (trees, domes, roofs, doors, windows, buildings), strengths mixed,
    on one kept bank per concept (as a session keeps it); and 256 px versions of a few of them."""
    from PIL import Image

    exemplars, adds = _scene_adds(40)
    assert len(adds) == 40 * len(exemplars) >= 240
    banks = {c: {"shapes": e["shapes"], "sizes": e["sizes"]} for c, e in exemplars.items()}
    references = {c: Reference(e["shapes"], e["sizes"]) for c, e in exemplars.items()}
    for target, concept, penalty in adds:
        assert P.search_placement(target, P.templates(banks[concept]), penalty) == \
            references[concept].search(target, penalty), concept
    for target, concept, penalty in adds[::24]:
        big = np.asarray(Image.fromarray(target).resize((256, 256), Image.NEAREST))
        assert P.search_placement(big, P.templates(banks[concept]), penalty) == \
            references[concept].search(big, penalty), concept


def test_the_search_runs_on_one_thread_and_gives_the_callers_back(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from eval.run.tasks import random_blob

    seen = []
    coarse = P._coarse

    def spy(*args):
        seen.append(torch.get_num_threads())
        return coarse(*args)

    monkeypatch.setattr(P, "_coarse", spy)
    exemplars = _shapes(4)
    mask = random_blob(64, np.random.default_rng(3))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        alone = P.search_placement(mask, P.templates(exemplars))
        assert seen == [1] and torch.get_num_threads() == 2
        with ThreadPoolExecutor(2) as pool:     # another thread's count is its own
            assert pool.submit(P.search_placement, mask, P.templates(exemplars)).result() == alone
        assert torch.get_num_threads() == 2 and seen == [1, 1]
    finally:
        torch.set_num_threads(before)


def test_a_model_makes_its_coarse_kernels_at_load_and_the_search_makes_none():
    from editor_support import tiny_editor

    from ganpaint_core.editing.editor import Editor

    tiny = tiny_editor()
    exemplars = {"tree": _shapes(6, seed=1), "dome": _shapes(4, seed=2), "none": {"shapes": np.zeros((0, 24, 24)),
                                                                                  "sizes": np.zeros((0, 2))}}
    editor = Editor(tiny.generator, dissection=tiny.dissection, exemplars=exemplars)
    side = P.coarse_side(editor.size)
    assert side == P.coarse_side(editor.size * 4) <= P.SEARCH and P.coarse_side(96) == 12
    for concept in ("tree", "dome"):
        made = P.templates(exemplars[concept])._caches["at"]
        assert set(made) == {(h, side) for h in range(2, side + 1)}
        before = dict(made)
        P.search_placement(np.pad(np.ones((30, 20), bool), ((10, editor.size - 40), (5, editor.size - 25))),
                           P.templates(exemplars[concept]))
        assert made == before                           # every coarse height the search asked for was there
    assert "templates" not in exemplars["none"]


@pytest.mark.slow
@shipped
def test_adds_of_every_concept_and_strength_paint_the_pictures_of_the_reference_search(monkeypatch):
    """The whole add (placement, render, paste-back) on a fitted scene photo: 54 adds, every concept with exemplars
    at every strength, pictures bit for bit those of the same session with the reference search placing."""
    from eval.run.tasks import random_blob
    from ganpaint_core.editing.editor import Editor
    from ganpaint_core.scenes import HELDOUT_SEED_START, render, sample_scene

    editor = Editor.from_pretrained("default")
    session = editor.fit(render(sample_scene(HELDOUT_SEED_START + 700_500), editor.size)[0],
                         z_steps=6, r_steps=6, adapt_steps=6)
    rng = np.random.default_rng(54)
    edits = [(random_blob(editor.size, rng), concept, strength)
             for concept in editor.exemplars for strength in STRENGTHS for _ in range(3)]

    def pictures():
        out = []
        for mask, concept, strength in edits:
            out.append((session.edit(mask, concept, "add", strength).image, session.operations[-1].mask))
            session.reset()
        return out

    ours = pictures()
    references = {c: Reference(e["shapes"], e["sizes"]) for c, e in editor.exemplars.items()}
    by_bank = {id(P.templates(e)): references[c] for c, e in editor.exemplars.items()}
    for entry in editor.exemplars.values():
        P.templates(entry)._caches["placed"].clear()        # place again, not from the kept placements
    searched = []

    def reference_search(target, bank, penalty, scales, search, keep):
        searched.append(penalty)
        return by_bank[id(bank)].search(target, penalty, scales, search, keep)

    monkeypatch.setattr(P, "search_placement", reference_search)
    theirs = pictures()
    assert len(ours) == 54 and len(searched) == 54 and len(set(searched)) >= 6     # every add placed, anew
    for (image, placed), (reference, reference_placed) in zip(ours, theirs, strict=True):
        assert np.array_equal(placed, reference_placed) and np.array_equal(image, reference)

"""The placement search's shortcuts give today's placements: exact scores, the same resampled stacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.editing import placement as P
from ganpaint_core.models import MODELS_DIR

EXEMPLARS = MODELS_DIR / "default" / "exemplars.safetensors"


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
    for k in (0, 1, 2, 3):
        for _ in range(6):
            h, w = rng.integers(2, 40, size=2)
            full = torch.from_numpy(rng.random((1, 1, (h + 4) << k, (w + 4) << k)) > 0.4).float()
            window = F.avg_pool2d(full, 2 ** k) if k else full
            stack = torch.from_numpy(rng.random((int(rng.integers(1, 6)), 1, h, w)) > 0.5).float()
            assert torch.equal(P.correlate(window, stack), F.conv2d(window, stack)[0].flatten(1))


def test_the_kept_stacks_are_the_resampled_shapes():
    bank = P.Templates(**{k: v for k, v in _shapes(5).items()})
    for index in range(5):
        for heights in ((2, 3, 4), (17, 18, 19, 20, 21), (60,), (126, 127, 128)):
            stack, sums = bank.stack(index, heights, 128)
            for i, h in enumerate(heights):
                shape = P._resized(bank.shapes[index], h, bank.width(index, h, 128))
                assert torch.equal(stack[i, 0, :h, :shape.shape[1]], shape)
                assert not stack[i, 0, h:].any() and not stack[i, 0, :, shape.shape[1]:].any()
                assert float(sums[i]) == float(shape.sum())


def _conv_refine(monkeypatch):
    """The search as it scored its refinements before: ``F.conv2d``."""
    monkeypatch.setattr(P, "correlate", lambda window, stack: F.conv2d(window, stack)[0].flatten(1))


@pytest.mark.parametrize("size", [64, 128])
def test_the_search_places_as_the_conv2d_search_did(size, monkeypatch):
    from eval.run.tasks import random_blob

    exemplars = _shapes(12, seed=size)
    rng = np.random.default_rng(size)
    masks = [random_blob(size, rng) for _ in range(12)]
    ours = [P.search_placement(m, P.templates(exemplars)) for m in masks]
    _conv_refine(monkeypatch)
    before = [P.search_placement(m, P.Templates(exemplars["shapes"], exemplars["sizes"])) for m in masks]
    assert ours == before


@pytest.mark.skipif(not EXEMPLARS.is_file(), reason="the default model is not shipped")
def test_the_shipped_exemplars_place_scene_adds_as_before(monkeypatch):
    """Held-out scene add masks (trees, domes) at 128 and 256 px, on the shipped model's exemplars."""
    from PIL import Image

    from ganpaint_core.dissection.exemplars import load_exemplars
    from ganpaint_core.scenes.pairs import find_pairs

    shipped = load_exemplars(EXEMPLARS)
    masks = [(pair.mask, pair.concept) for kind in ("add_tree", "add_dome")
             for pair in find_pairs(kind, 3, 10_800_000, 128)]
    masks += [(np.asarray(Image.fromarray(m).resize((256, 256), Image.NEAREST)), c) for m, c in masks]

    def search(kept):
        return [P.search_placement(m, P.templates(kept[c])) for m, c in masks]

    ours = search({c: dict(e) for c, e in shipped.items()})
    _conv_refine(monkeypatch)
    assert ours == search({c: {"shapes": e["shapes"], "sizes": e["sizes"]} for c, e in shipped.items()})


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

"""Concept levels (what each unit reads where a concept is drawn) and the add edits that set them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.concepts import concept_id
from ganpaint_core.dissection.levels import add_levels, concept_levels
from ganpaint_core.editing.edits import concept_operation, level_blend


class TwoUnitWorld:
    """Unit 0 > 0 draws a tree over its whole grid cell (red); elsewhere sky.  Unit 1 is noise."""

    z_dim, layer_names = 4, ["layer1"]

    def features(self, z, layer):
        g = torch.Generator().manual_seed(int(z.abs().sum() * 1000) % 10_000)
        return torch.randn(z.shape[0], 2, 4, 4, generator=g)

    def render_from(self, feats, layer):
        red = F.interpolate((feats[:, :1] > 0).float() * 2 - 1, scale_factor=8, mode="nearest")
        return torch.cat([red, -torch.ones_like(red), -torch.ones_like(red)], 1)

    def expected(self, samples, batch, seed):
        g, sums, cells = torch.Generator().manual_seed(seed), torch.zeros(2), 0
        for start in range(0, samples, batch):
            f = self.features(torch.randn(min(batch, samples - start), self.z_dim, generator=g), "layer1")
            on = f[:, 0] > 0
            sums += f.permute(1, 0, 2, 3)[:, on].sum(1)
            cells += int(on.sum())
        return sums / cells, cells


class RedIsTree:
    def predict(self, images):
        return np.where(images[..., 0] > 127, concept_id("tree"), concept_id("sky")).astype(np.uint8)


def test_levels_are_the_mean_features_where_the_concept_is_drawn():
    world = TwoUnitWorld()
    levels, counts = concept_levels(world, RedIsTree(), "layer1", samples=7, batch=3, seed=5, progress=False)
    want, cells = world.expected(7, 3, 5)
    tree = concept_id("tree")
    assert int(counts[tree]) == cells > 0 and int(counts[concept_id("sky")]) == 7 * 16 - cells
    assert torch.allclose(levels[tree], want, atol=1e-5)
    assert levels[tree, 0] > 0 > levels[concept_id("sky"), 0]
    assert int(counts[concept_id("dome")]) == 0 and levels[concept_id("dome")].eq(0).all()
    with pytest.raises(ValueError, match="min_share"):
        concept_levels(world, RedIsTree(), "layer1", samples=1, min_share=0)
    dissection = add_levels({"layer": "layer1", "concepts": {"tree": {"units": [0]}}}, world, RedIsTree(),
                            samples=3, progress=False)
    assert len(dissection["concepts"]["tree"]["levels"]) == 2 and dissection["concepts"]["dome"]["levels"] == []


def test_add_sets_every_unit_to_the_concepts_levels_blended_by_strength():
    dissection = {"units": [{"unit": u, "high": 5.0} for u in range(3)], "strength_units": {"low": 1, "medium": 2,
                                                                                            "high": 3},
                  "concepts": {"tree": {"units": [0], "add_units": [2], "levels": [1.0, -2.0, 3.0]},
                               "dome": {"units": [1]}}}
    r, mask = torch.ones(1, 3, 4, 4), np.zeros((16, 16), bool)
    mask[:4, :4] = True
    add = concept_operation(r, dissection, mask, "tree", "add", add_mode="levels")
    assert add.channels is None
    out = add.apply(r)
    assert torch.equal(out[0, :, 0, 0], torch.tensor([1.0, -2.0, 3.0])) and out[0, :, 1:, :].eq(1).all()
    assert level_blend("low", dissection) == 0.5 and level_blend("high", dissection) == 1.0
    half = concept_operation(r, dissection, mask, "tree", "add", "low", add_mode="levels").apply(r)
    assert torch.allclose(half[0, :, 0, 0], torch.tensor([1.0, -0.5, 2.0]))
    units = concept_operation(r, dissection, mask, "tree", "add", add_mode="units")
    assert units.channels == [2] and float(units.values.flatten()[0]) == 5.0
    default = concept_operation(r, dissection, mask, "tree", "add")     # exemplar, none kept: the levels
    assert default.channels is None and np.array_equal(default.mask, mask)
    assert concept_operation(r, dissection, mask, "dome", "add", add_mode="levels").channels == [1]  # no levels
    assert concept_operation(r, dissection, mask, "tree", "remove").channels == [0]   # remove zeroes units
    with pytest.raises(ValueError, match="levels have 3 units"):
        concept_operation(torch.ones(1, 4, 4, 4), dissection, mask, "tree", "add", add_mode="levels")
    with pytest.raises(ValueError, match="add mode"):
        concept_operation(r, dissection, mask, "tree", "add", add_mode="paint")


def test_levels_only_needs_an_existing_dissection(tmp_path, capsys):
    import ganpaint_core.__main__ as cli
    from ganpaint_core.commands.cli import main

    missing = tmp_path / "none.json"
    assert main("python -m ganpaint_core", "", cli.COMMANDS,
                ["dissect", "--model", "default", "--levels-only", "--out", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs an existing dissection" in err[0] and not missing.exists()

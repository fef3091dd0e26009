"""Causal unit ranking: the first-order effect of setting a unit, on a model with a known answer."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.concepts import NUM_CONCEPTS
from ganpaint_core.dissection.causal import effects, random_regions, ranked_units
from ganpaint_core.editing.edits import concept_operation


def identity_world(batch: int = 6, seed: int = 0):
    """Unit c is concept c's logit: rendering upsamples the features, segmenting reads them as logits."""
    g = torch.Generator().manual_seed(seed)
    r = torch.rand(batch, NUM_CONCEPTS, 4, 4, generator=g)
    return r, (lambda x: F.interpolate(x, scale_factor=4, mode="nearest")), (lambda x: 3 * x)


def test_setting_a_concepts_own_unit_has_the_largest_effect():
    r, render, segment = identity_world()
    regions = random_regions(r.shape[0], 4, 2, torch.Generator().manual_seed(1))
    assert regions.sum((1, 2, 3)).eq(4).all()
    mixed = random_regions(50, 8, (2, 4), torch.Generator().manual_seed(2))
    assert set(mixed.sum((1, 2, 3)).tolist()) == {4.0, 9.0, 16.0}
    with pytest.raises(ValueError, match="within 1..8"):
        random_regions(2, 8, (3, 9), torch.Generator())
    add = effects(render, segment, r, torch.full((NUM_CONCEPTS,), 2.0), regions, "add")
    assert add.shape == (NUM_CONCEPTS, NUM_CONCEPTS)
    assert ranked_units(add, 1) == [[c] for c in range(NUM_CONCEPTS)]
    off_diagonal = add[~torch.eye(NUM_CONCEPTS, dtype=bool)]
    assert (add.diagonal() > 0).all() and (off_diagonal < 0).all()   # raising unit c takes share from the others
    remove = effects(render, segment, r, torch.full((NUM_CONCEPTS,), 2.0), regions, "remove")
    assert ranked_units(-remove, 1) == [[c] for c in range(NUM_CONCEPTS)]   # zeroing unit c lowers c the most
    with pytest.raises(ValueError, match="unknown action"):
        effects(render, segment, r, torch.ones(NUM_CONCEPTS), regions, "paint")


def test_edits_use_the_ranking_of_their_action_and_fall_back_to_iou():
    import numpy as np

    dissection = {"units": [{"unit": u, "high": 1.0 + u} for u in range(6)],
                  "concepts": {"tree": {"units": [0, 1, 2], "add_units": [5, 4, 3], "remove_units": [2, 0, 1]},
                               "dome": {"units": [3, 4]}}}
    r, mask = torch.zeros(1, 6, 4, 4), np.ones((16, 16), bool)
    add = concept_operation(r, dissection, mask, "tree", "add", strength=0.02)
    assert add.channels == [5] and float(add.values.flatten()[0]) == 6.0
    assert concept_operation(r, dissection, mask, "tree", "remove", strength=0.02).channels == [2]
    assert concept_operation(r, dissection, mask, "dome", "add", strength=0.02).channels == [3]

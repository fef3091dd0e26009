"""A concept's looks: G's instances grouped by colour, each with its own levels; an add draws one of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganpaint_core.concepts import concept_id
from ganpaint_core.dissection.looks import add_looks, chosen_look, collect_looks
from ganpaint_core.editing.edits import concept_levels, concept_operation, fine_levels
from ganpaint_core.models import MODELS_DIR

DOME, SKY = concept_id("dome"), concept_id("sky")
DEFAULT = MODELS_DIR / "default"


class TwoDomes:
    """A generator drawing one 32 px dome per sample on sky: gold where z[0] > 0 (unit 0 high on its cells),
    blue elsewhere (unit 1 high); its finer layer doubles the features (at twice the resolution)."""

    z_dim = 2

    def features(self, z, layer):
        x = torch.zeros(len(z), 2, 8, 8)
        gold = z[:, 0] > 0
        x[gold, 0, 2:4, 2:4] = 3.0
        x[~gold, 1, 2:4, 2:4] = 5.0
        return x

    def render_from(self, x, layer, until=None):
        if until is not None:
            return 2 * torch.nn.functional.interpolate(x, scale_factor=2)
        up = torch.nn.functional.interpolate(x, size=(128, 128))
        image = torch.full((len(x), 3, 128, 128), -0.5)
        dome = (up[:, :1] + up[:, 1:]) > 0
        colour = torch.where(up[:, :1] > 0, torch.tensor([0.6, 0.3, -0.5]).view(1, 3, 1, 1),
                             torch.tensor([-0.6, -0.4, 0.4]).view(1, 3, 1, 1))
        return torch.where(dome, colour, image)


class Labels:
    def predict(self, images):
        return np.where((images != images[:, :1, :1]).any(-1), DOME, SKY)


def test_instances_are_grouped_by_colour_each_with_its_own_levels_most_first():
    looks = collect_looks(TwoDomes(), Labels(), "layer4", "layer6", ["dome"], samples=40, batch=10,
                          progress=False)["dome"]
    assert sum(look["instances"] for look in looks) == 40 and looks[0]["instances"] >= looks[-1]["instances"]
    by_colour = {("gold" if look["rgb"][0] > look["rgb"][2] else "blue"): look for look in looks}
    assert set(by_colour) == {"gold", "blue"}
    assert by_colour["gold"]["levels"] == pytest.approx([3.0, 0.0]) and by_colour["blue"]["levels"] == \
        pytest.approx([0.0, 5.0])
    assert by_colour["gold"]["fine_levels"] == pytest.approx([6.0, 0.0])
    with pytest.raises(ValueError, match="unknown concept"):
        collect_looks(TwoDomes(), Labels(), "layer4", None, ["cupola"], samples=4)


def test_an_add_sets_the_chosen_looks_levels_and_a_concept_without_looks_its_own():
    dissection = {"layer": "layer4", "fine_layer": "layer6", "units": [{"high": 1.0}, {"high": 1.0}],
                  "concepts": {"dome": {"units": [0, 1], "levels": [1.5, 2.5], "fine_levels": [3.0, 5.0]},
                               "tree": {"units": [0], "levels": [0.5, 0.5]}}}
    add_looks(dissection, TwoDomes(), Labels(), samples=40, progress=False)
    dome = dissection["concepts"]["dome"]
    look = chosen_look(dome)
    assert look is dome["looks"][dome["look"]]
    assert concept_levels(dissection, "dome").tolist() == pytest.approx(look["levels"])
    assert fine_levels(dissection, "dome")[1].flatten().tolist() == pytest.approx(look["fine_levels"])
    assert concept_levels(dissection, "tree").tolist() == [0.5, 0.5] and chosen_look(dissection["concepts"]["tree"]) \
        is None
    mask = np.zeros((128, 128), bool)
    mask[32:96, 32:96] = True
    op = concept_operation(torch.zeros(1, 2, 8, 8), dissection, mask, "dome", "add", add_mode="levels")
    assert op.values.flatten().tolist() == pytest.approx(look["levels"])


@pytest.mark.skipif(not (DEFAULT / "dissection.json").is_file(), reason="the default model is not shipped")
def test_the_default_models_domes_come_in_looks_and_the_chosen_one_is_not_the_grey_mean():
    import json

    dome = json.loads((DEFAULT / "dissection.json").read_text())["concepts"]["dome"]
    looks = dome["looks"]
    assert len(looks) >= 3 and chosen_look(dome) is looks[dome["look"]]
    spread = np.ptp([look["rgb"] for look in looks], axis=0)
    assert spread.max() >= 40, spread              # the looks differ in colour (gold against grey-blue)
    mean = np.asarray(dome["levels"])
    assert np.abs(np.asarray(chosen_look(dome)["levels"]) - mean).mean() > 0.05


def test_the_added_domes_figure_sets_the_looks_aside_and_back_and_refuses_other_concepts(tmp_path):
    from argparse import Namespace

    from eval.studies.added_trees import levers_off, run

    dissection = {"concepts": {"dome": {"levels": [1.0], "looks": [{"levels": [2.0], "fine_levels": []}], "look": 0},
                               "tree": {"levels": [3.0]}}}
    with levers_off(dissection):
        assert chosen_look(dissection["concepts"]["dome"]) is None
    assert chosen_look(dissection["concepts"]["dome"])["levels"] == [2.0]
    with pytest.raises(ValueError, match="concept"):
        run(Namespace(out=str(tmp_path / "a.jpg"), model="default", tasks=2, fit="", concept="cupola"))


@pytest.mark.skipif(not (DEFAULT / "dissection.json").is_file(), reason="the default model is not shipped")
def test_the_default_models_added_tree_takes_the_darkest_look_at_the_edit_layer_only():
    """A tree add sets its darkest look's levels on the edit layer (the segmenter reads more of it as tree: docs/
    edits.md, round 4: adds) and the concept's own at the finer layer; a dome's look sets both."""
    import json

    dissection = json.loads((DEFAULT / "dissection.json").read_text())
    tree = dissection["concepts"]["tree"]
    darkest = min(tree["looks"], key=lambda look: sum(look["rgb"]))
    assert len(tree["looks"]) >= 3 and chosen_look(tree) is darkest
    assert concept_levels(dissection, "tree").tolist() == pytest.approx(darkest["levels"])
    assert np.abs(np.asarray(darkest["levels"]) - tree["levels"]).mean() > 0.02
    assert fine_levels(dissection, "tree")[1].flatten().tolist() == pytest.approx(tree["fine_levels"])
    dome = dissection["concepts"]["dome"]
    assert fine_levels(dissection, "dome")[1].flatten().tolist() == pytest.approx(chosen_look(dome)["fine_levels"])

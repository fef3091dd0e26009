"""The paper's models offline: numeric oracles of the 256 px ProGAN and the church encoder, and the church units."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from paper_support import REFERENCE, encoder_state, needs_reference, oracle, proggan_state

from ganpaint_core.dissection.gandissect import from_gandissect
from ganpaint_core.editing.edits import Operation, concept_units, paintable, units_for
from ganpaint_core.models import MODELS_DIR, generator_from_state_dict
from ganpaint_core.networks.hybrid_encoder import STAGES, encoder_from_state_dict, load_hybrid_encoder

pytestmark = needs_reference
TREE_TOP10 = [119, 125, 157, 195, 365, 374, 418, 426, 408, 3]   # ../shared/reference/README.md


@pytest.fixture(scope="module")
def church_encoder_state():
    return encoder_state()


def test_church_encoder_reproduces_the_oracle_at_every_stage(church_encoder_state):
    expected = oracle("church_encoder_oracle.npz")
    encoder = encoder_from_state_dict(church_encoder_state)
    with torch.no_grad():
        stages = encoder.stages(torch.from_numpy(expected["x"]))
        z = encoder(torch.from_numpy(expected["x"]))
    assert list(stages) == list(STAGES)
    for name, out in stages.items():
        want = expected[f"out_{name}"]
        assert out.shape == want.shape, name
        assert np.abs(out.numpy() - want).max() <= 1e-4 * max(1.0, np.abs(want).max()), name
    assert z.shape == (2, 512) and torch.allclose(z, stages["inv1"].flatten(1))


@pytest.mark.parametrize("layout", ["wrapped", "prefixed", "both"])
def test_encoder_files_load_plain_wrapped_or_prefixed(tmp_path, church_encoder_state, layout):
    state = church_encoder_state
    if layout in ("prefixed", "both"):
        state = {f"model.{k}": v for k, v in state.items()}
    if layout in ("wrapped", "both"):
        state = {"state_dict": state, "epoch": 1000}
    torch.save(state, tmp_path / "enc.pth")
    loaded = load_hybrid_encoder(tmp_path / "enc.pth").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in church_encoder_state.items())


def test_encoder_errors_are_clear(tmp_path, church_encoder_state):
    torch.save({k: v for k, v in church_encoder_state.items() if not k.startswith("inv1.")}, tmp_path / "cut.pth")
    with pytest.raises(ValueError, match="not a HybridLayerNormEncoder state dict.*inv1"):
        load_hybrid_encoder(tmp_path / "cut.pth")
    with pytest.raises(FileNotFoundError, match="no encoder weights"):
        load_hybrid_encoder(tmp_path / "missing.pth")


def test_proggan256_and_the_demo_intervention_reproduce_the_oracle():
    expected = oracle("proggan256_oracle.npz")
    g = generator_from_state_dict(proggan_state()).eval()
    z = torch.from_numpy(expected["z"])
    with torch.no_grad():
        r = g.features(z, "layer4")
        assert np.abs(r.numpy() - expected["layer4"]).max() < 1e-4
        assert np.abs(g.render_from(r, "layer4").numpy() - expected["image"]).max() < 1e-4
        alpha = torch.from_numpy(expected["mask8"])[None, None]
        units = [int(u) for u in expected["units"]]
        for action, values in (("add", torch.from_numpy(expected["values"])), ("remove", torch.zeros(10))):
            op = Operation(action, np.zeros((256, 256), bool), alpha, units, values.view(1, -1, 1, 1))
            got = g.render_from(op.apply(r[:1]), "layer4").numpy()
            assert np.abs(got - expected[action]).max() < 1e-4, action


def test_church_units_are_ganpaints_own():
    shipped = json.loads((MODELS_DIR / "church" / "dissection.json").read_text())
    reference = json.loads((REFERENCE / "gandissect_churchoutdoor_layer4.json").read_text())
    assert from_gandissect(reference, "church") == json.loads(json.dumps(from_gandissect(reference, "church")))
    assert shipped == json.loads(json.dumps(from_gandissect(reference, "church")))   # rebuilt, it is the same file
    assert shipped["concepts"]["tree"]["units"][:10] == TREE_TOP10
    assert paintable(shipped)[:7] == ["tree", "grass", "door", "sky", "cloud", "brick", "dome"]
    assert {shipped["concepts"][c]["ranking"] for c in ("tree", "grass", "door")} == {"tree-ace", "grass-ace",
                                                                                       "door-ace"}
    assert shipped["concepts"]["dome"]["ranking"] == "dome-iou" and "" not in shipped["concepts"]
    assert [units_for(s, shipped) for s in ("low", "medium", "high", 1.0)] == [4, 10, 15, 15]
    units, high = concept_units(shipped, "tree", units_for("low", shipped), "remove")
    assert units == TREE_TOP10[:4]
    assert high.tolist() == pytest.approx([reference["levels"][u] for u in units])
    assert shipped["units"][418]["high"] == pytest.approx(76.16, abs=0.01)   # the README's outlier


def test_default_model_keeps_its_strengths():
    default = json.loads((MODELS_DIR / "default" / "dissection.json").read_text())
    assert [units_for(s, default) for s in ("low", "medium", "high")] == [12, 24, 36]

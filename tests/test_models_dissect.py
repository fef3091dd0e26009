"""Dissection: streaming quantiles, a planted concept unit, the CLI's file and picture, the shipped result."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from ganpaint_core.concepts import NAMES, concept_id
from ganpaint_core.dissection.dissect import IOU_GRID, RunningQuantile, dissect, draw, summary
from ganpaint_core.models import MODELS_DIR, ModelBundle, check_dissection, save_model
from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.networks.segmenter import Segmenter

SHIPPED = MODELS_DIR / "default"
PLANTED = 3


def test_running_quantile_matches_the_exact_quantile_as_the_range_grows():
    rq = RunningQuantile(4)
    g = torch.Generator().manual_seed(0)
    seen = []
    for i in range(12):
        values = torch.randn(4, 500, generator=g) * (1 + i) + torch.arange(4.0)[:, None]
        rq.add(values)
        seen.append(values)
    everything = torch.cat(seen, 1)
    for q in (0.9, 0.99):
        exact = torch.quantile(everything, q, dim=1)
        assert torch.allclose(rq.quantile(q), exact, atol=0.05), q
    assert rq.counts.sum() == everything.numel()  # no value is lost when the bins merge


class ThresholdSegmenter(torch.nn.Module):
    """Labels a pixel 'tree' where the red channel is bright, else 'sky' (a stand-in with a known answer);
    called on [-1, 1] images it gives the matching soft logits, for the causal ranking."""

    def predict(self, images: np.ndarray) -> np.ndarray:
        red = images[..., 0].astype(np.float32)
        return np.where(red > np.quantile(red, 0.9), concept_id("tree"), concept_id("sky")).astype(np.uint8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        red = images[:, 0]
        logits = torch.zeros(images.shape[0], len(NAMES), *images.shape[2:])
        logits[:, concept_id("sky")] = 0.0
        logits[:, concept_id("tree")] = 20 * (red - torch.quantile(red.detach().flatten(), 0.9))
        logits[:, [c for c in range(len(NAMES)) if NAMES[c] not in ("sky", "tree")]] = -30.0
        return logits


def planted_generator() -> ProgressiveGenerator:
    """An 8 px generator whose layer4 is its last layer and whose red output follows unit ``PLANTED``."""
    torch.manual_seed(0)
    g = ProgressiveGenerator([16, 16, 16]).eval().requires_grad_(False)
    out = g.output_8x8
    out.conv.weight.zero_()
    out.conv.weight[0, PLANTED] = 0.3 / out.wscale.scale  # red = 0.3 * (pixel-normed unit) - 0.3, inside [-1, 1]
    out.wscale.b.copy_(torch.tensor([-0.3, 0.0, 0.0]))
    return g


def test_dissection_finds_the_planted_unit_and_is_well_formed():
    g = planted_generator()
    result = dissect(g, ThresholdSegmenter(), "layer4", samples=60, quantile=0.9, batch=20, progress=False)
    check_dissection(result, g)
    assert result["layer"] == "layer4" and result["quantile"] == 0.9 and result["num_samples"] == 60
    assert result["units"][PLANTED]["concept"] == "tree" and result["units"][PLANTED]["iou"] > 0.25
    tree = result["concepts"]["tree"]
    assert tree["units"][0] == PLANTED and tree["ious"] == sorted(tree["ious"], reverse=True)
    assert tree["ious"][1] < tree["ious"][0] - 0.1  # the other units are clearly worse
    # threshold = the unit's 0.9 quantile of its upsampled activation over the same samples
    feats = g.features(torch.randn(60, 16, generator=torch.Generator().manual_seed(0)), "layer4")[:, PLANTED]
    up = F.interpolate(feats[:, None], size=16, mode="bilinear", align_corners=False)
    assert result["units"][PLANTED]["threshold"] == pytest.approx(float(torch.quantile(up.flatten(), 0.9)), abs=0.02)
    assert result["units"][PLANTED]["high"] == pytest.approx(float(torch.quantile(feats.flatten(), 0.99)), abs=0.02)
    assert summary(result, 0.3)["tree"] >= 1 and result["iou_grid"] == IOU_GRID
    # the causal ranking: forcing the planted unit high draws trees, zeroing it removes them
    assert tree["add_units"][0] == PLANTED and tree["remove_units"][0] == PLANTED
    assert tree["add_effects"][0] > 0 and tree["add_effects"] == sorted(tree["add_effects"], reverse=True)
    assert result["causal_samples"] > 0 and len(tree["add_units"]) == len(set(tree["add_units"])) == 16


def test_each_unit_keeps_its_best_quantile_when_given_several():
    g = planted_generator()
    single = dissect(g, ThresholdSegmenter(), "layer4", samples=40, quantile=0.9, batch=20, progress=False)
    both = dissect(g, ThresholdSegmenter(), "layer4", samples=40, quantile=(0.99, 0.9), batch=20, progress=False)
    assert both["quantile"] == [0.99, 0.9]
    planted = both["units"][PLANTED]
    # the planted region covers ~10% of the pixels: a 0.99 threshold caps its IoU near 0.1, 0.9 fits it
    assert planted["quantile"] == 0.9 and planted["concept"] == "tree"
    assert planted["iou"] == pytest.approx(single["units"][PLANTED]["iou"]) and planted["iou"] > 0.25
    assert all(u["iou"] >= s["iou"] - 1e-9 for u, s in zip(both["units"], single["units"], strict=True))


def test_draw_outlines_the_top_units(tmp_path):
    from PIL import Image

    g = planted_generator()
    result = dissect(g, ThresholdSegmenter(), "layer4", samples=20, quantile=0.9, batch=20, progress=False)
    rows = draw(g, result, tmp_path / "units.png", per_concept=2, samples=3, min_iou=0.3)
    assert ("tree", PLANTED) in rows and all(result["concepts"][c]["units"].index(u) < 2 for c, u in rows)
    picture = np.asarray(Image.open(tmp_path / "units.png"))
    assert picture.shape[0] == len(rows) * (8 + 2) and (picture == (255, 230, 0)).all(-1).any()  # outlines
    with pytest.raises(ValueError, match="nothing to draw"):
        draw(g, result, tmp_path / "none.png", min_iou=1.01)


def test_dissection_rejects_bad_arguments():
    g = planted_generator()
    with pytest.raises(ValueError, match="quantile"):
        dissect(g, ThresholdSegmenter(), quantile=1.0)
    with pytest.raises(ValueError, match="unknown layer 'layer9'"):
        dissect(g, ThresholdSegmenter(), layer="layer9")


def test_dissect_cli_writes_the_file_and_the_picture(tmp_path, capsys):
    torch.manual_seed(0)
    g = ProgressiveGenerator([16, 16, 16, 8]).eval()
    folder = save_model(tmp_path / "tiny", ModelBundle(name="tiny", generator=g, segmenter=Segmenter([8, 8]).eval()))
    out, picture = tmp_path / "d.json", tmp_path / "d.png"
    cmd = [sys.executable, "-m", "ganpaint_core", "dissect", "--model", str(folder), "--out", str(out),
           "--samples", "12", "--batch", "6", "--quantile", "0.95", "--picture", str(picture)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    check_dissection(result, g)
    assert result["model"] == "tiny" and result["quantile"] == 0.95 and len(result["units"]) == 16
    assert "units with IoU >= 0.10 per concept" in done.stdout and picture.stat().st_size > 0
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    # the error through the command's entry point in this process (the real process ran above)
    assert main("python -m ganpaint_core", "", COMMANDS, [*cmd[3:4], "--model", str(tmp_path / "missing")]) == 2
    assert "no model" in capsys.readouterr().err


@pytest.mark.skipif(not (SHIPPED / "dissection.json").exists(), reason="models/default/dissection.json not shipped")
def test_shipped_dissection_has_six_concepts_with_three_units():
    from ganpaint_core.models import load_model

    bundle = load_model("default")
    check_dissection(bundle.dissection, bundle.generator)
    counts = summary(bundle.dissection, 0.10)
    assert sum(n >= 3 for n in counts.values()) >= 6, counts
    labelled = summary(bundle.dissection, 0.10, by="label")        # one label per unit: sky and grass dominate
    assert sum(labelled.values()) >= 20 and labelled["sky"] >= 3 and labelled["grass"] >= 3, labelled
    assert bundle.dissection["layer"] == "layer4" and bundle.dissection["num_samples"] >= 1000
    assert set(bundle.dissection["concepts"]) == set(NAMES)

"""The shipped model folder: offline loading, size budget, and model cards that match the shipped weights."""

from __future__ import annotations

import re

import pytest
import torch

from ganpaint_core.models import MODELS_DIR, PARTS, load_model

DEFAULT = MODELS_DIR / "default"
pytestmark = pytest.mark.skipif(not (DEFAULT / "generator.safetensors").exists(),
                                reason="models/default is not shipped yet")


def _metadata(part: str) -> dict:
    from safetensors import safe_open

    with safe_open(str(DEFAULT / f"{part}.safetensors"), framework="pt") as f:
        return f.metadata() or {}


def _card_figures(card: str, label: str, unit: str) -> list[float]:
    """Numbers in card table rows whose first cell mentions ``label``, e.g. '| encoder PSNR … | 24.31 dB |'."""
    return [float(v) for v in re.findall(rf"\|[^|\n]*{label}[^|\n]*\|\s*([\d.]+)\s*{unit}", card)]


def test_default_loads_offline_with_every_part_and_fits_the_size_budget():
    bundle = load_model("default")
    assert bundle.folder == DEFAULT and bundle.layer == "layer4" and bundle.resolution == 128
    assert all(getattr(bundle, part) is not None for part in PARTS) and bundle.dissection is not None
    z = torch.randn(2, bundle.generator.z_dim)
    with torch.no_grad():
        x = bundle.generator(z)
        assert bundle.encoder(x).shape == z.shape and bundle.segmenter(x).shape[-2:] == x.shape[-2:]
    megabytes = sum(p.stat().st_size for p in DEFAULT.iterdir()) / 2**20
    assert megabytes < 40, megabytes


def test_card_covers_every_shipped_file():
    card = load_model("default").card
    for name in ("generator", "segmenter", "encoder", "discriminator", "dissection"):
        assert f"### {name}" in card, name
        for field in ("Data", "Command", "Steps", "Wall time", "Hardware"):
            section = card.split(f"### {name}", 1)[1].split("\n### ", 1)[0]
            assert f"**{field}**" in section, (name, field)


def test_card_figures_match_the_shipped_weights():
    card = load_model("default").card
    miou = float(_metadata("segmenter")["miou"])
    assert any(abs(v - miou) < 0.001 for v in _card_figures(card, "mIoU", "")), miou
    psnr = float(_metadata("encoder")["psnr"])
    assert any(abs(v - psnr) < 0.01 for v in _card_figures(card, "PSNR", "dB")), psnr

"""LPIPS end to end on its real code path (lpips imported through the torchvision shim, the AlexNet backbone read
from torch's cache) with random backbone weights; and the clear n/a where no weights are cached."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from ganpaint_core.metrics import LPIPS


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """A TORCH_HOME holding random AlexNet weights under the file name torchvision looks for."""
    from ganpaint_core.vision_shim import import_torchvision

    models = import_torchvision().models
    name = Path(models.AlexNet_Weights.IMAGENET1K_V1.url).name
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(models.alexnet().state_dict(), checkpoints / name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return checkpoints


def test_lpips_runs_on_the_cached_backbone(torch_home):
    scorer = LPIPS()
    assert scorer.available, scorer.reason
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = a.copy()
    b[:, 32:] = 255 - b[:, 32:]
    assert scorer(a, a) == pytest.approx(0.0, abs=1e-6)
    whole = scorer(a, b)
    left, right = np.zeros((64, 64), bool), np.zeros((64, 64), bool)
    left[:, :16], right[:, 48:] = True, True
    assert np.isfinite(whole) and whole > 0
    assert scorer(a, b, right) > scorer(a, b, left)        # the spatial map: larger where the pictures differ


def test_without_cached_weights_lpips_is_na_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    scorer = LPIPS()
    assert not scorer.available and scorer.reason.startswith("no backbone weights in TORCH_HOME")
    assert np.isnan(scorer(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)))


def test_an_eval_run_fills_the_lpips_columns(torch_home, tmp_path, without_plots):
    from eval.__main__ import COMMANDS
    from eval.bench.editor import write_random_model
    from ganpaint_core.commands.cli import main

    model = write_random_model(tmp_path / "tiny", sizes=[32, 32, 32, 16, 16], dissection_samples=4)
    out = tmp_path / "out"
    assert main("python -m eval", "", COMMANDS, ["run", "--model", str(model), "--photos", "scenes:1", "--out",
                                                  str(out), "--methods", "ours,copy_paste", "--workers", "1",
                                                  "--fit", "z_steps=1,r_steps=1,adapt_steps=1"]) == 0
    with open(out / "edits.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(float(r["lpips"]) >= 0 and float(r["lpips_out"]) >= 0 for r in rows)
    assert "LPIPS: available" in (out / "summary.md").read_text()

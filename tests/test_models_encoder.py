"""The inversion encoder: shapes, its training CLI (export, resume, metrics) and the shipped card's PSNR."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from ganpaint_core.models import ModelBundle, load_model, save_model
from ganpaint_core.networks.encoder import Encoder
from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.training.train_encoder import psnr


def test_encoder_maps_images_to_z():
    enc = Encoder(32, 24, [8, 8, 16])
    assert enc(torch.zeros(3, 3, 32, 32)).shape == (3, 24)
    with pytest.raises(ValueError, match="resolution"):
        Encoder(48, 24)


def test_psnr_of_known_errors():
    a = torch.zeros(2, 3, 4, 4)
    b = a.clone()
    b[1] += 0.2  # error 0.1 on the [0, 1] scale: 20 dB
    assert psnr(a, b)[1] == pytest.approx(20.0, abs=1e-4) and psnr(a, b)[0] > 90


def _train_here(argv: list[str], capsys) -> str:
    """``train encoder`` through the command's entry point in this process (its --threads restored after); the
    first run of the test goes through a real process.  Returns what it printed."""
    from ganpaint_core.__main__ import COMMANDS
    from ganpaint_core.commands.cli import main

    threads = torch.get_num_threads()
    try:
        assert main("python -m ganpaint_core", "", COMMANDS, argv) == 0
    finally:
        torch.set_num_threads(threads)
    return capsys.readouterr().out


def test_train_encoder_cli_exports_resumes_and_reports_psnr(tmp_path, capsys):
    torch.manual_seed(0)
    g = ProgressiveGenerator([16, 16, 16, 8]).eval()
    folder = save_model(tmp_path / "m", ModelBundle(name="m", generator=g), half=False)
    run = tmp_path / "run"
    argv = ["train", "encoder", "--generator", str(folder / "generator.safetensors"), "--out", str(run), "--batch",
            "4", "--eval-samples", "6", "--threads", "1", "--export", str(folder / "encoder.safetensors")]
    first = subprocess.run([sys.executable, "-m", "ganpaint_core", *argv, "--minutes", "0.02"], capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["samples"] == 6 and metrics["steps"] >= 1 and 0 < metrics["psnr_mean"] < 100
    assert f"resumed at step {metrics['steps']}" in _train_here(argv + ["--minutes", "0.04"], capsys)
    assert json.loads((run / "metrics.json").read_text())["steps"] > metrics["steps"]
    encoder = load_model(folder).encoder
    assert encoder is not None and encoder(torch.zeros(1, 3, 16, 16)).shape == (1, 16)
    _train_here([*argv[:argv.index("--out")], "--out", str(tmp_path / "warm"), "--batch", "4", "--eval-samples", "6",
                 "--minutes", "0.01", "--init", str(folder / "encoder.safetensors")], capsys)
    assert json.loads((tmp_path / "warm" / "metrics.json").read_text())["init"].endswith("encoder.safetensors")

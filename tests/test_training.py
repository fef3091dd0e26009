"""The generator trainer: a few steps of a tiny GAN, its compact resume file, resuming, and device choice."""

import argparse
import functools

import pytest
import torch

from ganpaint_core import precision
from ganpaint_core.models import load_generator
from ganpaint_core.training import scene_cache, train_generator


def _args(out, **over):
    p = argparse.ArgumentParser()
    train_generator.add_arguments(p)
    argv = ["--out", str(out), "--sizes", "16,32,16,8,8", "--data", "8", "--batch", "4",
            "--schedule", "8:0.004,16:0.004", "--final-fade-kimg", "0.004", "--threads", "1",
            "--precision", "fp32", "--device", "cpu"]
    for key, value in over.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return p.parse_args(argv)


@pytest.fixture
def small_scenes(tmp_path, monkeypatch):
    monkeypatch.setattr(train_generator, "load_scenes",
                        functools.partial(scene_cache.load_scenes, cache_dir=tmp_path / "data", workers=1))


def test_trains_writes_a_compact_resume_file_and_resumes(tmp_path, small_scenes):
    out = tmp_path / "run"
    compact = tmp_path / "resume.pt"
    train_generator.run(_args(out, kimg=0.02, compact=compact, export=tmp_path / "g.safetensors"))
    small = torch.load(compact, map_location="cpu", weights_only=True)
    assert small["state"]["step"] == 5 and small["sizes"] == [16, 32, 16, 8, 8]
    assert "opt_g" not in small and all(v.dtype == torch.float16 for v in small["g_ema"].values())
    assert load_generator(tmp_path / "g.safetensors").resolution == 32
    before = {k: v.clone() for k, v in small["g"].items()}

    (out / "ckpt.pt").unlink()                       # resume from the compact file alone, as the repo does
    (out / "ckpt.pt").write_bytes(compact.read_bytes())
    train_generator.run(_args(out, kimg=0.04, compact=compact))
    again = torch.load(compact, map_location="cpu", weights_only=True)
    assert again["state"]["step"] == 10
    assert any(not torch.equal(before[k], again["g"][k]) for k in before)


def test_device_resolution_and_autocast_follow_the_device():
    assert precision.resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert precision.resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            precision.resolve_device("cuda")
    assert precision.use_bf16("auto", "cpu") is precision.native_bf16()
    a = torch.randn(4, 4)
    with precision.autocast(True, torch.device("cpu")):
        assert (a @ a).dtype == torch.bfloat16

"""Building networks from weight files: the generator (GAN-dissection layout, or a training checkpoint's EMA
generator) and the parts (segmenter, encoder, discriminator) with the widths their files record."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ganpaint_core.models.weights import read_safetensors, read_torch_checkpoint
from ganpaint_core.networks.proggan import ProgressiveGenerator, generator_from_state_dict


def _generator_state(obj: dict) -> dict:
    """The generator's state dict inside a checkpoint: plain, or the EMA generator of a training checkpoint."""
    if isinstance(obj.get("g_ema"), dict):  # ``train generator``'s ckpt.pt: a GrowingGenerator's state
        return {k[2:]: v for k, v in obj["g_ema"].items() if k.startswith("g.")}
    return obj


def load_generator(path: Path | str) -> ProgressiveGenerator:
    """A generator from a ``.safetensors`` or ``.pth``/``.pt`` state dict (GAN-dissection layout)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no generator checkpoint at {path}")
    if path.suffix == ".safetensors":
        state = read_safetensors(path)[0]
    else:
        state = _generator_state(read_torch_checkpoint(path))
    try:
        return generator_from_state_dict(state).eval().requires_grad_(False)
    except (RuntimeError, KeyError, IndexError, AttributeError) as err:  # wrong shapes or non-tensor values
        raise ValueError(f"{path} is not a Progressive-GAN generator checkpoint: {str(err)[:300]}") from err


def _build_part(part: str, meta: dict, generator: ProgressiveGenerator | None):
    """An empty network of the kind ``part`` with the widths stored in its file's metadata."""
    widths = json.loads(meta["widths"])
    if part == "segmenter":
        from ganpaint_core.networks.segmenter import Segmenter

        return Segmenter(widths)
    if generator is None:
        raise ValueError(f"loading a {part} needs its generator")
    if part == "encoder":
        from ganpaint_core.networks.encoder import Encoder

        return Encoder(generator.resolution, generator.z_dim, widths)
    from ganpaint_core.networks.discriminator import Discriminator

    return Discriminator(widths, generator.resolution)


def load_part(path: Path | str, part: str, generator: ProgressiveGenerator | None = None) -> torch.nn.Module:
    """One of ``PARTS`` from its ``.safetensors`` file (the encoder and discriminator need their generator)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {part} weights at {path}")
    tensors, meta = read_safetensors(path)
    try:
        module = _build_part(part, meta, generator)
        module.load_state_dict(tensors)
    except (KeyError, json.JSONDecodeError, TypeError, RuntimeError) as err:
        raise ValueError(f"{path} does not hold the weights this part needs: {str(err)[:300]}") from err
    module.metadata = dict(meta or {})   # figures such as the segmenter's mIoU travel with the weights
    return module.eval().requires_grad_(False)


def load_segmenter(path: Path | str):
    """A segmenter alone, from its ``.safetensors`` file (or the model folder holding ``segmenter.safetensors``)."""
    path = Path(path)
    return load_part(path / "segmenter.safetensors" if path.is_dir() else path, "segmenter")

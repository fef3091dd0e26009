"""Deterministic weights for the paper's models, built by the rules in ../shared/reference/README.md.

``proggan_state`` is the 256 px Progressive GAN of GAN dissection and ``encoder_state`` ganseeing's
``HybridLayerNormEncoder``, both under their published key names; the oracles there were recorded
with exactly these weights.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"{REFERENCE} (the reference data) is absent")


def _noise(key: str, shape) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(key.encode())).standard_normal(tuple(shape), dtype=np.float32)


def _keys(name: str) -> list:
    return json.loads((REFERENCE / name).read_text())["keys_in_order"]


def proggan_state() -> dict[str, torch.Tensor]:
    """n per key, times 0.1 for the ``.wscale.b`` biases."""
    return {key: torch.from_numpy(_noise(key, shape) * (0.1 if key.endswith(".wscale.b") else 1.0))
            for key, shape, *_ in _keys("proggan256_keys.json")}


def _encoder_value(key: str, shape) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return torch.tensor(0)
    n = _noise(key, shape)
    if key.endswith("running_var"):
        n = 1 + 0.5 * np.abs(n)
    elif key.endswith(("running_mean", ".bias")):
        n = 0.1 * n
    elif len(shape) == 1:
        n = 1 + 0.1 * n
    else:
        n = n * np.sqrt(2 / np.prod(shape[1:]))
    return torch.from_numpy(np.asarray(n, dtype=np.float32))


def encoder_state() -> dict[str, torch.Tensor]:
    """num_batches_tracked 0; running_var 1 + 0.5|n|; running_mean and biases 0.1 n; BN scales 1 + 0.1 n; else He."""
    return {key: _encoder_value(key, shape) for key, shape, *_ in _keys("church_encoder_keys.json")}


def oracle(name: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCE / name) as data:
        return {k: data[k] for k in data.files}


def write_church_cache(folder: Path) -> Path:
    """``folder`` as a GANPAINT_CACHE holding the registry's church files with these weights (no download)."""
    from ganpaint_core.models.registry import lookup

    entry = lookup("church")
    torch.save(proggan_state(), folder / entry.generator.file)
    torch.save({"state_dict": {f"model.{k}": v for k, v in encoder_state().items()}}, folder / entry.encoder.file)
    return folder

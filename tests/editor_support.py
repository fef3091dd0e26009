"""Helpers for the editor tests: a tiny random-weight model with a synthetic dissection, and scene photos."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ganpaint_core.concepts import NAMES
from ganpaint_core.editing.editor import Editor, FitOptions
from ganpaint_core.networks.proggan import ProgressiveGenerator
from ganpaint_core.networks.segmenter import Segmenter

TINY_SIZES = [32, 64, 32, 16, 8, 8]           # 64 px; layer4 = 32 units at 8x8
FAST = dict(z_steps=4, r_steps=4, adapt_steps=12, candidates=4, perceptual="none")


def synthetic_dissection(generator: ProgressiveGenerator, layer: str = "layer4", seed: int = 0) -> dict:
    """A well-formed dissection with measured ``high`` levels and arbitrary concept units (for plumbing tests)."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        feats = generator.features(torch.randn(32, generator.z_dim, generator=torch.Generator().manual_seed(seed)),
                                   layer)
    width = feats.shape[1]
    high = torch.quantile(feats.transpose(0, 1).reshape(width, -1), 0.99, dim=1)
    units = [{"unit": u, "concept": NAMES[u % len(NAMES)], "iou": 0.1, "threshold": float(high[u]) * 0.8,
              "high": float(high[u])} for u in range(width)]
    concepts = {name: {"units": [int(u) for u in rng.permutation(width)[:12]], "ious": [0.1] * 12}
                for name in NAMES if name != "roof"}       # "roof" is left unpaintable on purpose
    return {"layer": layer, "quantile": 0.99, "num_samples": 32, "units": units, "concepts": concepts}


def tiny_editor(seed: int = 0, **options) -> Editor:
    torch.manual_seed(seed)
    generator = ProgressiveGenerator(TINY_SIZES)
    segmenter = Segmenter((8, 16, 16, 16))
    return Editor(generator, segmenter=segmenter, dissection=synthetic_dissection(generator),
                  options=FitOptions(**{**FAST, **options}))


def app_on_tiny_editor(monkeypatch, cache_size: int):
    """``app`` serving ``tiny_editor`` with a fresh session cache of ``cache_size`` photos (for one test)."""
    import app
    from ganpaint_core.editing.session_cache import SessionCache

    monkeypatch.setattr(app, "_editors", {app.MODEL: tiny_editor()})
    monkeypatch.setattr(app, "CACHE", SessionCache(cache_size))
    return app


def blob(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[top:top + side, left:left + side] = True
    return mask


def save_tiny_model(folder: Path) -> Path:
    """``tiny_editor``'s model saved as a model folder (fp32), for the CLI and the served demo."""
    from ganpaint_core.models import ModelBundle, save_model

    editor = tiny_editor()
    save_model(folder, ModelBundle(name="tiny", generator=editor.generator, segmenter=editor.segmenter,
                                   dissection=editor.dissection), half=False)
    return folder


@contextmanager
def served_demo(model_folder: Path, log_dir: Path, env: dict | None = None):
    """``python app.py`` on ``model_folder`` at a free 127.0.0.1 port (extra ``env``); yields its URL."""
    import pytest

    from eval.bench.app_latency import serve
    from ganpaint_core.machine import free_port

    port = free_port()
    with open(log_dir / "app.log", "w+") as log:
        try:
            proc = serve(str(model_folder), port, log, timeout=120, env=env)
        except RuntimeError as err:
            log.seek(0)
            pytest.fail(f"{err}:\n{log.read()}")
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait(timeout=20)

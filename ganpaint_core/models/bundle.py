"""What a loaded model is: the ``ModelBundle`` of its networks, and where shipped models live."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganpaint_core.networks.proggan import ProgressiveGenerator

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_LAYER = "layer4"
PARTS = ("segmenter", "encoder", "discriminator")


@dataclass
class ModelBundle:
    name: str
    generator: ProgressiveGenerator
    layer: str = DEFAULT_LAYER
    segmenter: torch.nn.Module | None = None
    encoder: torch.nn.Module | None = None
    discriminator: torch.nn.Module | None = None
    dissection: dict | None = None
    exemplars: dict | None = None       # instance shapes per concept (ganpaint_core.dissection.exemplars)
    config: dict = field(default_factory=dict)
    card: str = ""                      # the model card (markdown), where the model has one
    folder: Path | None = None          # the model folder it was read from, if any

    @property
    def resolution(self) -> int:
        return self.generator.resolution

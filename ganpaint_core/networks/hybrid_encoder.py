"""ganseeing's ``HybridLayerNormEncoder``: the public inversion encoder of the GAN-dissection ProGANs.

Written from the architecture's description (davidbau/ganseeing, ``seeing/encoder_net.py``) with
the same module names, so its published state dicts load unchanged:

- ``resnet``: a ResNet-18 trunk in torchvision's key layout (``conv1``, ``bn1``, max-pool,
  ``layer1`` … ``layer4`` of basic blocks) whose pooling and classifier are replaced by ``layer5``
  (a 1x1 conv 512->512 with bias, then LeakyReLU 0.2): a 256 px image -> 512 x 8 x 8, an estimate
  of the generator's ``layer4`` features r;
- ``inv4`` (-> 512 x 8 x 8), ``inv3`` (stride 2 -> 4 x 4), ``inv2`` (-> 4 x 4): pixel norm ->
  conv3x3 -> batch norm -> LeakyReLU -> conv3x3 -> batch norm -> LeakyReLU -> (a 1x1 conv, strided
  in ``inv3``; none in ``inv2``);
- ``inv1``: pixel norm -> conv4x4 (4 x 4 -> 1 x 1) -> batch norm -> LeakyReLU -> conv1x1 ->
  pixel norm: z (512 x 1 x 1).

``forward`` gives z of shape (B, 512); ``stages`` gives every stage's output.  The research code
starts its layer-wise inversion from z0 = inv(resnet(x)), i.e. r0 = G_h(z0).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ganpaint_core.networks.proggan import PixelNorm

STAGES = ("resnet", "inv4", "inv3", "inv2", "inv1")


def _leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)


class BasicBlock(nn.Module):
    """ResNet's two-conv residual block (torchvision names: conv1, bn1, conv2, bn2, downsample.0/1)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        skip = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + skip)


def _resnet18_to_r() -> nn.Sequential:
    """ResNet-18 up to its 512 x 8 x 8 stage, then ``layer5``: conv1x1 + LeakyReLU (no pooling, no fc)."""
    stages: list[tuple[str, nn.Module]] = [
        ("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)), ("bn1", nn.BatchNorm2d(64)), ("relu", nn.ReLU()),
        ("maxpool", nn.MaxPool2d(3, 2, 1)),
    ]
    c_in = 64
    for i, c_out in enumerate((64, 128, 256, 512)):
        stride = 1 if i == 0 else 2
        stages.append((f"layer{i + 1}", nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out))))
        c_in = c_out
    stages.append(("layer5", nn.Sequential(OrderedDict([("conv5", nn.Conv2d(512, 512, 1)), ("relu5", _leaky())]))))
    return nn.Sequential(OrderedDict(stages))


def _inverse_block(stride: int = 1, conv3: bool = True) -> nn.Sequential:
    parts: list[tuple[str, nn.Module]] = [
        ("pnorm", PixelNorm()),
        ("conv1", nn.Conv2d(512, 512, 3, 1, 1)), ("bn1", nn.BatchNorm2d(512)), ("relu1", _leaky()),
        ("conv2", nn.Conv2d(512, 512, 3, 1, 1)), ("bn2", nn.BatchNorm2d(512)), ("relu2", _leaky()),
    ]
    if conv3:
        parts.append(("conv3", nn.Conv2d(512, 512, 1, stride)))
    return nn.Sequential(OrderedDict(parts))


def _to_z() -> nn.Sequential:
    return nn.Sequential(OrderedDict([
        ("pnorm", PixelNorm()), ("conv1", nn.Conv2d(512, 512, 4)), ("bn1", nn.BatchNorm2d(512)),
        ("relu1", _leaky()), ("conv2", nn.Conv2d(512, 512, 1)), ("pnormout", PixelNorm()),
    ]))


class HybridLayerNormEncoder(nn.Sequential):
    """Image (B, 3, 256, 256) in [-1, 1] -> z (B, 512); ``stages`` also gives the layer4 estimate r."""

    z_dim = 512

    def __init__(self):
        super().__init__(OrderedDict([
            ("resnet", _resnet18_to_r()), ("inv4", _inverse_block()), ("inv3", _inverse_block(stride=2)),
            ("inv2", _inverse_block(conv3=False)), ("inv1", _to_z()),
        ]))

    def stages(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each stage's output, in order: ``resnet`` (r, B x 512 x 8 x 8) … ``inv1`` (z, B x 512 x 1 x 1)."""
        out = {}
        for name, module in self.named_children():
            x = module(x)
            out[name] = x
        return out

    def forward(self, x):
        return super().forward(x).flatten(1)


def _unwrap(state: dict) -> dict:
    """A plain state dict from a ``state_dict`` wrapper and/or keys prefixed ``model.``."""
    if isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return {k[len("model."):] if k.startswith("model.") else k: v for k, v in state.items()}


def encoder_from_state_dict(state: dict) -> HybridLayerNormEncoder:
    """A ``HybridLayerNormEncoder`` in eval mode holding ``state`` (strict; a clear ValueError otherwise)."""
    state = _unwrap(state)
    encoder = HybridLayerNormEncoder()
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError, AttributeError) as err:   # wrong shapes or non-tensor values
        raise ValueError(f"not a HybridLayerNormEncoder state dict: {' '.join(str(err).split())[:300]}") from err
    if missing or unexpected:
        raise ValueError(f"not a HybridLayerNormEncoder state dict: {len(missing)} keys missing {missing[:3]}, "
                         f"{len(unexpected)} unexpected {unexpected[:3]}")
    return encoder.eval().requires_grad_(False)


def load_hybrid_encoder(path: Path | str) -> HybridLayerNormEncoder:
    """The encoder stored at ``path`` (a weights-only torch file)."""
    from ganpaint_core.models.weights import read_torch_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no encoder weights at {path}")
    try:
        return encoder_from_state_dict(read_torch_checkpoint(path))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err

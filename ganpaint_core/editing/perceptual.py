"""The perceptual term of the fitting loss: a feature-space L1 distance, pluggable.

Backends, in the order ``auto`` tries them (see ``AUTO_ORDER``):

- ``lpips``: the LPIPS distance, where ``lpips`` imports and its VGG backbone is already cached;
- ``vgg``: VGG-16 relu1_2/2_2/3_3 features, where ``torchvision`` imports and the weights are cached;
- ``segmenter``: the shipped segmenter's encoder activations (``Segmenter.features``);
- ``discriminator``: the shipped discriminator's stage activations (``Discriminator.features``);
- ``none``: no perceptual term (pixel L1 only).

Nothing is ever downloaded.  A ``FeatureLoss`` precomputes the target's
features once; ``loss(y)`` is the mean over layers of the L1 distance divided by
the target features' mean magnitude (so that the weight means the same for every
backend), optionally weighted by a per-pixel ``keep`` map.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

BACKENDS = ("lpips", "vgg", "segmenter", "discriminator", "none")
# Measured (docs/editor_study/study.md): where LPIPS/VGG are absent, the segmenter's features at weight 0.1 fit best.
AUTO_ORDER = ("lpips", "vgg", "segmenter", "discriminator", "none")


def _cached_torch_weights(prefix: str) -> Path | None:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(folder.glob(f"{prefix}*.pth")) if folder.is_dir() else []
    return found[0] if found else None


def _vgg_features(device: torch.device | str = "cpu") -> Callable | None:
    try:
        from ganpaint_core.vision_shim import import_torchvision

        vgg16 = import_torchvision().models.vgg16
    except Exception:  # no torchvision, or one that does not import even through the shim
        return None
    weights = _cached_torch_weights("vgg16-")
    if weights is None:
        return None
    net = vgg16()
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    trunk = net.features[:16].eval().requires_grad_(False).to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    taps = {3, 8, 15}

    def features(x):
        x = ((x + 1) / 2 - mean.to(x.dtype)) / std.to(x.dtype)
        out = []
        for i, layer in enumerate(trunk):
            x = layer(x)
            if i in taps:
                out.append(x)
        return out
    return features


def _lpips_distance() -> Callable | None:
    try:
        from ganpaint_core.vision_shim import import_lpips

        lpips = import_lpips()
    except Exception:
        return None
    if _cached_torch_weights("vgg16-") is None:
        return None
    model = lpips.LPIPS(net="vgg", spatial=True, verbose=False).eval().requires_grad_(False)
    return model


def feature_network(kind: str, segmenter: nn.Module | None = None, discriminator: nn.Module | None = None,
                    device: torch.device | str = "cpu") -> Callable | None:
    """The feature function of backend ``kind`` (images in [-1, 1] -> list of tensors), or None if unavailable."""
    if kind == "vgg":
        return _vgg_features(device)
    if kind == "segmenter" and segmenter is not None:
        return lambda x: segmenter.features(x)[:3]
    if kind == "discriminator" and discriminator is not None:
        return lambda x: discriminator.features(x)[:3]
    return None


class FeatureLoss:
    """``loss(y)``: the perceptual distance of images ``y`` to a fixed target ``x``."""

    def __init__(self, kind: str, x: torch.Tensor, features: Callable | None = None, lpips_model=None):
        self.kind, self.features, self.lpips = kind, features, lpips_model
        self.x = x
        with torch.no_grad():
            self.targets = [t.detach() for t in features(x)] if features is not None else []
            self.scales = [t.abs().mean().clamp_min(1e-6) for t in self.targets]

    def __call__(self, y: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        if self.lpips is not None:
            dist = self.lpips(y.float(), self.x.float())
            return _weighted_mean(dist, keep)
        if self.features is None:
            return y.new_zeros(())
        total = y.new_zeros((), dtype=torch.float32)
        for feat, target, scale in zip(self.features(y), self.targets, self.scales, strict=True):
            diff = (feat.float() - target.float()).abs().mean(1, keepdim=True) / scale
            total = total + _weighted_mean(diff, keep)
        return total / len(self.targets)


def _weighted_mean(dist: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
    if keep is None:
        return dist.mean()
    w = F.interpolate(keep, size=dist.shape[-2:], mode="area") if keep.shape[-2:] != dist.shape[-2:] else keep
    return (dist * w).mean() / w.mean().clamp_min(1e-6)


def resolve(kind: str, segmenter=None, discriminator=None) -> str:
    """The backend ``kind`` names, or for ``auto`` the first one that is available here."""
    if kind not in (*BACKENDS, "auto"):
        raise ValueError(f"unknown perceptual backend {kind!r}; choose from auto, {', '.join(BACKENDS)}")
    candidates = AUTO_ORDER if kind == "auto" else (kind,)
    for name in candidates:
        if name == "none" or (name == "lpips" and _lpips_available()) \
                or (name == "vgg" and _vgg_available()) \
                or (name == "segmenter" and segmenter is not None) \
                or (name == "discriminator" and discriminator is not None):
            return name
    raise ValueError(f"perceptual backend {kind!r} is not available here (its package, weights or network is "
                     f"missing); choose from {', '.join(available(segmenter, discriminator))}")


_AVAILABLE: dict[str, bool] = {}


def _lpips_available() -> bool:
    if "lpips" not in _AVAILABLE:
        try:
            import lpips  # noqa: F401
            _AVAILABLE["lpips"] = _cached_torch_weights("vgg16-") is not None
        except Exception:
            _AVAILABLE["lpips"] = False
    return _AVAILABLE["lpips"]


def _vgg_available() -> bool:
    if "vgg" not in _AVAILABLE:
        try:
            import torchvision  # noqa: F401
            _AVAILABLE["vgg"] = _cached_torch_weights("vgg16-") is not None
        except Exception:
            _AVAILABLE["vgg"] = False
    return _AVAILABLE["vgg"]


def available(segmenter=None, discriminator=None) -> list[str]:
    """The backends usable here with these networks."""
    out = [k for k, ok in (("lpips", _lpips_available()), ("vgg", _vgg_available()),
                           ("segmenter", segmenter is not None), ("discriminator", discriminator is not None)) if ok]
    return [*out, "none"]


def build(kind: str, x: torch.Tensor, segmenter=None, discriminator=None) -> FeatureLoss:
    """A ``FeatureLoss`` to target ``x`` with backend ``kind`` (``auto`` resolved first)."""
    kind = resolve(kind, segmenter, discriminator)
    if kind == "lpips":
        return FeatureLoss(kind, x, lpips_model=_lpips_distance().to(x.device))
    return FeatureLoss(kind, x, features=feature_network(kind, segmenter, discriminator, x.device))
